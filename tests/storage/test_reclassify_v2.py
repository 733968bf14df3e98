"""Reclassifying a device on InfluxDB 2.x and 3.x.

2.x: the real InfluxDB 1.6.7 serves the reads and writes (``/query``, and ``/api/v2/write``
through ``tests.http_recorder.v2_front``), and the old points go through the delete API, whose
requests the front records (and carries out on 1.6.7, so the end state is read back). InfluxDB 3
answers the delete API 404: the move is refused before a point is copied. The 1.x path is in
``test_reclassify.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from typer.testing import CliRunner

from core.errors import DeleteUnsupportedError
from core.settings import InfluxSettings
from leedswin.cli import app
from leedswin.services import LocalInfluxDB
from storage.devices import load_devices
from storage.influx import V1Sink, make_sink
from storage.points import encode, make_point
from storage.reclassify import delete_site_series, move_device, split_home
from tests.conftest import influxql
from tests.http_recorder import Recording, recording_influx, v2_front

pytestmark = pytest.mark.integration

DEV = "d000000000000001"
OTHER = "d000000000000002"
HOME_DEV = "d000000000000003"
T0 = 1_760_000_000_000_000_000
#: Earlier points of DEV left in the other database with the old tag (written before a split).
T1 = 1_750_000_000_000_000_000
#: ``V2Deleter.check``: a delete matching nothing, in the first second of 1970.
PROBE = (
    '_measurement="leedswin_delete_probe"',
    "1970-01-01T00:00:00.000000000Z",
    "1970-01-01T00:00:00.999999999Z",
)


def _stamp(ns: int) -> str:
    """RFC 3339 with nanoseconds, as the delete API's body carries a bound."""
    seconds, fraction = divmod(ns, 1_000_000_000)
    return f"{datetime.fromtimestamp(seconds, UTC):%Y-%m-%dT%H:%M:%S}.{fraction:09d}Z"


def _tags(dev: str, privacy: str) -> dict[str, str]:
    return {"dev_eui": dev, "model": "elsys_ers", "site": "briggate", "privacy": privacy}


def _write(v1: InfluxSettings, privacy: str) -> None:
    """50 climate and 50 uplink points of DEV and OTHER, routed by ``privacy`` (both databases made)."""
    sink = make_sink(v1)
    sink.ensure_database()
    points = []
    for i in range(50):
        for dev in (DEV, OTHER):
            tags = _tags(dev, privacy)
            points.append(make_point("climate", tags, {"temperature": 21.0, "note": "x"}, T0 + i))
            points.append(make_point("uplink", tags, {"f_cnt": i, "rssi": -90.0}, T0 + i))
    sink.write(encode(points))
    sink.close()


def _stray(v1: InfluxSettings, database: str, privacy: str, dev: str = DEV) -> None:
    """5 uplinks of ``dev`` tagged ``privacy`` written straight into ``database`` (past the router)."""
    sink = V1Sink(v1.model_copy(update={"database": database}))
    points = [make_point("uplink", _tags(dev, privacy), {"f_cnt": i}, T1 + i) for i in range(5)]
    sink.write(encode(points))
    sink.close()


def _v2(url: str, database: str, home_url: str | None = None) -> InfluxSettings:
    """2.x settings whose buckets carry the names of the 1.x databases the front maps them to."""
    return InfluxSettings(
        url=url,
        home_url=home_url,
        database=database,
        org="leeds",
        token=SecretStr("tok"),
        bucket=database,
        home_bucket=f"{database}_home",
    )


def _deletes(*fronts: Recording) -> list[tuple[str, str, str, str]]:
    """(bucket, predicate, start, stop) of each delete request, in the order sent."""
    out = []
    for front in fronts:
        for request in front.deletes():
            assert request["auth"] == "Token tok"
            bucket = request["path"].split("bucket=")[1].split("&")[0]
            body = request["body"]
            out.append((bucket, body["predicate"], body["start"], body["stop"]))
    return out


def _count(url: str, database: str, measurement: str, dev: str, privacy: str) -> int:
    series = influxql(
        url,
        database,
        f'SELECT count(*) FROM "{measurement}" WHERE "dev_eui" = \'{dev}\''
        f" AND \"privacy\" = '{privacy}'",
        home=False,
    )
    return max(series[0]["values"][0][1:]) if series else 0


def _probe(public: str, home: str) -> list[tuple[str, str, str, str]]:
    return [(home, *PROBE), (public, *PROBE)]


@pytest.fixture
def front(influxdb: LocalInfluxDB) -> Iterator[Recording]:
    with v2_front(influxdb.url) as recording:
        yield recording


def test_move_to_home_deletes_through_the_delete_api_per_bucket(
    influxdb: LocalInfluxDB, influx_db: str, front: Recording
) -> None:
    v1 = InfluxSettings(url=influxdb.url, database=influx_db)
    public, home = influx_db, f"{influx_db}_home"
    _write(v1, "public")
    _stray(v1, home, "public")
    report = move_device(_v2(front.url, influx_db), DEV, "home")

    assert report.moved == {"climate": 50, "uplink": 55}
    first, last = _stamp(T0), _stamp(T0 + 49)
    assert _deletes(front) == [
        *_probe(public, home),
        # Where the points were: every point of the device, over what was read of each measurement.
        (public, f'_measurement="climate" AND dev_eui="{DEV}"', first, last),
        (public, f'_measurement="uplink" AND dev_eui="{DEV}"', first, last),
        # Where they went: only those still tagged public, named (a delete predicate has no !=).
        (
            home,
            f'_measurement="uplink" AND dev_eui="{DEV}" AND privacy="public"',
            _stamp(T1),
            _stamp(T1 + 4),
        ),
    ]
    queries = [r["path"] for r in front.requests if r["path"].startswith("/query")]
    assert not any("DROP" in q or "DELETE" in q for q in queries)
    for measurement, n in (("climate", 50), ("uplink", 55)):
        assert _count(influxdb.url, public, measurement, DEV, "public") == 0
        assert _count(influxdb.url, home, measurement, DEV, "home") == n
        assert _count(influxdb.url, home, measurement, DEV, "public") == 0
        assert _count(influxdb.url, public, measurement, OTHER, "public") == 50
    types = influxql(influxdb.url, home, 'SHOW FIELD KEYS FROM "uplink"', home=False)
    assert dict(types[0]["values"]) == {"f_cnt": "integer", "rssi": "float"}


def test_move_to_public_sends_each_bucket_to_its_own_server(
    influxdb: LocalInfluxDB, influx_db: str
) -> None:
    """``home_url``: the home bucket's deletes go to the home server only, and the public
    bucket's to the public one (both fronts stand before the same 1.6.7 here)."""
    v1 = InfluxSettings(url=influxdb.url, database=influx_db)
    public, home = influx_db, f"{influx_db}_home"
    _write(v1, "home")
    _stray(v1, public, "home")
    with ExitStack() as stack:
        front = stack.enter_context(v2_front(influxdb.url))
        home_front = stack.enter_context(v2_front(influxdb.url))
        report = move_device(_v2(front.url, influx_db, home_front.url), DEV, "public")

    assert report.moved == {"climate": 50, "uplink": 55}
    first, last = _stamp(T0), _stamp(T0 + 49)
    assert _deletes(home_front) == [
        _probe(public, home)[0],
        (home, f'_measurement="climate" AND dev_eui="{DEV}"', first, last),
        (home, f'_measurement="uplink" AND dev_eui="{DEV}"', first, last),
    ]
    assert _deletes(front) == [
        _probe(public, home)[1],
        (
            public,
            f'_measurement="uplink" AND dev_eui="{DEV}" AND privacy="home"',
            _stamp(T1),
            _stamp(T1 + 4),
        ),
    ]
    assert _count(influxdb.url, public, "uplink", DEV, "public") == 55
    assert _count(influxdb.url, public, "uplink", DEV, "home") == 0
    assert _count(influxdb.url, home, "uplink", DEV, "home") == 0
    assert _count(influxdb.url, home, "uplink", OTHER, "home") == 50


def test_split_home_on_v2_empties_the_public_bucket_of_home_points(
    influxdb: LocalInfluxDB, influx_db: str, front: Recording
) -> None:
    v1 = InfluxSettings(url=influxdb.url, database=influx_db)
    public, home = influx_db, f"{influx_db}_home"
    _write(v1, "public")
    _stray(v1, public, "home", HOME_DEV)  # an older release wrote a home's points there
    report, left = split_home(_v2(front.url, influx_db))
    assert report.moved == {"uplink": 5}
    assert _deletes(front) == [
        *_probe(public, home),
        (public, f'_measurement="uplink" AND dev_eui="{HOME_DEV}"', _stamp(T1), _stamp(T1 + 4)),
    ]
    assert _count(influxdb.url, home, "uplink", HOME_DEV, "home") == 5
    assert _count(influxdb.url, public, "uplink", HOME_DEV, "home") == 0
    assert _count(influxdb.url, public, "uplink", DEV, "public") == 50
    assert left == []


def test_site_series_are_deleted_in_both_buckets_by_site() -> None:
    site = 'St "Mary\'s" \\ Court'
    with recording_influx() as influx:
        delete_site_series(_v2(influx.url, "leedswin"), site, T0, T0 + 99)
    value = 'St \\"Mary\'s\\" \\\\ Court'
    assert _deletes(influx) == [
        (
            bucket,
            f'_measurement="{m}" AND level="site" AND site="{value}"',
            _stamp(T0),
            _stamp(T0 + 99),
        )
        for m in ("daqi", "footfall_counts")
        for bucket in ("leedswin_home", "leedswin")
    ]
    assert all(r["path"].startswith("/api/v2/delete") for r in influx.requests)
    with recording_influx() as influx, pytest.raises(ValueError, match="line break"):
        delete_site_series(_v2(influx.url, "leedswin"), "a\nb", T0, T0 + 99)
    assert influx.requests == []


def _influxdb3(front: Recording) -> Recording:
    front.delete_status = 404
    front.delete_body = {"error": "Not Found"}
    return front


def test_influxdb3_refuses_the_move_before_copying_anything(
    influxdb: LocalInfluxDB, influx_db: str, front: Recording
) -> None:
    v1 = InfluxSettings(url=influxdb.url, database=influx_db)
    _write(v1, "public")
    with pytest.raises(DeleteUnsupportedError) as caught:
        move_device(_v2(_influxdb3(front).url, influx_db), DEV, "home")
    assert DEV in str(caught.value) and "none were copied" in str(caught.value)
    # The probe's first request (home bucket) was refused: nothing was read, written or deleted.
    assert [r["path"].split("?")[0] for r in front.requests] == ["/api/v2/delete"]
    assert _count(influxdb.url, influx_db, "uplink", DEV, "public") == 50
    assert influxql(influxdb.url, f"{influx_db}_home", "SHOW SERIES", home=False) == []


def _cli_env(monkeypatch: pytest.MonkeyPatch, url: str, database: str, tmp_path: Path) -> None:
    for key, value in {
        "URL": url,
        "DATABASE": database,
        "BUCKET": database,
        "HOME_BUCKET": f"{database}_home",
        "ORG": "leeds",
        "TOKEN": "tok",
    }.items():
        monkeypatch.setenv(f"LEEDSWIN_INFLUX_{key}", value)
    monkeypatch.setenv("LEEDSWIN_API_REGISTRY", str(tmp_path / "keys.sqlite3"))


def _registry(tmp_path: Path) -> Path:
    registry = tmp_path / "devices.yaml"
    registry.write_text(f"devices:\n  - {{dev_eui: '{DEV}', model: elsys_ers, privacy: public}}\n")
    return registry


def _reclassify(registry: Path) -> Any:
    return CliRunner().invoke(
        app,
        ["devices", "reclassify", DEV, "--privacy", "home", "--registry", str(registry)]
        + ["--no-recompute"],
    )


def test_cli_on_influxdb3_prints_why_and_leaves_the_registry_as_it_was(
    influxdb: LocalInfluxDB,
    influx_db: str,
    front: Recording,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _write(InfluxSettings(url=influxdb.url, database=influx_db), "public")
    registry = _registry(tmp_path)
    before = registry.read_bytes()
    _cli_env(monkeypatch, _influxdb3(front).url, influx_db, tmp_path)
    result = _reclassify(registry)
    assert result.exit_code == 1, result.output
    assert f"device {DEV} not reclassified" in result.output
    assert "InfluxDB 3 deletes only whole tables or databases" in result.output
    assert registry.read_bytes() == before
    assert not any(r["path"].startswith("/api/v2/write") for r in front.requests)
    assert _count(influxdb.url, influx_db, "uplink", DEV, "public") == 50


def test_cli_on_v2_moves_the_history_and_updates_the_registry(
    influxdb: LocalInfluxDB,
    influx_db: str,
    front: Recording,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _write(InfluxSettings(url=influxdb.url, database=influx_db), "public")
    registry = _registry(tmp_path)
    _cli_env(monkeypatch, front.url, influx_db, tmp_path)
    result = _reclassify(registry)
    assert result.exit_code == 0, result.output
    assert "moved 100 points" in result.output
    assert load_devices(registry)[DEV].privacy == "home"
    assert _count(influxdb.url, influx_db, "uplink", DEV, "public") == 0
    assert _count(influxdb.url, f"{influx_db}_home", "uplink", DEV, "home") == 50

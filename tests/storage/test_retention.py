"""Raw-data retention with InfluxDB's own retention policies, on a real InfluxDB 1.6.7 whose
retention check runs every second: data older than the home policy go, newer data and the
public database stay."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import SecretStr
from typer.testing import CliRunner

from core.errors import DeleteUnsupportedError
from core.settings import InfluxSettings
from leedswin.cli import app
from leedswin.services import LocalInfluxDB
from storage.influx import make_sink
from storage.points import encode, make_point
from storage.provision import apply_retention, shard_duration
from storage.retention import duration_ns, expire_home
from tests.conftest import influxql
from tests.http_recorder import v2_front

pytestmark = pytest.mark.integration

H = 3_600_000_000_000
DEV = "b000000000000001"


@pytest.fixture(scope="module")
def quick_influx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalInfluxDB]:
    root: Path = tmp_path_factory.mktemp("retention")
    with LocalInfluxDB(root, retention_check_interval="1s") as server:
        yield server


def _count(server: LocalInfluxDB, database: str, older: bool) -> int:
    cut = "time < now() - 90m" if older else "time > now() - 30m"
    series = influxql(
        server.url, database, f"SELECT count(rh) FROM climate WHERE {cut}", home=False
    )
    return int(series[0]["values"][0][1]) if series else 0


def test_shortened_home_retention_removes_old_raw_data(quick_influx: LocalInfluxDB) -> None:
    settings = InfluxSettings(
        url=quick_influx.url, database="ret", retention="104w", home_retention="24h"
    )
    assert apply_retention(settings) == [("ret", "autogen", "104w"), ("ret_home", "autogen", "24h")]
    now = time.time_ns()
    points = [
        make_point(
            "climate",
            {"dev_eui": f"b00000000000000{privacy == 'home':d}", "privacy": privacy},
            {"rh": 60.0},
            t,
        )
        for privacy in ("home", "public")
        for t in (now - 3 * H, now - 3 * H + 60 * 10**9, now - 5 * 60 * 10**9)
    ]
    sink = make_sink(settings)
    sink.write(encode(points))
    sink.close()
    assert _count(quick_influx, "ret_home", older=True) == 2
    # Home readings now keep one hour: the platform shortens the policy, InfluxDB drops the
    # shard groups that ended before it at its next check.
    apply_retention(settings.model_copy(update={"home_retention": "1h"}))
    policies = influxql(quick_influx.url, "ret_home", 'SHOW RETENTION POLICIES ON "ret_home"')
    assert policies[0]["values"][0][:2] == ["autogen", "1h0m0s"]
    deadline = time.monotonic() + 30
    while _count(quick_influx, "ret_home", older=True) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _count(quick_influx, "ret_home", older=True) == 0
    assert _count(quick_influx, "ret_home", older=False) == 1
    assert _count(quick_influx, "ret", older=True) == 2  # public raw data: two years


def test_shard_groups_are_influxdbs_own_for_home_and_public_data(
    quick_influx: LocalInfluxDB,
) -> None:
    # InfluxDB's own defaults (under 2 days, up to 6 months, beyond); home data are held to
    # their limit by expire_home, not by short groups that slow every long question.
    assert shard_duration("24h") == "1h" and shard_duration("INF") is None
    assert shard_duration("90d") == "1d" and shard_duration("26w") == "1d"
    assert shard_duration("104w") == "7d" and shard_duration("396d") == "7d"
    apply_retention(InfluxSettings(url=quick_influx.url, database="ret2"))
    home = influxql(quick_influx.url, "ret2_home", 'SHOW RETENTION POLICIES ON "ret2_home"')
    assert home[0]["values"][0][1:3] == ["9504h0m0s", "168h0m0s"]  # 396 days, 7-day shards
    public = influxql(quick_influx.url, "ret2", 'SHOW RETENTION POLICIES ON "ret2"')
    assert public[0]["values"][0][1:3] == ["17472h0m0s", "168h0m0s"]  # 104 weeks, 7-day shards


def _times(server: LocalInfluxDB, database: str) -> list[int]:
    series = influxql(server.url, database, "SELECT rh FROM climate", home=False)
    return [row[0] for row in series[0]["values"]] if series else []


def test_expire_home_deletes_home_points_past_their_retention_to_the_day(
    quick_influx: LocalInfluxDB,
) -> None:
    """A 7-day shard group would keep a 396-day-old home point up to 7 days longer;
    expire_home removes every home point older than the limit, in every measurement, and
    leaves newer home points and all public ones."""
    settings = InfluxSettings(url=quick_influx.url, database="ret4", home_retention="396d")
    now = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
    limit = int(now.timestamp()) * 10**9 - 396 * 24 * H
    times = (limit - 24 * H, limit - 1, limit, limit + H, limit + 395 * 24 * H)
    sink = make_sink(settings)
    sink.ensure_database()
    sink.write(
        encode(
            [
                make_point(measurement, {"dev_eui": DEV, "privacy": privacy}, {"rh": 60.0}, t)
                for privacy in ("home", "public")
                for measurement in ("climate", "damp_risk")
                for t in times
            ]
        )
    )
    sink.close()
    assert expire_home(settings, now) == limit
    assert _times(quick_influx, "ret4_home") == [limit, limit + H, limit + 395 * 24 * H]
    left = influxql(quick_influx.url, "ret4_home", "SELECT count(rh) FROM damp_risk", home=False)
    assert left[0]["values"][0][1] == 3
    assert _times(quick_influx, "ret4") == list(times)  # public data: InfluxDB's own policy
    assert expire_home(settings, now) == limit  # idempotent
    assert expire_home(settings.model_copy(update={"home_retention": "INF"}), now) is None
    assert expire_home(settings.model_copy(update={"home_retention": None}), now) is None
    assert _times(quick_influx, "ret4_home") == [limit, limit + H, limit + 395 * 24 * H]


def test_expire_home_on_v2_deletes_through_the_home_buckets_delete_api(
    quick_influx: LocalInfluxDB,
) -> None:
    """2.x: the platform does not make buckets, so this is what holds home data to their limit:
    one delete on the home bucket (none on the public one), every measurement, epoch to the
    cut-off; InfluxDB 3 answers the delete API 404 and nothing is claimed."""
    v1 = InfluxSettings(url=quick_influx.url, database="ret5", home_retention="396d")
    now = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
    limit = int(now.timestamp()) * 10**9 - 396 * 24 * H
    sink = make_sink(v1)
    sink.ensure_database()
    sink.write(
        encode(
            [
                make_point("climate", {"dev_eui": DEV, "privacy": privacy}, {"rh": 60.0}, t)
                for privacy in ("home", "public")
                for t in (limit - H, limit + H)
            ]
        )
    )
    sink.close()
    with v2_front(quick_influx.url) as front:
        v2 = v1.model_copy(
            update={
                "url": front.url,
                "org": "leeds",
                "token": SecretStr("tok"),
                "bucket": "ret5",
                "home_bucket": "ret5_home",
            }
        )
        assert expire_home(v2, now) == limit
        [delete] = front.deletes()
        assert delete["path"].startswith("/api/v2/delete?") and "bucket=ret5_home" in delete["path"]
        assert delete["body"] == {
            "start": "1970-01-01T00:00:00.000000000Z",
            "stop": f"{datetime.fromtimestamp(limit // 10**9 - 1, UTC):%Y-%m-%dT%H:%M:%S}.999999999Z",
            "predicate": "",
        }
        front.delete_status = 404
        with pytest.raises(DeleteUnsupportedError):
            expire_home(v2, now)
    assert _times(quick_influx, "ret5_home") == [limit + H]
    assert _times(quick_influx, "ret5") == [limit - H, limit + H]


def test_duration_ns() -> None:
    assert duration_ns("24h") == 24 * H and duration_ns("2w") == 14 * 24 * H
    assert duration_ns("INF") is None and duration_ns(None) is None
    with pytest.raises(ValueError, match="52w"):
        duration_ns("13mo")


def test_cli_applies_and_shows_the_policies(
    quick_influx: LocalInfluxDB, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEEDSWIN_INFLUX_URL", quick_influx.url)
    monkeypatch.setenv("LEEDSWIN_INFLUX_DATABASE", "ret3")
    monkeypatch.setenv("LEEDSWIN_INFLUX_HOME_RETENTION", "57w")
    result = CliRunner().invoke(app, ["privacy", "retention", "--apply"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "public\tret3\t104w\tshard 7d\tapplied",
        "home\tret3_home\t57w\tshard 7d\tapplied",
    ]
    home = influxql(quick_influx.url, "ret3_home", 'SHOW RETENTION POLICIES ON "ret3_home"')
    assert home[0]["values"][0][1] == "9576h0m0s"


def test_a_fresh_database_gets_its_shard_groups_from_the_start(
    quick_influx: LocalInfluxDB,
) -> None:
    """``CREATE DATABASE`` itself carries the shard duration of ``shard_duration``, not a
    later ``ALTER`` that only shapes the groups created after it."""
    from storage.provision import Account, provision

    settings = InfluxSettings(url=quick_influx.url, database="fresh1", home_retention="90d")
    provision(settings, Account("root", "pw"), {})
    for database, shard in (("fresh1", "168h0m0s"), ("fresh1_home", "24h0m0s")):
        policies = influxql(quick_influx.url, database, f'SHOW RETENTION POLICIES ON "{database}"')
        assert policies[0]["values"][0][2] == shard, database

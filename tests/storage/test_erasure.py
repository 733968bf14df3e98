"""One device's points in a time range: counted, read and deleted on the real InfluxDB 1.6.7;
the v2 delete API's request shape checked against a local recording HTTP server."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import SecretStr

from core.errors import DeleteUnsupportedError, QueryError
from core.settings import InfluxSettings
from leedswin.services import LocalInfluxDB
from storage.erasure import DeviceRange, V2Deleter, count_points, delete_points, measurements
from storage.influx import make_sink
from storage.points import encode, make_point
from storage.query import InfluxQL
from tests.conftest import influxql
from tests.http_recorder import Recording, recording_influx

DEV = "b000000000000001"
OTHER = "b000000000000002"
S = 1_000_000_000


def _points(dev: str) -> list[Any]:
    tags = {"dev_eui": dev, "model": "m", "site": "h", "privacy": "home", "need": "damp"}
    return [
        make_point(m, tags, {"temperature": 20.0 + i}, (1_700_000_000 + i * 60) * S)
        for m in ("climate", "damp_risk")
        for i in range(10)
    ]


@pytest.mark.integration
def test_delete_removes_the_device_range_only(influxdb: LocalInfluxDB, influx_db: str) -> None:
    settings = InfluxSettings(url=influxdb.url, database=influx_db)
    sink = make_sink(settings)
    sink.ensure_database()
    sink.write(encode(_points(DEV) + _points(OTHER)))
    sink.close()
    span = DeviceRange(DEV, (1_700_000_000 + 3 * 60) * S, (1_700_000_000 + 7 * 60) * S)
    with InfluxQL(settings, include_home=False) as client:
        home = settings.home_db
        assert sorted(measurements(client, home, DEV)) == ["climate", "damp_risk"]
        assert measurements(client, settings.database, DEV) == []
        assert measurements(client, "no_such_db", DEV) == []
        assert count_points(client, home, "climate", span) == 4
        for name in ("climate", "damp_risk"):
            delete_points(client, home, name, span)
            delete_points(client, home, name, span)  # idempotent
        assert count_points(client, home, "climate", span) == 0
    left = influxql(
        influxdb.url, influx_db, f"SELECT temperature FROM climate WHERE dev_eui = '{DEV}'"
    )
    times = [row[0] // S - 1_700_000_000 for row in left[0]["values"]]
    assert times == [0, 60, 120, 420, 480, 540]  # [start, end) gone, the edges kept
    other = influxql(
        influxdb.url,
        influx_db,
        f"SELECT count(temperature) FROM damp_risk WHERE dev_eui = '{OTHER}'",
    )
    assert other[0]["values"][0][1] == 10


def test_device_range_refuses_what_could_not_be_inlined() -> None:
    with pytest.raises(ValueError):
        DeviceRange("b' OR 1=1 --", 0, 1)
    with pytest.raises(ValueError):
        DeviceRange(DEV, 5, 5)


@pytest.fixture
def recording_server() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    with recording_influx() as recording:
        yield recording.url, recording.requests


def test_v2_delete_request_shape(recording_server: tuple[str, list[dict[str, Any]]]) -> None:
    url, seen = recording_server
    settings = InfluxSettings(
        url=url,
        org="leeds",
        token=SecretStr("tok"),
        bucket="leedswin",
        home_bucket="leedswin_home",
    )
    deleter = V2Deleter(settings)
    deleter.delete(DeviceRange(DEV, 1_700_000_000 * S, 1_700_000_060 * S))
    deleter.close()
    assert [r["path"] for r in seen] == [
        "/api/v2/delete?org=leeds&bucket=leedswin_home",
        "/api/v2/delete?org=leeds&bucket=leedswin",
    ]
    assert all(r["auth"] == "Token tok" for r in seen)
    # The delete API's range is inclusive at both ends: [start, end) ends 1 ns early.
    assert seen[0]["body"] == {
        "start": "2023-11-14T22:13:20.000000000Z",
        "stop": "2023-11-14T22:14:19.999999999Z",
        "predicate": f'dev_eui="{DEV}"',
    }


def _v2(url: str, home_url: str | None = None) -> InfluxSettings:
    return InfluxSettings(
        url=url,
        home_url=home_url,
        org="leeds",
        token=SecretStr("tok"),
        bucket="leedswin",
        home_bucket="leedswin_home",
    )


def test_v2_delete_sends_the_home_bucket_to_its_own_server() -> None:
    with recording_influx() as public, recording_influx() as home:
        deleter = V2Deleter(_v2(public.url, home.url))
        deleter.delete_where('_measurement="climate_1h" AND level="site"', 0, 3_600 * S)
        deleter.close()
    assert [r["path"] for r in home.requests] == ["/api/v2/delete?org=leeds&bucket=leedswin_home"]
    assert [r["path"] for r in public.requests] == ["/api/v2/delete?org=leeds&bucket=leedswin"]
    assert public.requests[0]["body"] == {
        "start": "1970-01-01T00:00:00.000000000Z",
        "stop": "1970-01-01T00:59:59.999999999Z",
        "predicate": '_measurement="climate_1h" AND level="site"',
    }


def _refused(recording: Recording) -> Exception:
    deleter = V2Deleter(_v2(recording.url))
    try:
        deleter.delete(DeviceRange(DEV, S, 2 * S))
    except Exception as exc:  # noqa: BLE001 (the type is what is checked)
        return exc
    finally:
        deleter.close()
    raise AssertionError("the delete was not refused")


def test_influxdb3_without_a_delete_api_is_a_typed_error() -> None:
    """InfluxDB 3 Core/Enterprise route no ``/api/v2/delete``: their 404 must not pass for
    a deletion, nor read as a missing bucket."""
    with recording_influx() as influx3:
        influx3.delete_status = 404
        error = _refused(influx3)
    assert isinstance(error, DeleteUnsupportedError)
    assert "InfluxDB 3" in str(error) and error.code == "delete_unsupported"
    assert len(influx3.deletes()) == 1  # stopped at the first bucket


def test_v2_refusals_stay_query_errors() -> None:
    with recording_influx() as influx2:
        influx2.delete_status = 404
        influx2.delete_body = {"code": "not found", "message": 'bucket "leedswin_home" not found'}
        missing = _refused(influx2)
        influx2.delete_status = 401
        influx2.delete_body = {"code": "unauthorized", "message": "unauthorized access"}
        unauthorized = _refused(influx2)
    for error in (missing, unauthorized):
        assert isinstance(error, QueryError) and not isinstance(error, DeleteUnsupportedError)
    assert "bucket" in str(missing) and "401" in str(unauthorized)

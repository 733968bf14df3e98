"""Forgetting rollups on InfluxDB 2.x/3.x (erasure and reclassification): the delete API's
requests, as a real local HTTP server receives them (``tests.http_recorder``), and the typed
refusal of InfluxDB 3, which has no delete API. The 1.x path runs on the real InfluxDB in
``test_rollups.py``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from core.errors import DeleteUnsupportedError
from core.settings import InfluxSettings
from insights.alerts import AlertStore
from insights.lifecycle import erase_tenancy
from insights.rollups import drop_rollups
from leedswin.commands.devices import _move_state
from storage.erasure import DeviceRange
from storage.reclassify import MoveReport
from storage.registry import Registry, open_registry
from storage.state import DeviceState
from storage.tenancy import Tenancies
from tests.http_recorder import Recording, recording_influx

DEV = "c000000000000001"
S = 1_000_000_000
HOUR = 3_600 * S
#: 2023-11-14T22:13:20Z to 2023-11-15T01:13:20Z: across midnight, no end on an hour.
START = 1_700_000_000 * S
END = START + 3 * HOUR
NAMES = ("climate", "air_quality", "footfall", "uplink")
BUCKETS = ("leedswin_home", "leedswin")


def _settings(url: str, home_url: str | None = None) -> InfluxSettings:
    return InfluxSettings(
        url=url,
        home_url=home_url,
        org="leeds",
        token=SecretStr("tok"),
        bucket="leedswin",
        home_bucket="leedswin_home",
    )


def _rollup_deletes(dev_eui: str, hours: tuple[str, str], days: tuple[str, str]) -> list[Any]:
    """(bucket, predicate, start, stop) of every rollup delete, in the order they are sent."""
    out = []
    for name in NAMES:
        for table, (start, stop) in ((f"{name}_1d", days), (f"{name}_1h", hours)):
            for which in (f'dev_eui="{dev_eui}"', 'level="site"'):
                for bucket in BUCKETS:
                    out.append((bucket, f'_measurement="{table}" AND {which}', start, stop))
    return out


#: The whole hours (22:00 to 02:00) and days (14th and 15th) the range touches, inclusive.
EXPECTED = _rollup_deletes(
    DEV,
    ("2023-11-14T22:00:00.000000000Z", "2023-11-15T01:59:59.999999999Z"),
    ("2023-11-14T00:00:00.000000000Z", "2023-11-15T23:59:59.999999999Z"),
)


def _seen(recording: Recording) -> list[Any]:
    out = []
    for request in recording.deletes():
        assert request["auth"] == "Token tok"
        bucket = request["path"].split("bucket=")[1]
        body = request["body"]
        out.append((bucket, body["predicate"], body["start"], body["stop"]))
    return out


def test_drop_rollups_sends_the_device_and_site_predicates_per_measurement() -> None:
    with recording_influx() as influx:
        drop_rollups(_settings(influx.url), [DeviceRange(DEV, START, END)])
    assert _seen(influx) == EXPECTED
    assert [r["path"].split("?")[0] for r in influx.requests] == ["/api/v2/delete"] * 32


def test_drop_rollups_sends_the_home_bucket_to_the_home_server() -> None:
    with recording_influx() as public, recording_influx() as home:
        drop_rollups(_settings(public.url, home.url), [DeviceRange(DEV, START, END)])
    assert _seen(home) == [e for e in EXPECTED if e[0] == "leedswin_home"]
    assert _seen(public) == [e for e in EXPECTED if e[0] == "leedswin"]


def _tenancy(registry: Registry) -> tuple[Tenancies, str]:
    tenancies = Tenancies(registry)
    tenancies.create_property("P-001")
    moved_in = datetime.fromtimestamp(START / S, UTC)
    tenancies.assign(DEV, "P-001", moved_in)
    ref = tenancies.open_tenancy("P-001", moved_in).ref
    tenancies.end_tenancy(ref, moved_in + timedelta(hours=3))
    return tenancies, ref


def test_erasure_on_v2_drops_the_site_rollups_too(tmp_path: Path) -> None:
    """Before: only the device's own points and rows went (``dev_eui`` predicate); every
    site's rollup rows over the tenancy's hours and days kept the home's readings."""
    registry = open_registry(tmp_path / "r.sqlite3")
    tenancies, ref = _tenancy(registry)
    state = DeviceState(registry)
    state.record_rolled("climate", START - 48 * HOUR, END + 48 * HOUR)
    with recording_influx() as influx:
        report = erase_tenancy(
            ref, tenancies=tenancies, alerts=AlertStore(registry), influx=_settings(influx.url)
        )
    raw = [
        (b, f'dev_eui="{DEV}"', "2023-11-14T22:13:20.000000000Z", "2023-11-15T01:13:19.999999999Z")
        for b in BUCKETS
    ]
    assert _seen(influx) == raw + EXPECTED
    assert report.erased_at is not None
    # The API answers those hours from raw points until the rollup job recomputes them.
    assert state.rolled("climate") == (START - 48 * HOUR, START - START % HOUR)
    registry.close()


def test_erasure_on_influxdb3_is_refused_not_pretended(tmp_path: Path) -> None:
    registry = open_registry(tmp_path / "r.sqlite3")
    tenancies, ref = _tenancy(registry)
    with recording_influx() as influx3, pytest.raises(DeleteUnsupportedError):
        influx3.delete_status = 404
        erase_tenancy(
            ref, tenancies=tenancies, alerts=AlertStore(registry), influx=_settings(influx3.url)
        )
    assert tenancies.tenancy(ref).erased_at is None
    registry.close()


def _moved() -> MoveReport:
    return MoveReport(moved={"climate": 10}, sites={"s1"}, first_ns=START, last_ns=END - 1)


def test_reclassification_on_v2_drops_the_device_and_site_rollups(tmp_path: Path) -> None:
    """``_move_state`` called InfluxQL ``DELETE`` whatever the version."""
    registry = open_registry(tmp_path / "r.sqlite3")
    DeviceState(registry).record_rolled("uplink", START - 48 * HOUR, END + 48 * HOUR)
    with recording_influx() as influx:
        _move_state(registry.path, _settings(influx.url), DEV, "home", _moved())
    assert _seen(influx) == EXPECTED
    assert not any(r["path"].startswith("/query") for r in influx.requests)
    assert DeviceState(registry).rolled("uplink") == (START - 48 * HOUR, START - START % HOUR)
    registry.close()


def test_reclassification_on_influxdb3_fails_loudly_with_the_range_marked(tmp_path: Path) -> None:
    registry = open_registry(tmp_path / "r.sqlite3")
    DeviceState(registry).record_rolled("uplink", START - 48 * HOUR, END + 48 * HOUR)
    with recording_influx() as influx3, pytest.raises(DeleteUnsupportedError):
        influx3.delete_status = 404
        _move_state(registry.path, _settings(influx3.url), DEV, "home", _moved())
    # Marked before the deletes: public answers over the moved range come from raw points.
    assert DeviceState(registry).rolled("uplink") == (START - 48 * HOUR, START - START % HOUR)
    registry.close()

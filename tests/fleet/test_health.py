"""Device health: intervals, states with hysteresis, battery and radio trends, stored events."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from core.errors import RetryableSinkError
from core.settings import FleetSettings
from insights.fleet import (
    BATTERY_THRESHOLDS,
    DEFAULT_THRESHOLDS,
    FleetJob,
    FleetStore,
    Previous,
    Uplink,
    assess,
    battery_state,
    count_rejoins,
    link_state,
    median_interval,
    run_forever,
)
from storage.devices import DeviceRecord

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
SETTINGS = FleetSettings()
EUI = "a84041000181c061"
TAGS = {"dev_eui": EUI, "model": "elsys-ers", "site": "library", "privacy": "public"}


def series(n: int, every: float, end: datetime, **fields: object) -> list[Uplink]:
    return [
        Uplink(time=end - timedelta(seconds=every * (n - 1 - i)), f_cnt=i, **fields)  # type: ignore[arg-type]
        for i in range(n)
    ]


def test_median_interval_per_frame_ignores_missed_frames() -> None:
    ups = series(10, 600, NOW)
    # Drop frames 4 and 5: the 1800 s gap is 3 frames of 600 s.
    ups = [u for u in ups if u.f_cnt not in (4, 5)]
    assert median_interval(ups) == 600
    assert median_interval(ups[:2]) is None


def test_rejoins_count_fcnt_going_back() -> None:
    ups = [Uplink(NOW, f) for f in (10, 11, 12, 0, 1, 2, 0, 1)]
    assert count_rejoins(ups) == 2


@pytest.mark.parametrize(
    ("gap", "previous", "expected"),
    [
        (600, "ok", "ok"),
        (660, "ok", "ok"),  # one minute late: still ok
        (1000, "ok", "late"),
        (1300, "late", "silent"),
        (1300, "ok", "silent"),
        (1000, "silent", "silent"),  # no new uplink: never back to late
        (700, "late", "late"),  # gap under the late threshold but no uplink since
        (30, "silent", "ok"),  # an uplink arrived
    ],
)
def test_link_state_hysteresis(gap: float, previous: str, expected: str) -> None:
    assert link_state(gap, 600, previous, 1.5, 2.0) == expected


def test_battery_hysteresis_and_per_model_thresholds() -> None:
    volts = DEFAULT_THRESHOLDS["battery_voltage"]
    assert battery_state(2.45, volts, "ok") == "low"
    assert battery_state(2.55, volts, "low") == "low"  # within 0.1 V of the threshold
    assert battery_state(2.61, volts, "low") == "ok"
    assert battery_state(2.2, volts, "low") == "critical"
    assert battery_state(2.35, volts, "critical") == "critical"
    lht = BATTERY_THRESHOLDS["dragino-lht65n"]
    assert battery_state(2.52, lht, "ok") == "low"
    assert battery_state(2.52, volts, "ok") == "ok"


def test_assess_silent_device_with_registry_interval() -> None:
    ups = series(20, 600, NOW - timedelta(seconds=1300), battery_voltage=3.0, rssi=-90.0)
    record = DeviceRecord(EUI, "elsys-ers", "library", "public", "Headingley", uplink_interval=600)
    h = assess(TAGS, ups, record, Previous(), NOW, SETTINGS)
    assert (h.expected_interval, h.interval_source) == (600.0, "registry")
    assert h.link == "silent"
    assert h.missed_uplinks == 1  # due at +600 s (missed), +1200 s (not half an interval ago)
    assert h.battery == "ok" and h.battery_quantity == "battery_voltage"
    assert h.ward == "Headingley"


def test_assess_learns_interval_and_keeps_home_private() -> None:
    ups = series(20, 300, NOW - timedelta(seconds=100), battery_percent=15.0)
    record = DeviceRecord(EUI, "milesight-am319", "home-1", None, "Armley")
    h = assess({**TAGS, "privacy": "public"}, ups, record, Previous(), NOW, SETTINGS)
    assert (h.expected_interval, h.interval_source) == (300.0, "median")
    assert h.link == "ok"
    assert h.battery == "low"
    assert h.privacy == "home"  # registry leaves privacy unknown: fail closed


def test_assess_radio_degrading_over_the_week() -> None:
    before = series(100, 3600, NOW - timedelta(days=1, hours=1), rssi=-95.0, snr=5.0, gateways=3)
    recent = series(20, 3600, NOW, rssi=-106.0, snr=0.0, gateways=2)
    h = assess(TAGS, before + recent, None, Previous(), NOW, SETTINGS)
    assert h.radio == "degraded"
    assert (h.rssi_before, h.rssi_recent, h.gateways_before, h.gateways_recent) == (
        -95.0,
        -106.0,
        3,
        2,
    )


def test_store_opens_escalates_resolves_once(tmp_path: Path) -> None:
    store = FleetStore(tmp_path / "registry.sqlite3")
    record = DeviceRecord(EUI, "elsys-ers", "library", "public", uplink_interval=600)
    ups = series(10, 600, NOW)

    def run(at: datetime, uplinks: list[Uplink]) -> list[tuple[str, str, str]]:
        prev = store.previous().get(EUI, Previous())
        h = assess(TAGS, uplinks, record, prev, at, SETTINGS)
        return [(t.name, t.old, t.new) for t in store.record([h], at)]

    assert run(NOW, ups) == []  # first sight, healthy: nothing to open
    assert run(NOW + timedelta(seconds=1000), ups) == [("device.late", "ok", "late")]
    assert run(NOW + timedelta(seconds=1100), ups) == []
    assert run(NOW + timedelta(seconds=1300), ups) == [("device.silent", "late", "silent")]
    assert run(NOW + timedelta(seconds=5000), ups) == []
    back = [*ups, Uplink(NOW + timedelta(seconds=5010), 10)]
    assert run(NOW + timedelta(seconds=5020), back) == [("device.recovered", "silent", "ok")]
    [event] = store.events(dev_eui=EUI)
    assert event.state == "silent"
    assert event.opened_at == NOW + timedelta(seconds=1000)
    assert event.escalated_at == NOW + timedelta(seconds=1300)
    assert event.resolved_at == NOW + timedelta(seconds=5020)


def test_snooze_and_acknowledge(tmp_path: Path) -> None:
    store = FleetStore(tmp_path / "registry.sqlite3")
    record = DeviceRecord(EUI, "elsys-ers", "library", "public", uplink_interval=600)
    h = assess(TAGS, series(5, 600, NOW), record, Previous(), NOW + timedelta(hours=1), SETTINGS)
    [t] = store.record([h], NOW + timedelta(hours=1))
    assert not store.muted(EUI, t.event_id, False, NOW)
    assert store.acknowledge(EUI, "ops on call", NOW) == 1
    assert store.muted(EUI, t.event_id, False, NOW)
    assert not store.muted(EUI, t.event_id, True, NOW)  # the recovery is still told
    assert store.snooze(EUI, NOW + timedelta(hours=2))
    assert store.muted(EUI, t.event_id, True, NOW + timedelta(hours=1))
    assert not store.muted(EUI, t.event_id, True, NOW + timedelta(hours=3))


class _Series:
    def __init__(self, tags: dict[str, str], columns: list[str], values: list[list[object]]):
        self.tags, self.columns, self.values = tags, columns, values

    def records(self) -> list[dict[str, object]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.values]


class _Query:
    """Answers the job's two statements: uplinks of one device, no dead letters."""

    def query(self, q: str, params: dict[str, object] | None = None) -> list[_Series]:
        if "dead_letter" in q:
            return []
        columns = ["time", "f_cnt", "rssi", "snr", "gateways", "battery_voltage", "battery_percent"]
        start = int((NOW - timedelta(hours=2)).timestamp()) * 10**9
        rows = [[start + i * 600 * 10**9, i, -90.0, 5.0, 1, 3.0, None] for i in range(6)]
        return [_Series(TAGS, columns, rows)]


class _BrokenSink:
    def write(self, body: bytes) -> None:
        raise RetryableSinkError("InfluxDB write timed out")


def test_a_failed_health_write_keeps_the_state_changes(tmp_path: Path) -> None:
    store = FleetStore(tmp_path / "registry.sqlite3")
    job = FleetJob(SETTINGS, _Query(), _BrokenSink(), store)
    job.run(NOW - timedelta(minutes=65))  # first sight, healthy
    report, healths = job.run(NOW)
    assert [t.name for t in report.transitions] == ["device.silent"]
    assert report.errors and "timed out" in report.errors[0]
    assert healths[0].expected_interval == 600


class _GrowingQuery:
    """Uplinks every 10 minutes up to a moving 'now'; records each read's lower bound."""

    def __init__(self) -> None:
        self.until = NOW
        self.reads: list[datetime] = []

    def query(self, q: str, params: dict[str, object] | None = None) -> list[_Series]:
        if "dead_letter" in q:
            return []
        since = datetime.fromtimestamp(int(params["since"]) / 1e9, tz=UTC)  # type: ignore[index, arg-type]
        self.reads.append(since)
        columns = ["time", "f_cnt", "rssi", "snr", "gateways", "battery_voltage", "battery_percent"]
        first = NOW - timedelta(days=10)
        rows = []
        for i in range(int((self.until - first) / timedelta(minutes=10)) + 1):
            t = first + timedelta(minutes=10 * i)
            if t >= since:
                rows.append([int(t.timestamp()) * 10**9, i, -90.0, 5.0, 1, 3.0, None])
        return [_Series(TAGS, columns, rows)]


def test_ticks_between_full_reads_read_only_what_is_new(tmp_path: Path) -> None:
    query = _GrowingQuery()
    job = FleetJob(SETTINGS, query, None, FleetStore(tmp_path / "r.sqlite3"))
    _, [first] = job.run(NOW)
    query.until = NOW + timedelta(minutes=30)
    _, [second] = job.run(NOW + timedelta(minutes=30))
    assert query.reads == [NOW - timedelta(days=7), NOW - timedelta(minutes=15)]
    assert second.uplinks == first.uplinks  # three new, three older than 7 days trimmed
    assert second.last_seen == NOW + timedelta(minutes=30)
    job.run(NOW + timedelta(hours=1, minutes=1))
    assert query.reads[-1] == NOW + timedelta(hours=1, minutes=1) - timedelta(days=7)


def test_the_fleet_loop_survives_a_failed_tick(caplog: pytest.LogCaptureFixture) -> None:
    """A tick that raises something other than a platform error is logged at ERROR with the
    exception, and the loop ticks again (it used to end the fleet thread for good)."""
    stop = threading.Event()
    calls: list[int] = []

    def tick() -> None:
        calls.append(1)
        if len(calls) == 1:
            raise ValueError("unreadable stored state")
        stop.set()

    with caplog.at_level(logging.ERROR, logger="insights.fleet"):
        run_forever(tick, 0.001, stop, "fleet_tick")
    assert len(calls) == 2
    [record] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert record.exc_info is not None and isinstance(record.exc_info[1], ValueError)

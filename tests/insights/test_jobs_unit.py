"""Job wiring with a fake query runner and sink (the real-server runs are in test_jobs_integration)."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from core.errors import DeleteUnsupportedError, QueryError
from core.settings import InsightsSettings
from insights.jobs import InsightsJobs, InsightsScheduler, RunReport

UNTIL = datetime(2026, 11, 23, tzinfo=UTC)
HOUR_NS = 3_600_000_000_000


@dataclass
class FakeSeries:
    tags: dict[str, str]
    columns: list[str]
    values: list[list[Any]]


@dataclass
class FakeQuery:
    """Answers only the air-quality statement, with 30 hours of constant NO2."""

    model: str
    no2: float
    statements: list[str] = field(default_factory=list)

    def query(self, q: str, params: dict[str, Any] | None = None) -> list[FakeSeries]:
        self.statements.append(q)
        if 'FROM "air_quality"' not in q:
            return []
        start = int((UNTIL - timedelta(hours=30)).timestamp()) * 1_000_000_000
        columns = ["time", "pm2_5", "pm10", "no2", "o3"]
        rows = [[start + i * HOUR_NS, None, None, self.no2, None] for i in range(30)]
        tags = {"dev_eui": "a1", "model": self.model, "site": "kirkgate"}
        return [FakeSeries(tags, columns, rows)]


@dataclass
class FakeSink:
    lines: list[str] = field(default_factory=list)

    def write(self, body: bytes) -> None:
        self.lines.extend(body.decode().splitlines())

    def ping(self) -> bool:
        return True


def _daqi_lines(settings: InsightsSettings, model: str, no2: float) -> list[str]:
    sink = FakeSink()
    InsightsJobs(settings, FakeQuery(model, no2), sink).run(UNTIL - timedelta(hours=2), UNTIL)
    return [line for line in sink.lines if line.startswith("daqi,")]


def test_ppb_gases_are_converted_before_banding() -> None:
    # 110 ppb NO2 = 210 µg/m³ at 20 °C: index 4, where 110 µg/m³ would be index 2.
    plain = _daqi_lines(InsightsSettings(), "gas-sensor", 110.0)
    assert all("no2_index=2i" in line for line in plain) and len(plain) == 4
    converted = _daqi_lines(InsightsSettings(gas_units={"gas-sensor": "ppb"}), "gas-sensor", 110.0)
    assert all("no2_index=4i" in line and 'band="Moderate"' in line for line in converted)


def test_reference_models_are_not_indicative() -> None:
    low_cost = _daqi_lines(InsightsSettings(), "ref-monitor", 50.0)
    assert all("indicative=true" in line for line in low_cost)
    reference = _daqi_lines(
        InsightsSettings(reference_models=("ref-monitor",)), "ref-monitor", 50.0
    )
    assert all("indicative=false" in line for line in reference)


def test_a_failing_stage_is_reported_and_the_others_still_run() -> None:
    class Flaky(FakeQuery):
        def query(self, q: str, params: dict[str, Any] | None = None) -> list[FakeSeries]:
            if 'FROM "climate"' in q:
                raise QueryError("influxd went away")
            return super().query(q, params)

    sink = FakeSink()
    report = InsightsJobs(InsightsSettings(), Flaky("m", 10.0), sink).run(
        UNTIL - timedelta(hours=2), UNTIL
    )
    assert report.errors == ["damp: influxd went away"]
    assert report.daqi_points == 4


def test_statements_filter_by_privacy_and_bound_time() -> None:
    query = FakeQuery("m", 10.0)
    InsightsJobs(InsightsSettings(), query, FakeSink()).run(UNTIL - timedelta(hours=2), UNTIL)
    assert len(query.statements) == 4
    assert all('"privacy" = $privacy' in q for q in query.statements)
    assert all("time >= " in q and "time < " in q for q in query.statements)


def test_scheduler_survives_a_failed_run(caplog: pytest.LogCaptureFixture) -> None:
    """One run that raises (a stored record it cannot read) is logged at ERROR with the
    exception and counted; the next tick runs as usual."""
    stop = threading.Event()
    calls: list[datetime] = []

    class Jobs:
        def run(self, since: datetime, until: datetime) -> Any:
            calls.append(until)
            if len(calls) == 1:
                raise KeyError("unreadable stored record")
            stop.set()
            return RunReport(since=since, until=until)

    scheduler = InsightsScheduler(
        InsightsSettings(interval=0.001),
        stop,
        jobs=Jobs(),  # type: ignore[arg-type]
    )
    with caplog.at_level(logging.ERROR, logger="insights.jobs"):
        scheduler.run_forever()
    assert len(calls) == 2
    assert scheduler.failed_runs == 1
    assert scheduler.last_report is not None
    [record] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert record.exc_info is not None and isinstance(record.exc_info[1], KeyError)


def test_scheduler_expires_home_data_daily_and_retries_a_failed_expiry() -> None:
    """Home data past their retention go at the first tick and then every 23 h (7-day shard
    groups alone would keep them up to a week); a failed expiry is tried at the next tick, and
    a store that says it cannot delete (InfluxDB 3, or a proxy's 404) again the next day."""
    start = datetime(2026, 12, 1, tzinfo=UTC)
    clock = [start]
    expired: list[datetime] = []
    failures: list[Exception] = [QueryError("home InfluxDB down")]

    def expire(now: datetime) -> int | None:
        if failures:
            raise failures.pop()
        expired.append(now)
        return 0

    class Jobs:
        def run(self, since: datetime, until: datetime) -> Any:
            return RunReport(since=since, until=until)

    scheduler = InsightsScheduler(
        InsightsSettings(),
        threading.Event(),
        jobs=Jobs(),  # type: ignore[arg-type]
        clock=lambda: clock[0],
        expire=expire,
    )

    def tick(minutes: int) -> None:
        clock[0] = start + timedelta(minutes=minutes)
        scheduler.tick()

    for minutes in (0, 5, 10, 23 * 60 + 4, 23 * 60 + 9):
        tick(minutes)
    assert expired == [start + timedelta(minutes=5), start + timedelta(minutes=23 * 60 + 9)]
    failures.append(DeleteUnsupportedError("404 page not found"))
    tick(46 * 60 + 10)
    tick(46 * 60 + 15)  # not asked again within the day
    assert len(expired) == 2 and scheduler.expire is not None
    tick(69 * 60 + 10)
    assert expired[-1] == start + timedelta(minutes=69 * 60 + 10)

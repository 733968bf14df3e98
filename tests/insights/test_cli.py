"""`leedswin insights run --once` and the scheduler loop, on the real InfluxDB."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from core.settings import InfluxSettings, InsightsSettings
from insights.alerts import AlertStore
from insights.jobs import InsightsScheduler, floor_hour, open_jobs
from leedswin.cli import app
from leedswin.services import LocalInfluxDB
from storage.influx import V1Sink
from storage.points import encode
from storage.registry import open_registry
from tests.conftest import influxql
from tests.insights.test_jobs_integration import climate

pytestmark = pytest.mark.integration


def test_run_once_backfills_and_opens_alert(
    influxdb: LocalInfluxDB, influx_db: str, tmp_path: Path
) -> None:
    until = floor_hour(datetime.now(UTC))
    sink = V1Sink(InfluxSettings(url=influxdb.url, database=influx_db))
    sink.ensure_database()
    sink.write(encode(climate("d0000000000000c3", until - timedelta(days=8), 8 * 24, 18.0, 82.0)))
    sink.close()
    registry = tmp_path / "r.sqlite3"
    args = ["insights", "run", "--once", "--since", "8", "--influx-url", influxdb.url]
    args += ["--influx-database", influx_db, "--registry", str(registry)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "1 alerts opened" in result.output
    alerts = AlertStore(open_registry(registry)).list()
    assert [(a.dev_eui, a.level) for a in alerts] == [("d0000000000000c3", "high")]
    count = influxql(influxdb.url, influx_db, 'SELECT count("risk_level") FROM "damp_risk"')
    assert count[0]["values"][0][1] == 8 * 24


def test_bad_since_is_refused() -> None:
    result = CliRunner().invoke(app, ["insights", "run", "--once", "--since", "-1"])
    assert result.exit_code != 0


def test_scheduler_ticks_until_stopped(
    influxdb: LocalInfluxDB, influx_db: str, tmp_path: Path
) -> None:
    settings = InsightsSettings(interval=0.05, recompute_hours=2)
    influx = InfluxSettings(url=influxdb.url, database=influx_db)
    stop = threading.Event()
    with open_jobs(settings, influx, tmp_path / "r.sqlite3") as jobs:
        scheduler = InsightsScheduler(settings, stop, jobs=jobs)
        thread = threading.Thread(target=scheduler.run_forever)
        thread.start()
        deadline = datetime.now(UTC) + timedelta(seconds=10)
        while scheduler.last_report is None and datetime.now(UTC) < deadline:
            stop.wait(0.02)
        stop.set()
        thread.join(5)
    assert not thread.is_alive()
    assert scheduler.last_report is not None and scheduler.last_report.errors == []
    assert scheduler.last_report.until - scheduler.last_report.since == timedelta(hours=2)

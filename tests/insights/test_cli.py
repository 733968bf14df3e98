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
from storage.influx import V1Sink, make_sink
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


def test_run_once_deletes_home_data_past_their_retention(
    influxdb: LocalInfluxDB, influx_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run from cron or a timer keeps the limit as the service does: home points older
    than the retention go, newer ones stay, and it says so."""
    now = floor_hour(datetime.now(UTC))
    sink = make_sink(InfluxSettings(url=influxdb.url, database=influx_db))
    sink.ensure_database()
    sink.write(encode(climate("d0000000000000c4", now - timedelta(days=3), 2, 18.0, 60.0)))
    sink.write(encode(climate("d0000000000000c4", now - timedelta(hours=3), 2, 18.0, 60.0)))
    sink.close()
    home = f"{influx_db}_home"
    query = 'SELECT count("temperature") FROM "climate"'
    assert influxql(influxdb.url, home, query, home=False)[0]["values"][0][1] == 8
    monkeypatch.setenv("LEEDSWIN_INFLUX_HOME_RETENTION", "2d")
    args = ["insights", "run", "--once", "--influx-url", influxdb.url]
    args += ["--influx-database", influx_db, "--registry", str(tmp_path / "r.sqlite3")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "home data before" in result.output and "deleted (retention)" in result.output
    count = influxql(influxdb.url, home, query, home=False)
    assert count[0]["values"][0][1] == 4  # the 3-hour-old readings; the 3-day-old ones went

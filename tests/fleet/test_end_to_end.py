"""End to end on the real InfluxDB, a real SMTP server (STARTTLS, login) and a webhook receiver.

A public device stops sending: its silent notice arrives once by webhook and
by e-mail; it recovers and the recovery arrives. A home's damp alert reaches
the housing recipient only, naming its pseudonym and ward. Time is passed to
each tick, so nothing waits.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from core.settings import FleetSettings, InfluxSettings
from insights.alerts import AlertStore
from insights.damp import RiskLevel
from insights.fleet_jobs import open_fleet
from leedswin.services import LocalInfluxDB
from storage import schema
from storage.influx import make_sink
from storage.points import encode, make_point
from storage.registry import open_registry
from tests.conftest import influxql
from tests.fleet.conftest import HOOK_SECRET, SMTP_PASSWORD, Hook, SmtpServer, notify_yaml

pytestmark = pytest.mark.integration

PUBLIC = "24e124710c400001"
HOME = "a81758fffe000001"
INTERVAL = 60


def write_uplinks(
    influx: InfluxSettings, dev_eui: str, privacy: str, times: list[datetime]
) -> None:
    sink = make_sink(influx)
    try:
        sink.ensure_database()
        tags = {
            "dev_eui": dev_eui,
            "model": "milesight-am319",
            "site": "library-1" if privacy == "public" else "home-7f3a",
            "privacy": privacy,
            "need": "air_quality",
        }
        points = [
            make_point(
                schema.UPLINK,
                tags,
                {"f_cnt": i, "rssi": -90.0, "snr": 7.5, "gateways": 2, "battery_percent": 90.0},
                int(t.timestamp() * 1e9),
            )
            for i, t in enumerate(times)
        ]
        sink.write(encode(points))
    finally:
        sink.close()


@pytest.fixture
def setup(
    influxdb: LocalInfluxDB,
    influx_db: str,
    tmp_path: Path,
    smtp_server: SmtpServer,
    webhook: Hook,
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[InfluxSettings, Path, Path, Path]:
    monkeypatch.setenv("TEST_HOOK_SECRET", HOOK_SECRET)
    monkeypatch.setenv("TEST_SMTP_PASSWORD", SMTP_PASSWORD)
    config = tmp_path / "notify.yaml"
    config.write_text(notify_yaml(smtp_server, webhook))
    devices = tmp_path / "devices.yaml"
    devices.write_text(
        yaml.safe_dump(
            {
                "devices": [
                    {
                        "dev_eui": PUBLIC,
                        "model": "milesight-am319",
                        "site": "library-1",
                        "privacy": "public",
                        "ward": "Headingley",
                        "uplink_interval": INTERVAL,
                    },
                    {
                        "dev_eui": HOME,
                        "model": "milesight-am319",
                        "site": "home-7f3a",
                        "privacy": "home",
                        "ward": "Armley",
                        "uplink_interval": INTERVAL,
                    },
                ]
            }
        )
    )
    influx = InfluxSettings(url=influxdb.url, database=influx_db)
    return influx, tmp_path / "registry.sqlite3", devices, config


def test_silent_device_is_told_once_then_its_recovery(
    setup: tuple[InfluxSettings, Path, Path, Path], smtp_server: SmtpServer, webhook: Hook
) -> None:
    influx, registry, devices, config = setup
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)
    times = [start + timedelta(seconds=INTERVAL * i) for i in range(20)]
    last = times[-1]
    write_uplinks(influx, PUBLIC, "public", times)
    write_uplinks(influx, HOME, "home", times)
    settings = FleetSettings(notifications=config)
    with open_fleet(settings, influx, registry, devices) as fleet:
        report = fleet.tick(last + timedelta(seconds=10))
        assert {h.dev_eui: h.link for h in report.healths} == {PUBLIC: "ok", HOME: "ok"}
        assert report.queued == 0
        # Late at 1.5 intervals, silent past 2: within two intervals of its last uplink
        # plus one tick.
        fleet.tick(last + timedelta(seconds=100))
        report = fleet.tick(last + timedelta(seconds=125))
        assert sorted((t.name, t.dev_eui) for t in report.transitions) == [
            ("device.silent", PUBLIC),
            ("device.silent", HOME),
        ]
        for later in (130, 200, 400):  # still silent: nothing more is sent
            assert fleet.tick(last + timedelta(seconds=later)).queued == 0

        hook_notices = webhook.notices()
        assert [(n["event"], n["data"]["dev_eui"]) for n in hook_notices] == [
            ("device.silent", PUBLIC)
        ]
        assert webhook.bad_signatures == 0
        ops_mail = smtp_server.box.to("ops@example.test")
        assert len(ops_mail) == 1 and "has gone silent" in ops_mail[0]["Subject"]
        assert PUBLIC in ops_mail[0]["Subject"]
        # The home device's silence went to housing only, by pseudonym and ward.
        housing_mail = smtp_server.box.to("damp@example.test")
        subjects = sorted(m["Subject"] for m in housing_mail)
        assert len(subjects) == 2
        home_subject = next(s for s in subjects if HOME in s)
        assert "home home-7f3a, ward Armley" in home_subject
        assert all(HOME not in m["Subject"] for m in ops_mail)
        assert all(n["data"]["dev_eui"] != HOME for n in hook_notices)
        assert all(smtp_server.box.tls) and smtp_server.box.logins

        # The public device sends again: its recovery reaches those told it was silent.
        back = last + timedelta(seconds=410)
        write_uplinks(influx, PUBLIC, "public", [*times, back])
        report = fleet.tick(back + timedelta(seconds=5))
        assert [(t.name, t.dev_eui) for t in report.transitions] == [("device.recovered", PUBLIC)]
        assert [n["event"] for n in webhook.notices()] == ["device.silent", "device.recovered"]
        assert len(smtp_server.box.to("ops@example.test")) == 2
        assert "is sending again" in smtp_server.box.to("ops@example.test")[1]["Subject"]

    events = {e.dev_eui: e for e in fleet.store.events()}
    assert events[PUBLIC].resolved_at == back + timedelta(seconds=5)
    assert events[HOME].resolved_at is None
    # The dashboard's measurement has every run's states.
    rows = influxql(
        influx.url,
        influx.database,
        f'SELECT last("link") FROM "{schema.DEVICE_HEALTH}" GROUP BY "dev_eui"',
    )
    assert {r["tags"]["dev_eui"]: r["values"][0][1] for r in rows} == {
        PUBLIC: "ok",
        HOME: "silent",
    }


def test_damp_alert_reaches_only_the_housing_recipient(
    setup: tuple[InfluxSettings, Path, Path, Path], smtp_server: SmtpServer, webhook: Hook
) -> None:
    influx, registry, devices, config = setup
    now = datetime.now(UTC).replace(microsecond=0)
    conn = open_registry(registry)
    try:
        alert = AlertStore(conn).raise_level(
            HOME, "home-7f3a", RiskLevel.HIGH, now - timedelta(hours=1), {"risk": "high"}
        )
    finally:
        conn.close()
    assert alert is not None
    with open_fleet(FleetSettings(notifications=config), influx, registry, devices) as fleet:
        fleet.tick(now)
        fleet.tick(now + timedelta(minutes=1))
    damp = [m for m in smtp_server.box.to("damp@example.test") if "Damp" in m["Subject"]]
    assert len(damp) == 1
    assert "home home-7f3a, ward Armley" in damp[0]["Subject"]
    assert webhook.notices() == []  # neither the operations nor the public recipient
    assert smtp_server.box.to("ops@example.test") == []

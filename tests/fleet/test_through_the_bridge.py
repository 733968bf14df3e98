"""The same story with the uplinks coming through the real broker and the real bridge.

A device sends ChirpStack events every minute via Mosquitto; the bridge stores
them in InfluxDB; it stops; the fleet tick finds it silent within two of its
intervals (plus one tick), and the webhook and the e-mail arrive once; it sends
again and the recovery arrives.
"""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
import yaml

from core.settings import BridgeSettings, FleetSettings, InfluxSettings, MqttSettings
from firmware_sim.encoders import ENCODERS
from gateway_bridge.service import serve
from insights.fleet_jobs import open_fleet
from leedswin.services import LocalInfluxDB, LocalMosquitto
from tests.conftest import influxql
from tests.fleet.conftest import HOOK_SECRET, SMTP_PASSWORD, Hook, SmtpServer, notify_yaml
from tests.gateway_bridge import samples
from tests.gateway_bridge.test_bridge_integration import Publisher

pytestmark = pytest.mark.integration

DEV_EUI = "a84041000181c0ff"
INTERVAL = 60


def event(f_cnt: int, at: datetime) -> bytes:
    f_port, payload = ENCODERS["elsys-ers"](
        {"temperature": 20.5, "relative_humidity": 48, "battery_voltage": 3.6}
    )
    body = samples.chirpstack_dict(
        payload, dev_eui=DEV_EUI, f_port=f_port, f_cnt=f_cnt, profile="elsys-ers"
    )
    body["time"] = at.strftime("%Y-%m-%dT%H:%M:%S.000000Z")
    return orjson.dumps(body)


def stored(influx: InfluxSettings) -> int:
    try:
        series = influxql(influx.url, influx.database, 'SELECT count("f_cnt") FROM "uplink"')
    except Exception:  # no database before the first write
        return 0
    return int(series[0]["values"][0][1]) if series else 0


def until_stored(influx: InfluxSettings, count: int, bridge: threading.Thread) -> None:
    """Poll (at most 30 s) until the bridge has stored ``count`` uplinks."""
    pause = threading.Event()
    for _ in range(300):
        if stored(influx) >= count:
            return
        assert bridge.is_alive(), "the bridge stopped"
        pause.wait(0.1)
    raise AssertionError(f"the bridge did not store {count} uplinks")


def test_device_stops_then_recovers_through_the_bridge(
    mosquitto: LocalMosquitto,
    influxdb: LocalInfluxDB,
    influx_db: str,
    tmp_path: Path,
    smtp_server: SmtpServer,
    webhook: Hook,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
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
                        "dev_eui": DEV_EUI,
                        "model": "elsys-ers",
                        "site": "chapeltown-library",
                        "privacy": "public",
                        "ward": "Chapel Allerton",
                        "uplink_interval": INTERVAL,
                    }
                ]
            }
        )
    )
    mqtt = MqttSettings(url=mosquitto.url, client_id=f"fleet-{uuid.uuid4().hex[:8]}")
    influx = InfluxSettings(url=influxdb.url, database=influx_db)
    stop, ready = threading.Event(), threading.Event()
    bridge = threading.Thread(
        target=serve,
        args=(mqtt, influx, BridgeSettings(device_registry=devices), stop),
        kwargs={"ready": ready},
    )
    bridge.start()
    publisher = Publisher(mosquitto.url)
    try:
        assert ready.wait(30), "bridge did not subscribe"
        start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=20)
        times = [start + timedelta(seconds=INTERVAL * i) for i in range(12)]
        publisher.publish_all(
            [(samples.topic_chirpstack(DEV_EUI), event(i, t)) for i, t in enumerate(times)]
        )
        until_stored(influx, len(times), bridge)
        last = times[-1]
        settings = FleetSettings(notifications=config)
        with open_fleet(settings, influx, tmp_path / "registry.sqlite3", devices, mqtt) as fleet:
            assert fleet.tick(last + timedelta(seconds=30)).transitions == []
            fleet.tick(last + timedelta(seconds=95))  # late
            silent = fleet.tick(last + timedelta(seconds=2 * INTERVAL + 5))
            assert [t.name for t in silent.transitions] == ["device.silent"]
            fleet.tick(last + timedelta(seconds=4 * INTERVAL))
            assert [n["event"] for n in webhook.notices()] == ["device.silent"]
            assert len(smtp_server.box.to("ops@example.test")) == 1

            back = last + timedelta(seconds=5 * INTERVAL)
            publisher.publish_all([(samples.topic_chirpstack(DEV_EUI), event(12, back))])
            until_stored(influx, len(times) + 1, bridge)
            recovered = fleet.tick(back + timedelta(seconds=5))
            assert [t.name for t in recovered.transitions] == ["device.recovered"]
        assert [n["event"] for n in webhook.notices()] == ["device.silent", "device.recovered"]
        mails = smtp_server.box.to("ops@example.test")
        assert [("silent" in m["Subject"], "sending again" in m["Subject"]) for m in mails] == [
            (True, False),
            (False, True),
        ]
        assert "chapeltown-library (Chapel Allerton)" in mails[0]["Subject"]
    finally:
        publisher.close()
        stop.set()
        bridge.join(30)

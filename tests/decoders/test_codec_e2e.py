"""Configured models end to end on the real Mosquitto and InfluxDB.

A device whose model exists only as a configured codec, and devices whose model
is decoded upstream by ChirpStack (``object``, in JSON and Protobuf events),
land in the right measurements with canonical names, the usual tags and the
registry's privacy; a codec failure is a ``codec_error`` dead letter; a model
and device added while the bridge runs are decoded without a restart.
"""

from __future__ import annotations

import shutil
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from prometheus_client import CollectorRegistry

from core.settings import BridgeSettings, InfluxSettings, MqttSettings, build
from decoders.configured import active, install
from gateway_bridge.service import serve
from leedswin.services import LocalInfluxDB, LocalMosquitto
from tests.gateway_bridge import samples
from tests.gateway_bridge.test_bridge_integration import Publisher, rows, wait_until

pytestmark = pytest.mark.integration

MODELS = Path(__file__).parent / "codecs" / "models"
CODEC_DEV, UPSTREAM_JSON, UPSTREAM_PB, BROKEN, LATE = (
    "c0dec00000000001",
    "c0dec00000000002",
    "c0dec00000000003",
    "c0dec00000000004",
    "c0dec00000000005",
)
REGISTRY = f"""devices:
  - {{dev_eui: '{CODEC_DEV}', model: dragino-lht65n-js, site: hyde-park-flat, privacy: home}}
  - {{dev_eui: '{UPSTREAM_JSON}', model: upstream-th, site: kirkgate, privacy: public}}
  - {{dev_eui: '{UPSTREAM_PB}', model: upstream-th, site: armley}}
  - {{dev_eui: '{BROKEN}', model: dragino-lht65n-js, site: beeston, privacy: public}}
"""
TIME = "2026-11-30T09:00:00Z"


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Path, Path]:
    models = tmp_path / "models"
    models.mkdir()
    for name in ("dragino-lht65n-js.yaml", "lht65n.js", "upstream-cs.yaml"):
        shutil.copy(MODELS / name, models / name)
    registry = tmp_path / "devices.yaml"
    registry.write_text(REGISTRY)
    return models, registry


@pytest.fixture
def bridge(
    mosquitto: LocalMosquitto, influxdb: LocalInfluxDB, influx_db: str, setup: tuple[Path, Path]
) -> Iterator[CollectorRegistry]:
    models, registry_file = setup
    stop = threading.Event()
    registry = CollectorRegistry()
    ready = threading.Event()
    result: list[bool] = []
    settings = build(BridgeSettings, device_registry=registry_file, models_dir=models)
    thread = threading.Thread(
        target=lambda: result.append(
            serve(
                build(MqttSettings, url=mosquitto.url, client_id=f"codec-{uuid.uuid4().hex[:8]}"),
                build(InfluxSettings, url=influxdb.url, database=influx_db),
                settings,
                stop,
                registry,
                ready=ready,
            )
        )
    )
    thread.start()
    assert ready.wait(10), "bridge did not subscribe"
    yield registry
    stop.set()
    thread.join(30)
    install(None)
    assert result == [True]


def event(dev_eui: str, payload: bytes, f_port: int, obj: dict | None = None) -> dict:
    body = samples.chirpstack_dict(
        payload, dev_eui=dev_eui, f_port=f_port, profile="some-profile", tags={}
    )
    body["time"] = TIME
    if obj is not None:
        body["object"] = obj
    return body


def stored(url: str, db: str, dev_eui: str) -> dict[str, dict]:
    out = {}
    for measurement in ("climate", "air_quality", "footfall", "uplink"):
        found = rows(url, db, f"SELECT * FROM {measurement} WHERE dev_eui = '{dev_eui}'")
        if found:
            out[measurement] = found[0]
    return out


def test_configured_and_upstream_models_land_with_canonical_names_and_tags(
    mosquitto: LocalMosquitto,
    influxdb: LocalInfluxDB,
    influx_db: str,
    setup: tuple[Path, Path],
    bridge: CollectorRegistry,
) -> None:
    lht65n = bytes.fromhex("cbf60b0d01e6010add7fff")
    upstream = {"temperature": 21.5, "humidity": 40, "battery_mv": 3600, "label": "kitchen"}
    messages = [
        (samples.topic_chirpstack(CODEC_DEV), orjson.dumps(event(CODEC_DEV, lht65n, 2))),
        (
            samples.topic_chirpstack(UPSTREAM_JSON),
            orjson.dumps(event(UPSTREAM_JSON, b"\x01", 1, upstream)),
        ),
        (
            samples.topic_chirpstack(UPSTREAM_PB),
            samples.chirpstack_protobuf(
                event(UPSTREAM_PB, b"\x01", 1, {**upstream, "humidity": 120})
            ),
        ),
        (samples.topic_chirpstack(BROKEN), orjson.dumps(event(BROKEN, b"\x01\x02", 2))),
    ]
    publisher = Publisher(mosquitto.url)
    publisher.publish_all(messages)
    acked = "leedswin_bridge_acked_total"
    wait_until(lambda: bridge.get_sample_value(acked) == len(messages), 30, "every message acked")

    codec = stored(influxdb.url, influx_db, CODEC_DEV)
    climate = codec["climate"]
    assert {
        k: climate[k] for k in ("temperature", "relative_humidity", "external_temperature")
    } == (
        pytest.approx(
            {"temperature": 28.29, "relative_humidity": 48.6, "external_temperature": 27.81}
        )
    )
    assert (climate["model"], climate["site"], climate["privacy"], climate["need"]) == (
        "dragino-lht65n-js",
        "hyde-park-flat",
        "home",
        "damp",
    )
    assert codec["uplink"]["battery_voltage"] == pytest.approx(3.062)
    assert climate["time"] == 1_796_029_200 * 10**9  # the event time, ns

    json_rows = stored(influxdb.url, influx_db, UPSTREAM_JSON)
    assert json_rows["climate"]["temperature"] == 21.5
    assert json_rows["climate"]["relative_humidity"] == 40
    assert json_rows["climate"]["privacy"] == "public"
    assert json_rows["climate"]["model"] == "upstream-th"
    assert json_rows["uplink"]["battery_voltage"] == pytest.approx(3.6)
    assert "label" not in json_rows["climate"]

    pb_rows = stored(influxdb.url, influx_db, UPSTREAM_PB)
    assert pb_rows["climate"]["temperature"] == 21.5
    assert pb_rows["climate"].get("relative_humidity") is None  # 120 % withheld
    assert pb_rows["climate"]["privacy"] == "home"  # registry leaves it empty: fail closed
    withheld = rows(
        influxdb.url,
        influx_db,
        f"SELECT * FROM device_status WHERE dev_eui = '{UPSTREAM_PB}' AND kind = 'withheld'",
    )
    assert [(w["item"], w["value"]) for w in withheld] == [("relative_humidity", "120.0")]

    dead = rows(influxdb.url, influx_db, f"SELECT * FROM dead_letter WHERE dev_eui = '{BROKEN}'")
    assert [d["reason"] for d in dead] == ["codec_error"]
    assert "LHT65N frame is 11 bytes, got 2" in dead[0]["error"]

    # A new model and a device using it, while the bridge runs: no restart.
    models, registry_file = setup
    shutil.copy(MODELS / "pedestrian.js", models / "pedestrian.js")
    shutil.copy(MODELS / "pedestrian.yaml", models / "pedestrian.yaml")
    catalog = active()
    assert catalog is not None
    wait_until(lambda: catalog.get("pedestrian-door") is not None, 10, "model picked up")
    registry_file.write_text(
        REGISTRY
        + f"  - {{dev_eui: '{LATE}', model: pedestrian-door, site: briggate, privacy: public}}\n"
    )
    time.sleep(1.5)  # the device registry is re-read at most once a second
    late = event(LATE, bytes.fromhex("0a00000007000000"), 1)
    publisher.publish_all([(samples.topic_chirpstack(LATE), orjson.dumps(late))])
    publisher.close()
    wait_until(lambda: bridge.get_sample_value(acked) == len(messages) + 1, 30, "late uplink acked")
    footfall = stored(influxdb.url, influx_db, LATE)["footfall"]
    assert (footfall["people_in"], footfall["people_out"], footfall["need"]) == (10, 7, "footfall")

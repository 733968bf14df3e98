"""Poison input on real servers: each kind counted and dead-lettered with its reason,
acknowledged, and the good uplinks around it all stored (the stream never stalls).

An absurd value is no dead letter: only that field is withheld (kept in
``device_status`` with its reason, counted per field) and the rest of its uplink
is stored."""

from __future__ import annotations

import orjson
import pytest

from firmware_sim.encoders import ENCODERS
from tests.conftest import influxql
from tests.faults.conftest import Rig, scrape
from tests.gateway_bridge import samples
from tests.gateway_bridge.test_bridge_cli import uplink_count, wait_until
from tests.gateway_bridge.test_bridge_integration import Publisher, eui

pytestmark = [pytest.mark.integration, pytest.mark.slow]

GOOD = {"temperature": 20.5, "relative_humidity": 48, "battery_voltage": 3.6}


def chirpstack(index: int, payload: bytes, *, profile: str = "elsys-ers", **kw: object) -> bytes:
    body = samples.chirpstack_dict(payload, dev_eui=eui(index), f_cnt=index, profile=profile, **kw)  # type: ignore[arg-type]
    body["time"] = f"2026-11-23T21:{index // 60 % 60:02d}:{index % 60:02d}.000000123Z"
    return orjson.dumps(body)


def poison(kind: str, index: int) -> bytes:
    if kind == "malformed_json":
        return b'{"deviceInfo": {"devEui": '
    if kind == "wrong_protobuf":
        return b"\x08\x96\x01\x12\x07garbage\xff\x00"
    if kind == "undecodable":
        return chirpstack(index, b"\x01")
    if kind == "unknown_device":
        return chirpstack(index, b"\x01\x00\xd2", profile="mystery", tags={})
    f_port, payload = ENCODERS["elsys-ers"](GOOD | {"temperature": 900})
    return chirpstack(index, payload, f_port=f_port)


KINDS = {
    "malformed_json": "bad_event",
    "wrong_protobuf": "bad_event",
    "undecodable": "bad_length",
    "unknown_device": "unknown_device",
    "absurd_values": "withheld",
}


def test_poison_is_dead_lettered_by_reason_acked_and_never_stalls_the_stream(rig: Rig) -> None:
    bridge = rig.bridge()
    f_port, payload = ENCODERS["elsys-ers"](GOOD)
    messages: list[tuple[str, bytes]] = []
    for index in range(200):  # every fifth message a poison one, of each kind in turn
        if index % 5 == 4:
            kind = list(KINDS)[(index // 5) % len(KINDS)]
            messages.append(
                (samples.topic_chirpstack(eui(1000 + index)), poison(kind, 1000 + index))
            )
        else:
            good = chirpstack(index, payload, f_port=f_port, tags={"privacy": "public"})
            messages.append((samples.topic_chirpstack(eui(index)), good))
    publisher = Publisher(rig.mosquitto.url)
    publisher.publish_all(messages)
    publisher.close()

    wait_until(
        lambda: bridge.metric("leedswin_bridge_acked_total") == len(messages), 30, "all acked"
    )
    assert uplink_count(rig.influxdb.url, rig.db) == 168
    dead = {
        series["tags"]["reason"]: int(series["values"][0][1])
        for series in influxql(
            rig.influxdb.url, rig.db, 'SELECT count("error") FROM dead_letter GROUP BY reason'
        )
    }
    assert dead == {"bad_event": 16, "bad_length": 8, "unknown_device": 8}
    withheld = influxql(
        rig.influxdb.url,
        rig.db,
        'SELECT count("number") FROM device_status WHERE "kind" = \'withheld\' GROUP BY item',
    )
    assert [(s["tags"]["item"], s["values"][0][1]) for s in withheld] == [("temperature", 8)]
    humidity = influxql(rig.influxdb.url, rig.db, 'SELECT count("relative_humidity") FROM climate')
    assert humidity[0]["values"][0][1] == 168
    metrics = scrape(bridge)
    for reason, count in dead.items():
        assert metrics[f'leedswin_bridge_dead_lettered_total{{reason="{reason}"}}'] == count
    assert metrics['leedswin_bridge_withheld_total{field="temperature"}'] == 8
    assert metrics["leedswin_bridge_written_total"] == 168
    assert metrics["leedswin_bridge_in_flight"] == 0
    code, output = bridge.terminate()
    assert code == 0, output

"""Event-level cases (``cases/*.json``, as a broker delivers them) and their right handling.

- An uplink whose payload the network server could not decrypt is never decoded:
  a dead letter with reason ``encrypted``, tagged with the device.
- A simulated uplink (The Things Stack console) is acknowledged and stored nowhere.
- An empty payload whose key is left out is handled exactly like an empty one.
"""

from __future__ import annotations

import base64
import copy
import json
from pathlib import Path
from typing import Any

import orjson
import pytest

import decoders
from gateway_bridge.events import parse_time
from gateway_bridge.pipeline import DeadLettered, Pipeline, Skipped
from gateway_bridge.resolve import Resolver
from storage.points import to_line
from tests.gateway_bridge import samples
from tests.gateway_bridge.test_service import Rig

CASES = Path(__file__).parent / "cases"


def case(name: str) -> tuple[str, dict[str, Any]]:
    body = json.loads((CASES / f"{name}.json").read_text())
    return body["topic"], body["event"]


def dead_letter(topic: str, event: bytes) -> tuple[DeadLettered, dict[str, Any]]:
    outcome = Pipeline(Resolver()).process(topic, event, received_ns=1)
    assert isinstance(outcome, DeadLettered), outcome
    (point,) = outcome.points
    to_line(point)
    return outcome, {**dict(point.tags), **point.fields, "time_ns": point.time_ns}


@pytest.mark.parametrize("encoding", ["json", "protobuf"])
def test_chirpstack_uplink_with_join_server_context_is_never_decoded(encoding: str) -> None:
    topic, event = case("chirpstack-v4-encrypted-joinservercontext")
    ciphertext = base64.b64decode(event["data"])
    # Decoded as plaintext, this ciphertext would be a count of people at a public site.
    assert decoders.decode("paxcounter", 1, ciphertext)
    raw = orjson.dumps(event) if encoding == "json" else samples.chirpstack_protobuf(event)
    outcome, point = dead_letter(topic, raw)
    assert outcome.reason == "encrypted"
    assert point["reason"] == "encrypted"
    assert {k: point[k] for k in ("dev_eui", "model", "site", "privacy", "need")} == {
        "dev_eui": "70b3d57ed0000001",
        "model": "paxcounter",
        "site": "briggate",
        "privacy": "public",
        "need": "footfall",
    }
    assert point["time_ns"] == parse_time("2025-01-15T08:00:00.123456+00:00")
    assert point["f_port"] == 1 and point["payload_hex"] == ciphertext.hex()
    assert point["error"].startswith(f"device 70b3d57ed0000001 fPort 1 payload {ciphertext.hex()}")
    assert "joinServerContext" in point["error"]


def test_tts_uplink_with_app_s_key_is_never_decoded() -> None:
    """The Things Stack sends the AppSKey along when payload crypto is skipped for a device."""
    topic, event = case("tts-v3-empty-payload-key-omitted")
    event["uplink_message"]["frm_payload"] = "W/goJw=="
    event["uplink_message"]["app_s_key"] = {"kek_label": "as", "encrypted_key": "AAAA"}
    outcome, point = dead_letter(topic, orjson.dumps(event))
    assert outcome.reason == "encrypted" and "app_s_key" in point["error"]
    assert point["model"] == "dragino-lht65n" and point["privacy"] == "public"


def test_simulated_uplink_is_acknowledged_stored_nowhere_and_counted() -> None:
    topic, event = case("tts-v3-simulated-uplink")
    assert Pipeline(Resolver()).process(topic, orjson.dumps(event)) == Skipped("simulated")
    rig = Rig()
    rig.deliver(11, orjson.dumps(event), topic)
    assert rig.writer.submissions == [] and rig.client.published == []
    assert rig.client.acks == [(11, 1)]
    assert rig.metric("leedswin_bridge_skipped_total", reason="simulated") == 1
    assert rig.metric("leedswin_bridge_decoded_total") == 0


def test_the_same_uplink_unsimulated_would_have_been_decoded() -> None:
    """So it is the flag, not the payload, that keeps it out."""
    topic, event = case("tts-v3-simulated-uplink")
    del event["simulated"]
    outcome = Pipeline(Resolver()).process(topic, orjson.dumps(event))
    assert not isinstance(outcome, Skipped)


def test_an_omitted_empty_payload_is_handled_like_an_empty_one() -> None:
    topic, event = case("tts-v3-empty-payload-key-omitted")
    assert "frm_payload" not in event["uplink_message"]
    with_empty = copy.deepcopy(event)
    with_empty["uplink_message"]["frm_payload"] = ""
    pipeline = Pipeline(Resolver())
    omitted = pipeline.process(topic, orjson.dumps(event), received_ns=1)
    expected = pipeline.process(topic, orjson.dumps(with_empty), received_ns=2)
    assert omitted == expected
    assert not (isinstance(omitted, DeadLettered) and omitted.reason == "bad_event")
    for point in omitted.points:
        tags = dict(point.tags)
        assert point.time_ns == parse_time("2025-01-15T08:00:00.140Z")
        assert (tags["dev_eui"], tags["model"]) == ("a840410000000001", "dragino-lht65n")
        assert (tags["site"], tags["privacy"]) == ("briggate", "public")

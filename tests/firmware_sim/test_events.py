"""The three formats carry the same uplink, parse back with the real libraries, and repeat per seed."""

from __future__ import annotations

import base64
import re
import uuid

import orjson
import pytest
from chirpstack_api import integration
from google.protobuf import json_format

from decoders import decode
from firmware_sim.events import FORMATS, application_id
from firmware_sim.publisher import SimOptions, simulate

RFC3339_NS_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}\+00:00$")
START = 1_700_000_000.0


def _run(fmt: str = "chirpstack-json", **overrides: object) -> list[tuple[str, bytes, str]]:
    options = SimOptions(
        **{"devices": 12, "uplinks": 4, "seed": 5, "format": fmt, "start": START} | overrides
    )  # type: ignore[arg-type]
    return list(simulate(options))


@pytest.mark.parametrize("fmt", FORMATS)
def test_same_seed_same_events(fmt: str) -> None:
    assert _run(fmt) == _run(fmt)
    assert _run(fmt) != _run(fmt, seed=6)


def test_chirpstack_json_has_the_v4_field_set() -> None:
    messages = _run()
    seen_ids, times = set(), {}
    for topic, body, _ in messages:
        event = orjson.loads(body)
        info = event["deviceInfo"]
        assert topic == f"application/{info['applicationId']}/device/{info['devEui']}/event/up"
        assert info["devEui"] == info["devEui"].lower() and len(info["devEui"]) == 16
        assert info["deviceProfileName"] == info["tags"]["model"]
        assert set(info["tags"]) == {"model", "site", "privacy", "ward"}
        assert info["tags"]["privacy"] in ("public", "home")
        if info["tags"]["privacy"] == "home":
            assert re.fullmatch(r"home-\d{4}", info["tags"]["site"])
        assert RFC3339_NS_UTC.match(event["time"])
        assert 1 <= len(event["rxInfo"]) <= 3
        assert {"frequency", "modulation"} <= event["txInfo"].keys()
        assert event["deduplicationId"] not in seen_ids
        seen_ids.add(event["deduplicationId"])
        times.setdefault(info["devEui"], set()).add(event["time"])
        parsed = json_format.Parse(body, integration.UplinkEvent(), ignore_unknown_fields=True)
        assert parsed.data == base64.b64decode(event["data"])
        assert parsed.f_cnt == event["fCnt"] and parsed.dev_addr == event["devAddr"]
        decode(info["deviceProfileName"], event["fPort"], parsed.data)
    assert all(len(t) == 4 for t in times.values())


def test_protobuf_carries_exactly_the_json_content() -> None:
    for (topic_j, body_j, _), (topic_p, body_p, _) in zip(
        _run(), _run("chirpstack-protobuf"), strict=True
    ):
        assert topic_j == topic_p
        from_json = json_format.Parse(body_j, integration.UplinkEvent(), ignore_unknown_fields=True)
        assert integration.UplinkEvent.FromString(body_p) == from_json


def test_tts_uplinks() -> None:
    for (_, body_j, _), (topic, body, _) in zip(_run(), _run("tts"), strict=True):
        cs, tts = orjson.loads(body_j), orjson.loads(body)
        ids = tts["end_device_ids"]
        assert topic == f"v3/leedswin@ttn/devices/{ids['device_id']}/up"
        assert ids["dev_eui"] == cs["deviceInfo"]["devEui"].upper()
        up = tts["uplink_message"]
        assert up["frm_payload"] == cs["data"] and up["f_port"] == cs["fPort"]
        assert up.get("f_cnt", 0) == cs["fCnt"]
        assert tts["received_at"].endswith("Z") and tts["received_at"][:29] == cs["time"][:29]
        assert isinstance(up["settings"]["frequency"], str)
        assert up["version_ids"]["model_id"] == cs["deviceInfo"]["deviceProfileName"]
        assert up["rx_metadata"] and all("rssi" in rx and "snr" in rx for rx in up["rx_metadata"])


def test_application_id_is_fixed_by_the_seed() -> None:
    assert application_id(1) == application_id(1) != application_id(2)
    assert uuid.UUID(application_id(1)).version == 4

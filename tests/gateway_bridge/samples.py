"""Realistic uplink events of the three kinds the bridge reads, shaped like the servers' own."""

from __future__ import annotations

import base64
from typing import Any

import orjson
from chirpstack_api import integration
from google.protobuf import json_format

APP = "5e1c9f7a-3b2d-4c1e-9a8f-0d6b2e4f1a3c"
DEV_EUI = "a84041000181c061"
TIME = "2026-11-23T21:15:59.123456789+00:00"
TIME_NS = 1795468559123456789


def chirpstack_dict(
    payload: bytes = b"\x01\x02",
    *,
    dev_eui: str = DEV_EUI,
    f_port: int = 5,
    f_cnt: int = 42,
    profile: str = "elsys-ers",
    tags: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A ChirpStack v4 `up` event as its MQTT integration writes it (pbjson, emit_fields)."""
    return {
        "deduplicationId": "3f1c2a4e-8b7d-4e2a-9c1f-5a6b7c8d9e0f",
        "time": TIME,
        "deviceInfo": {
            "tenantId": "52f14cd4-c6f1-4fbd-8f87-4025e1d49242",
            "tenantName": "Leeds City Council",
            "applicationId": APP,
            "applicationName": "leeds-win",
            "deviceProfileId": "0f2e3d4c-5b6a-4978-8695-a4b3c2d1e0f9",
            "deviceProfileName": profile,
            "deviceName": "ers-chapeltown-01",
            "devEui": dev_eui,
            "deviceClassEnabled": "CLASS_A",
            "tags": {"site": "chapeltown", "privacy": "public", "ward": "Chapel Allerton"}
            if tags is None
            else tags,
        },
        "devAddr": "0072b3c4",
        "adr": True,
        "dr": 5,
        "fCnt": f_cnt,
        "fPort": f_port,
        "confirmed": False,
        "data": base64.b64encode(payload).decode(),
        "rxInfo": [
            {
                "gatewayId": "0016c001ff10a235",
                "uplinkId": 4061,
                "gwTime": "2026-11-23T21:15:59.120000+00:00",
                "nsTime": "2026-11-23T21:15:59.130000+00:00",
                "rssi": -97,
                "snr": 7.5,
                "channel": 2,
                "location": {},
                "context": "EFwMtA==",
                "metadata": {"region_config_id": "eu868"},
                "crcStatus": "CRC_OK",
            },
            {
                "gatewayId": "0016c001ff10a236",
                "uplinkId": 1177,
                "rssi": -88,
                "snr": 9.25,
                "channel": 2,
                "context": "EFwMtB==",
                "crcStatus": "CRC_OK",
            },
        ],
        "txInfo": {
            "frequency": 868300000,
            "modulation": {
                "lora": {"bandwidth": 125000, "spreadingFactor": 7, "codeRate": "CR_4_5"}
            },
        },
    }


def topic_chirpstack(dev_eui: str = DEV_EUI) -> str:
    return f"application/{APP}/device/{dev_eui}/event/up"


def chirpstack_json(body: dict[str, Any] | None = None) -> bytes:
    return orjson.dumps(chirpstack_dict() if body is None else body)


def chirpstack_protobuf(body: dict[str, Any] | None = None) -> bytes:
    """The same event in binary Protobuf, built through protobuf's own JSON mapping."""
    event = json_format.ParseDict(
        chirpstack_dict() if body is None else body,
        integration.UplinkEvent(),
        ignore_unknown_fields=True,
    )
    return event.SerializeToString()


def tts_dict(
    payload: bytes = b"\x01\x02", *, f_port: int | None = 5, f_cnt: int | None = 42
) -> dict[str, Any]:
    """A The Things Stack v3 uplink message; zero values are left out, as TTS does."""
    message: dict[str, Any] = {
        "session_key_id": "AXA50...",
        "frm_payload": base64.b64encode(payload).decode(),
        "rx_metadata": [
            {
                "gateway_ids": {"gateway_id": "leeds-civic-hall", "eui": "B827EBFFFE7B80CD"},
                "time": "2026-11-23T21:15:59.100Z",
                "rssi": -101,
                "channel_rssi": -101,
                "snr": 4.2,
                "channel_index": 3,
            }
        ],
        "settings": {
            "data_rate": {"lora": {"bandwidth": 125000, "spreading_factor": 7}},
            "coding_rate": "4/5",
            "frequency": "868100000",
        },
        "received_at": "2026-11-23T21:15:59.118212311Z",
        "consumed_airtime": "0.061696s",
        "version_ids": {"brand_id": "elsys", "model_id": "ers"},
    }
    if f_port is not None:
        message["f_port"] = f_port
    if f_cnt is not None:
        message["f_cnt"] = f_cnt
    return {
        "end_device_ids": {
            "device_id": "ers-chapeltown-01",
            "application_ids": {"application_id": "leeds-win"},
            "dev_eui": DEV_EUI.upper(),
            "join_eui": "70B3D57ED0000000",
            "dev_addr": "260B1234",
        },
        "correlation_ids": ["as:up:01HXYZ", "gs:uplink:01HXYZ"],
        "received_at": "2026-11-23T21:15:59.123456789Z",
        "uplink_message": message,
    }


TOPIC_TTS = "v3/leeds-win@ttn/devices/ers-chapeltown-01/up"

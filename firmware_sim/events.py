"""Uplink events as the network servers publish them: ChirpStack v4 (JSON, Protobuf) and TTS v3.

One :class:`Uplink` holds everything an event says; the renderers only change
its shape, so the three formats carry the same content. Field sets follow the
network servers' own definitions: ChirpStack v4's ``integration.UplinkEvent``
(chirpstack/chirpstack ``api/proto/integration/integration.proto``, published as
JSON or Protobuf by its MQTT integration) and The Things Stack's
``ApplicationUp``/``ApplicationUplink`` (TheThingsNetwork/lorawan-stack
``api/ttn/lorawan/v3/messages.proto``); what the bridge relies on is in
docs/uplink-events.md.
"""

from __future__ import annotations

import base64
import functools
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import numpy as np
import orjson
from chirpstack_api import common, gw, integration
from google.protobuf.timestamp_pb2 import Timestamp

from firmware_sim.fleet import Device

Format = Literal["chirpstack-json", "chirpstack-protobuf", "tts"]
FORMATS: tuple[Format, ...] = ("chirpstack-json", "chirpstack-protobuf", "tts")

TENANT_ID = "52f14cd4-c6f1-4fbd-8f87-4025e1d49242"
TENANT_NAME = "Leeds City Council"
APPLICATION_NAME = "leedswin-sim"
REGION = "eu868"
REGION_METADATA = {"region_config_id": REGION, "region_common_name": "EU868"}
BANDWIDTH = 125_000
TTS_APPLICATION = "leedswin"
TTS_TENANT = "ttn"


@dataclass(frozen=True)
class GatewayRx:
    gateway_id: str
    rssi: int
    snr: float
    uplink_id: int


@dataclass(frozen=True)
class Uplink:
    """One radio frame of one device as the network server saw it."""

    device: Device
    application_id: str
    deduplication_id: str
    time_ns: int
    f_cnt: int
    f_port: int
    payload: bytes
    rx: tuple[GatewayRx, ...]


@functools.lru_cache(maxsize=4096)
def _second(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")


def rfc3339(time_ns: int, zulu: bool = False) -> str:
    """RFC 3339 with nanoseconds; ChirpStack writes ``+00:00``, protobuf Timestamps and TTS ``Z``."""
    seconds, nanos = divmod(time_ns, 1_000_000_000)
    return f"{_second(seconds)}.{nanos:09d}{'Z' if zulu else '+00:00'}"


@functools.lru_cache(maxsize=256)
def device_profile_id(model: str) -> str:
    """A stable device-profile UUID per model, as ChirpStack would have one profile per model."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"leedswin:{model}"))


def application_id(seed: int) -> str:
    """The ChirpStack application UUID of a simulated fleet (fixed by the seed)."""
    return str(uuid.UUID(bytes=np.random.default_rng([seed, 0xA991]).bytes(16), version=4))


def topic(uplink: Uplink, fmt: Format) -> str:
    if fmt == "tts":
        return f"v3/{TTS_APPLICATION}@{TTS_TENANT}/devices/{tts_device_id(uplink.device)}/up"
    return f"application/{uplink.application_id}/device/{uplink.device.dev_eui}/event/up"


def tts_device_id(device: Device) -> str:
    return f"eui-{device.dev_eui}"


def _device_name(device: Device) -> str:
    return f"{device.model}-{device.dev_eui[-6:]}"


def _data_rate(device: Device) -> int:
    return 12 - device.spreading_factor


def chirpstack_dict(uplink: Uplink) -> dict[str, Any]:
    """The ``up`` event as ChirpStack's JSON marshaller writes it (top-level defaults included)."""
    device = uplink.device
    ns_time = rfc3339(uplink.time_ns, zulu=True)
    return {
        "deduplicationId": uplink.deduplication_id,
        "time": ns_time[:-1] + "+00:00",
        "deviceInfo": {
            "tenantId": TENANT_ID,
            "tenantName": TENANT_NAME,
            "applicationId": uplink.application_id,
            "applicationName": APPLICATION_NAME,
            "deviceProfileId": device_profile_id(device.model),
            "deviceProfileName": device.model,
            "deviceName": _device_name(device),
            "devEui": device.dev_eui,
            "deviceClassEnabled": "CLASS_A",
            "tags": device.tags,
        },
        "devAddr": device.dev_addr,
        "adr": True,
        "dr": _data_rate(device),
        "fCnt": uplink.f_cnt,
        "fPort": uplink.f_port,
        "confirmed": False,
        "data": base64.b64encode(uplink.payload).decode(),
        "rxInfo": [
            {
                "gatewayId": rx.gateway_id,
                "uplinkId": rx.uplink_id,
                "gwTime": ns_time,
                "nsTime": ns_time,
                "rssi": rx.rssi,
                "snr": rx.snr,
                "channel": device.index % 8,
                "location": {},
                "context": base64.b64encode(rx.uplink_id.to_bytes(4, "big")).decode(),
                "metadata": REGION_METADATA,
                "crcStatus": "CRC_OK",
            }
            for rx in uplink.rx
        ],
        "txInfo": {
            "frequency": device.frequency,
            "modulation": {
                "lora": {
                    "bandwidth": BANDWIDTH,
                    "spreadingFactor": device.spreading_factor,
                    "codeRate": "CR_4_5",
                }
            },
        },
        "regionConfigId": REGION,
    }


def chirpstack_json(uplink: Uplink) -> bytes:
    return orjson.dumps(chirpstack_dict(uplink))


def chirpstack_protobuf(uplink: Uplink) -> bytes:
    """Binary ``integration.UplinkEvent`` with exactly the JSON event's content, built directly."""
    device = uplink.device
    seconds, nanos = divmod(uplink.time_ns, 1_000_000_000)
    stamp = Timestamp(seconds=seconds, nanos=nanos)
    event = integration.UplinkEvent(
        deduplication_id=uplink.deduplication_id,
        time=stamp,
        device_info=integration.DeviceInfo(
            tenant_id=TENANT_ID,
            tenant_name=TENANT_NAME,
            application_id=uplink.application_id,
            application_name=APPLICATION_NAME,
            device_profile_id=device_profile_id(device.model),
            device_profile_name=device.model,
            device_name=_device_name(device),
            dev_eui=device.dev_eui,
            device_class_enabled=common.DeviceClass.CLASS_A,
            tags=device.tags,
        ),
        dev_addr=device.dev_addr,
        adr=True,
        dr=_data_rate(device),
        f_cnt=uplink.f_cnt,
        f_port=uplink.f_port,
        confirmed=False,
        data=uplink.payload,
        rx_info=[
            gw.UplinkRxInfo(
                gateway_id=rx.gateway_id,
                uplink_id=rx.uplink_id,
                gw_time=stamp,
                ns_time=stamp,
                rssi=rx.rssi,
                snr=rx.snr,
                channel=device.index % 8,
                location=common.Location(),
                context=rx.uplink_id.to_bytes(4, "big"),
                metadata=REGION_METADATA,
                crc_status=gw.CRCStatus.CRC_OK,
            )
            for rx in uplink.rx
        ],
        tx_info=gw.UplinkTxInfo(
            frequency=device.frequency,
            modulation=gw.Modulation(
                lora=gw.LoraModulationInfo(
                    bandwidth=BANDWIDTH,
                    spreading_factor=device.spreading_factor,
                    code_rate=gw.CodeRate.CR_4_5,
                )
            ),
        ),
        region_config_id=REGION,
    )
    return event.SerializeToString()


def tts_dict(uplink: Uplink) -> dict[str, Any]:
    """The Things Stack v3 ``up`` message; like TTS, zero/false values are left out."""
    device = uplink.device
    at = rfc3339(uplink.time_ns, zulu=True)
    message: dict[str, Any] = {
        "session_key_id": base64.b64encode(bytes.fromhex(device.dev_addr) * 4).decode(),
        "f_port": uplink.f_port,
        "f_cnt": uplink.f_cnt,
        "frm_payload": base64.b64encode(uplink.payload).decode(),
        "rx_metadata": [
            {
                "gateway_ids": {
                    "gateway_id": f"leeds-gw-{rx.gateway_id[-6:]}",
                    "eui": rx.gateway_id.upper(),
                },
                "time": at,
                "timestamp": rx.uplink_id,
                "rssi": rx.rssi,
                "channel_rssi": rx.rssi,
                "snr": rx.snr,
                "channel_index": device.index % 8,
                "received_at": at,
            }
            for rx in uplink.rx
        ],
        "settings": {
            "data_rate": {
                "lora": {
                    "bandwidth": BANDWIDTH,
                    "spreading_factor": device.spreading_factor,
                    "coding_rate": "4/5",
                }
            },
            "frequency": str(device.frequency),
            "time": at,
        },
        "received_at": at,
        # model_id carries the whole model key so a bridge can pick the decoder; TTS
        # forwards no device attributes, so site and privacy come from the registry.
        "version_ids": {
            "brand_id": device.model.partition("-")[0],
            "model_id": device.model,
            "band_id": "EU_863_870",
        },
    }
    return {
        "end_device_ids": {
            "device_id": tts_device_id(device),
            "application_ids": {"application_id": TTS_APPLICATION},
            "dev_eui": device.dev_eui.upper(),
            "join_eui": "70B3D57ED0000000",
            "dev_addr": device.dev_addr.upper(),
        },
        "correlation_ids": [f"as:up:{uplink.deduplication_id}"],
        "received_at": at,
        "uplink_message": {key: value for key, value in message.items() if value not in (0, False)},
    }


def tts_json(uplink: Uplink) -> bytes:
    return orjson.dumps(tts_dict(uplink))


RENDERERS = {
    "chirpstack-json": chirpstack_json,
    "chirpstack-protobuf": chirpstack_protobuf,
    "tts": tts_json,
}


def render(uplink: Uplink, fmt: Format) -> tuple[str, bytes]:
    """(topic, payload) of one uplink in one format."""
    return topic(uplink, fmt), RENDERERS[fmt](uplink)

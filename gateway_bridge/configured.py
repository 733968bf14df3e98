"""Decoding for the pipeline: native decoders, configured codecs, and objects decoded upstream.

``decode_for`` is the pipeline's one decode call. A model key found in the
installed ``decoders.configured`` catalog is decoded by its codec with the
uplink's own time as ``input.recvTime``, or, for a model declared
``decoded: upstream``, read from the object the network server already
decoded; every other key goes to ``decoders.decode_uplink``.

The decoded object is read from the raw event (only for upstream models, so
the hot path parses nothing twice):

- ChirpStack v4 JSON: ``object``; Protobuf: ``UplinkEvent.object`` (a Struct)
  (chirpstack.io/docs/chirpstack/integrations/events.html, "up").
- The Things Stack v3: ``uplink_message.decoded_payload``, and
  ``uplink_message.normalized_payload`` for models without a field map
  (thethingsindustries.com/docs/integrations/payload-formatters/).
"""

from __future__ import annotations

from typing import Any

import orjson
from chirpstack_api import integration
from google.protobuf import json_format
from google.protobuf.message import DecodeError as ProtobufDecodeError

import decoders
from core.errors import DecodeError
from decoders import DecodedUplink
from decoders.configured import ConfiguredModel, active, readings_from_object
from gateway_bridge.events import Uplink

__all__ = ["decode_for", "event_objects"]


def event_objects(topic: str, payload: bytes) -> tuple[Any, Any]:
    """``(decoded, normalized)`` objects of a raw uplink event; None where the event has none."""
    if topic.startswith("v3/"):
        try:
            body = orjson.loads(payload)
        except orjson.JSONDecodeError:
            return None, None
        message = body.get("uplink_message") if isinstance(body, dict) else None
        if not isinstance(message, dict):
            return None, None
        return message.get("decoded_payload"), message.get("normalized_payload")
    if payload.lstrip()[:1] == b"{":
        try:
            body = orjson.loads(payload)
        except orjson.JSONDecodeError:
            return None, None
        return (body.get("object") if isinstance(body, dict) else None), None
    try:
        event = integration.UplinkEvent.FromString(payload)
    except (ProtobufDecodeError, RuntimeWarning, ValueError):
        return None, None
    if not event.HasField("object"):
        return None, None
    return json_format.MessageToDict(event.object), None


def _upstream(model: ConfiguredModel, uplink: Uplink, topic: str, payload: bytes) -> DecodedUplink:
    decoded, normalized = event_objects(topic, payload)
    obj = decoded if model.upstream_object == "decoded" else normalized
    if obj is None:
        what = "decoded object" if model.upstream_object == "decoded" else "normalized payload"
        raise DecodeError(
            f"model is decoded upstream but the event carries no {what}",
            model=model.key,
            f_port=uplink.f_port,
            payload=uplink.payload,
        )
    return readings_from_object(model, obj)


def decode_for(model_key: str, uplink: Uplink, topic: str, payload: bytes) -> DecodedUplink:
    """The uplink decoded for ``model_key``; only ``DecodeError`` (and subclasses) escape."""
    catalog = active()
    model = catalog.get(model_key) if catalog is not None else None
    if model is None:
        return decoders.decode_uplink(model_key, uplink.f_port, uplink.payload)
    if model.codec is None:
        if uplink.f_port not in model.spec.f_ports:
            raise DecodeError(
                f"fPort not used by this model (expects {sorted(model.spec.f_ports)})",
                model=model_key,
                f_port=uplink.f_port,
                payload=uplink.payload,
            )
        return _upstream(model, uplink, topic, payload)
    return model.decode_uplink(uplink.f_port, uplink.payload, uplink.time_ns)

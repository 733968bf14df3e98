"""Payload decoders for the devices Leeds WIN deploys.

``decode_uplink(model_key, f_port, payload)`` returns everything one uplink's
payload says as a ``DecodedUplink``: frames of readings under canonical names
(see ``storage.schema.CANONICAL_UNITS``), each with its own time, the device's
status, values withheld for being outside their physical range, and the parts
that were not decoded. Input that is not a valid frame of that model (wrong
fPort, length, header, checksum) raises a ``DecodeError`` subclass naming
model, fPort and payload; a valid frame that carries no measurement returns
empty ``frames``, never an error.

``decode(model_key, f_port, payload)`` is the simple form: the readings
measured at the uplink's time (frames without their own time, merged), ``{}``
for frames that hold only history or status. Out-of-range values are left out
of it as they are of ``decode_uplink``'s readings.
"""

from __future__ import annotations

import math
from typing import Any

from core.errors import DecodeError, UnknownModelError, UnsupportedPortError
from decoders.registry import SPECS
from decoders.spec import (
    Counter,
    DecodedUplink,
    DecoderSpec,
    FieldSpec,
    Frame,
    Reading,
    UnknownPart,
)

__all__ = [
    "Counter",
    "DecodeError",
    "DecodedUplink",
    "DecoderSpec",
    "FieldSpec",
    "Frame",
    "UnknownPart",
    "decode",
    "decode_uplink",
    "get_spec",
    "supported_models",
]

_BY_KEY: dict[str, DecoderSpec] = {spec.key: spec for spec in SPECS}


def get_spec(model_key: str) -> DecoderSpec:
    """The spec for a native or configured model key; ``UnknownModelError`` if neither."""
    spec = _BY_KEY.get(model_key)
    if spec is None:
        from decoders.configured import configured_spec  # after this module: it imports _checked

        spec = configured_spec(model_key)
    if spec is None:
        raise UnknownModelError("no decoder registered for this model", model=model_key)
    return spec


def decode_uplink(model_key: str, f_port: int, payload: bytes) -> DecodedUplink:
    """Decode one uplink into frames, status and undecoded parts.

    Only ``DecodeError`` (and subclasses) can escape: a decoder bug becomes a
    ``DecodeError`` naming the exception, so one bad frame never stops a stream.
    """
    payload = bytes(payload)
    try:
        spec = get_spec(model_key)
        if f_port not in spec.f_ports:
            raise UnsupportedPortError(
                f"fPort not used by this model (expects {sorted(spec.f_ports)})"
            )
        result = spec.decode(f_port, payload)
        if isinstance(result, DecodedUplink):
            return _checked(spec, result)
        if isinstance(result, dict):
            return _checked(spec, DecodedUplink(frames=(Frame(result),) if result else ()))
        raise DecodeError(f"decoder returned {type(result).__name__}")
    except DecodeError as exc:
        raise exc.with_context(model_key, f_port, payload) from exc.__cause__
    except Exception as exc:  # a decoder bug must not take the stream down
        raise DecodeError(
            f"decoder failed: {type(exc).__name__}: {exc}",
            model=model_key,
            f_port=f_port,
            payload=payload,
        ) from exc


def decode(model_key: str, f_port: int, payload: bytes) -> Reading:
    """The readings measured at the uplink's time; see the module docstring."""
    out: Reading = {}
    for frame in decode_uplink(model_key, f_port, payload).frames:
        if frame.time_ns is None and frame.age_s is None:
            out.update(frame.readings)
    return out


def _checked(spec: DecoderSpec, decoded: DecodedUplink) -> DecodedUplink:
    """Every value declared and a real number; finite values outside their range are withheld."""
    bounds = spec.bounds
    frames: list[Frame] = []
    for frame in decoded.frames:
        readings: Reading = {}
        withheld: Reading = dict(frame.withheld)
        for name, value in frame.readings.items():
            limits = bounds.get(name)
            if limits is None:
                raise DecodeError(f"decoder emitted undeclared field {name!r}")
            kind = type(value)
            if kind is not float and kind is not int:
                raise DecodeError(f"field {name!r} is {kind.__name__}, not a number")
            # A chained comparison is False for NaN, and ±inf fails any finite bound.
            if limits[0] <= value <= limits[1] and math.isfinite(value):
                readings[name] = value
            else:
                withheld[name] = value
        frames.append(Frame(readings, frame.time_ns, frame.age_s, withheld))
    return DecodedUplink(tuple(frames), dict(decoded.status), decoded.unknown)


def supported_models() -> list[dict[str, Any]]:
    """Every model with its need, vendor, fPorts, fields with units, frame kinds and doc link."""
    return [
        {
            "model": spec.key,
            "vendor": spec.vendor,
            "name": spec.model,
            "need": spec.need,
            "f_ports": sorted(spec.f_ports),
            "fields": {f.name: f.unit for f in spec.fields},
            "frames": sorted(spec.frame_kinds),
            "doc_url": spec.doc_url,
        }
        for spec in SPECS
    ]

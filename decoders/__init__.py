"""Payload decoders for the devices Leeds WIN deploys.

``decode(model_key, f_port, payload)`` returns the readings of one uplink under
canonical names (see ``storage.schema.CANONICAL_UNITS``); anything wrong with
the input raises a ``DecodeError`` subclass naming model, fPort and payload.
"""

from __future__ import annotations

import math
from typing import Any

from core.errors import DecodeError, SanityError, UnknownModelError, UnsupportedPortError
from decoders.registry import SPECS
from decoders.spec import DecoderSpec, FieldSpec, Reading

__all__ = ["DecodeError", "DecoderSpec", "FieldSpec", "decode", "get_spec", "supported_models"]

_BY_KEY: dict[str, DecoderSpec] = {spec.key: spec for spec in SPECS}


def get_spec(model_key: str) -> DecoderSpec:
    """The spec for a model key; ``UnknownModelError`` if none is registered."""
    try:
        return _BY_KEY[model_key]
    except KeyError:
        raise UnknownModelError("no decoder registered for this model", model=model_key) from None


def decode(model_key: str, f_port: int, payload: bytes) -> Reading:
    """Decode one uplink; only ``DecodeError`` (and subclasses) can escape."""
    payload = bytes(payload)
    try:
        spec = get_spec(model_key)
        if f_port not in spec.f_ports:
            raise UnsupportedPortError(
                f"fPort not used by this model (expects {sorted(spec.f_ports)})"
            )
        reading = spec.decode(f_port, payload)
        _check(spec, reading)
        return reading
    except DecodeError as exc:
        raise exc.with_context(model_key, f_port, payload) from exc.__cause__
    except Exception as exc:  # a decoder bug must not take the stream down
        raise DecodeError(
            f"decoder failed: {type(exc).__name__}: {exc}",
            model=model_key,
            f_port=f_port,
            payload=payload,
        ) from exc


def _check(spec: DecoderSpec, reading: Reading) -> None:
    """Every value declared, a real number, finite and inside its field's physical range."""
    bounds = spec.bounds
    for name, value in reading.items():
        limits = bounds.get(name)
        if limits is None:
            raise DecodeError(f"decoder emitted undeclared field {name!r}")
        kind = type(value)
        if kind is not float and kind is not int:
            raise DecodeError(f"field {name!r} is {kind.__name__}, not a number")
        # A chained comparison is False for NaN, and ±inf fails any finite bound.
        if not limits[0] <= value <= limits[1] or not math.isfinite(value):
            raise SanityError(f"{name}={value} outside {limits[0]}..{limits[1]}")


def supported_models() -> list[dict[str, Any]]:
    """Every model with its need, vendor, fPorts, fields with units, and documentation link."""
    return [
        {
            "model": spec.key,
            "vendor": spec.vendor,
            "name": spec.model,
            "need": spec.need,
            "f_ports": sorted(spec.f_ports),
            "fields": {f.name: f.unit for f in spec.fields},
            "doc_url": spec.doc_url,
        }
        for spec in SPECS
    ]

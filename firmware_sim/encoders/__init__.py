"""Encoders producing each model's real payload format; the inverse of ``decoders``.

``ENCODERS[model_key](values) -> (f_port, payload)`` where ``values`` maps
canonical (or declared) field names to numbers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

EncodeFn = Callable[[Mapping[str, float]], tuple[int, bytes]]

ENCODERS: dict[str, EncodeFn] = {}

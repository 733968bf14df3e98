"""What every decoder declares before it decodes anything.

A family module (one per vendor payload format) defines a pure
``decode(f_port, payload) -> dict[str, float]`` and one ``DecoderSpec`` per
model key that speaks the format. The spec is plain data: the README's device
table, ``supported_models()`` and the tests are all generated from it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal

Need = Literal["damp", "air_quality", "footfall"]
Reading = dict[str, float]
DecodeFn = Callable[[int, bytes], Reading]


@dataclass(frozen=True)
class FieldSpec:
    """One key a decoder may emit, with its unit and the physical range it must fall in."""

    name: str
    unit: str
    minimum: float
    maximum: float
    description: str = ""


@dataclass(frozen=True)
class DecoderSpec:
    """A model key bound to its format's decode function and its declared output."""

    key: str
    vendor: str
    model: str
    need: Need
    f_ports: frozenset[int]
    fields: tuple[FieldSpec, ...]
    doc_url: str
    decode: DecodeFn = field(repr=False, compare=False)

    @cached_property
    def _fields_by_name(self) -> Mapping[str, FieldSpec]:
        return {f.name: f for f in self.fields}

    def field_map(self) -> Mapping[str, FieldSpec]:
        """Fields by name, built once."""
        return self._fields_by_name

    @cached_property
    def bounds(self) -> Mapping[str, tuple[float, float]]:
        """(minimum, maximum) by field name: the hot path of ``decode``'s range check."""
        return {f.name: (f.minimum, f.maximum) for f in self.fields}

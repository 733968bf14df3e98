"""What every decoder declares before it decodes anything, and what it returns.

A family module (one per vendor payload format) defines a pure
``decode(f_port, payload)`` and one ``DecoderSpec`` per model key that speaks
the format. The spec is plain data: the README's device table,
``supported_models()`` and the tests are all generated from it.

A family's ``decode`` returns either a plain ``Reading`` (one set of values at
the uplink's time; ``{}`` for a valid frame that carries none) or a full
``DecodedUplink`` when the frame holds history, device status or parts the
decoder does not know. ``decoders.decode_uplink`` turns both into a checked
``DecodedUplink``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal

from core.needs import Need

FrameKind = Literal["readings", "history", "status"]
Reading = dict[str, float]
#: Device status values: firmware versions, settings, alarms, raw clock values.
StatusValue = str | int | float | bool
Status = dict[str, StatusValue]


@dataclass(frozen=True, slots=True)
class Counter:
    """How a counting field counts: its register width and whether it accumulates.

    ``cumulative`` counters grow until they wrap at ``2**bits`` or the device
    resets them; ``per_period`` counts restart at 0 for each report.
    """

    bits: int
    kind: Literal["cumulative", "per_period"]


@dataclass(frozen=True, slots=True)
class Frame:
    """One set of readings and the time they were measured.

    At most one of ``time_ns`` (the device's own absolute clock, ns since the
    Unix epoch, as sent: possibly never set) and ``age_s`` (seconds before the
    uplink) is given; neither means "at the uplink's time". ``withheld`` holds
    values kept out of ``readings`` because they are outside the field's
    physical range (filled by ``decoders.decode_uplink``).
    """

    readings: Reading
    time_ns: int | None = None
    age_s: float | None = None
    withheld: Reading = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class UnknownPart:
    """Bytes a decoder skipped or could not walk past: where they start and what they are."""

    offset: int
    hex: str
    note: str = ""


@dataclass(frozen=True, slots=True)
class DecodedUplink:
    """Everything one uplink's payload says.

    - ``frames``: readings, each with its own time; empty for a valid frame that
      carries no measurement (a version report, a configuration reply, a button).
    - ``status``: what the frame says that is not a measurement.
    - ``unknown``: parts of the payload that were not decoded, by offset.
    """

    frames: tuple[Frame, ...] = ()
    status: Status = field(default_factory=dict)
    unknown: tuple[UnknownPart, ...] = ()

    @property
    def withheld(self) -> Reading:
        """Canonical name -> value withheld for being out of range (latest frame wins)."""
        out: Reading = {}
        for frame in self.frames:
            out.update(frame.withheld)
        return out


DecodeFn = Callable[[int, bytes], "Reading | DecodedUplink"]


@dataclass(frozen=True)
class FieldSpec:
    """One key a decoder may emit, with its unit and the physical range it must fall in."""

    name: str
    unit: str
    minimum: float
    maximum: float
    description: str = ""
    counter: Counter | None = None


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
    #: Which kinds of frame the model's decoder understands: ``readings`` (values
    #: at the uplink's time), ``history`` (values with their own time) and
    #: ``status`` (firmware, settings, alarms). Shown in the README's device table.
    frame_kinds: frozenset[FrameKind] = frozenset({"readings"})

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

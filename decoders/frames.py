"""Building blocks the family decoders share to return a ``DecodedUplink``.

``Uplink`` collects what one payload says while a decoder walks it: readings at
the uplink's time, history records with the device's own time, device status and
the parts that were not decoded. ``result()`` gives the plain ``Reading`` when the
payload held nothing but readings at the uplink's time (the fast, common case)
and a ``DecodedUplink`` otherwise.

Device clocks that were never set
---------------------------------
A sensor whose real-time clock was never set (battery change, no time-sync
downlink yet) stamps its records with a time counted from its own epoch: 1970
for a Unix clock, 2015 for a Laird RS1xx. Such a time must not put readings in
the past. ``history()`` treats any device time before ``CLOCK_VALID_FROM``
(2020-01-01 UTC) as "clock not set": it keeps the spacing between the records of
the frame and anchors the newest one at the uplink's time (each frame gets
``age_s`` = newest raw time - its raw time, instead of ``time_ns``). It then
sets ``status["clock_unset"] = True`` (the bridge counts it) and keeps the raw
newest time in ``status["device_time_raw_s"]`` (unless the family put the time as sent there
itself, as the Laird aggregated message does). Times after 2020 are passed on as
sent (``time_ns``); only the bridge knows the uplink's time, so a clock far in
the future is the bridge's to detect.
"""

from __future__ import annotations

from collections.abc import Iterable

from decoders.spec import DecodedUplink, Frame, Reading, Status, StatusValue, UnknownPart

#: 2020-01-01T00:00:00Z: a device time before this means the clock was never set.
CLOCK_VALID_FROM = 1_577_836_800
_NS = 1_000_000_000


class Uplink:
    """Accumulates one payload's readings, history, status and undecoded parts."""

    __slots__ = ("now", "history_records", "status", "unknown")

    def __init__(self) -> None:
        self.now: Reading = {}
        self.history_records: list[tuple[int, Reading]] = []
        self.status: Status = {}
        self.unknown: list[UnknownPart] = []

    def record(self, unix_s: int, readings: Reading) -> None:
        """A history record stamped by the device's clock (seconds since 1970, as sent)."""
        self.history_records.append((unix_s, readings))

    def set(self, key: str, value: StatusValue) -> None:
        self.status[key] = value

    def skip(self, payload: bytes, start: int, end: int | None = None, note: str = "") -> None:
        """Report ``payload[start:end]`` as not decoded (nothing if the slice is empty)."""
        part = payload[start:end]
        if part:
            self.unknown.append(UnknownPart(start, part.hex(), note))

    def result(self) -> Reading | DecodedUplink:
        if not (self.history_records or self.status or self.unknown):
            return self.now
        frames = list(history(self.history_records, self.status))
        if self.now:
            frames.append(Frame(self.now))
        return DecodedUplink(tuple(frames), self.status, tuple(self.unknown))


def history(records: Iterable[tuple[int, Reading]], status: Status) -> list[Frame]:
    """Frames for records stamped ``unix_s`` by the device; see the module docstring."""
    records = [(t, r) for t, r in records if r]
    if not records:
        return []
    newest = max(t for t, _ in records)
    if min(t for t, _ in records) >= CLOCK_VALID_FROM:
        return [Frame(r, time_ns=t * _NS) for t, r in records]
    status["clock_unset"] = True
    status.setdefault("device_time_raw_s", newest)
    return [Frame(r, age_s=float(newest - t)) for t, r in records]

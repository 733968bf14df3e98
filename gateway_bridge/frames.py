"""Where each decoded frame goes in time, with a sanity check on the device's clock.

A frame is at the uplink's time, at an age before it, or at the device's own
clock. A device clock that was never set counts from 1970 (or from its
firmware's build date), and one that drifted can be far ahead; written as
they are, such readings would land years away from when they were measured.

The rule, from the uplink's time T alone (so a replayed event gets the same
times):

- A device time is believable from ``CLOCK_FLOOR_NS`` (2020-01-01T00:00:00Z,
  before any device of this network was installed) to ``CLOCK_AHEAD_NS`` (10
  minutes) after T. No record can be measured after the uplink that carries
  it; the 10 minutes absorb the error between the network server's clock and a
  device kept on time by time-sync requests, and anything further ahead is a
  wrong clock, which anchoring at T corrects best.
- If the newest device time of the uplink is not believable, the clock is
  wrong: every device-timed frame is shifted by the same amount so the newest
  lands at T, keeping the spacing the device recorded. The raw time and the
  shift are returned so the bridge can keep them as device status and count
  the correction.
- A frame whose time is still not believable (an older record from before a
  clock was set, an age that reaches before 2020 or is not a number) cannot be
  placed: its readings are withheld, never written at a wrong time.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from decoders import Frame

#: 2020-01-01T00:00:00Z in ns since the epoch.
CLOCK_FLOOR_NS: Final = 1_577_836_800 * 1_000_000_000
#: How far after the uplink a device's clock may be and still be believed.
CLOCK_AHEAD_NS: Final = 600 * 1_000_000_000


@dataclass(frozen=True, slots=True)
class ClockCorrection:
    """The device clock was not believable: its newest raw time and the shift applied (ns)."""

    device_time_ns: int
    shift_ns: int
    cause: str


@dataclass(frozen=True, slots=True)
class Placement:
    """The time of each frame (None: cannot be placed) and the clock correction, if any."""

    times: tuple[int | None, ...]
    correction: ClockCorrection | None = None


def believable(time_ns: int, uplink_ns: int) -> bool:
    return CLOCK_FLOOR_NS <= time_ns <= uplink_ns + CLOCK_AHEAD_NS


def place_frames(uplink_ns: int, frames: Sequence[Frame]) -> Placement:
    """Each frame's time in ns from the uplink's time ``uplink_ns``; see the module docstring."""
    device_times = [frame.time_ns for frame in frames if frame.time_ns is not None]
    shift = 0
    correction = None
    if device_times:
        newest = max(device_times)
        if not believable(newest, uplink_ns):
            shift = uplink_ns - newest
            cause = (
                "device clock before 2020-01-01 (never set)"
                if newest < CLOCK_FLOOR_NS
                else "device clock more than 10 minutes ahead of the uplink"
            )
            correction = ClockCorrection(newest, shift, cause)
    times: list[int | None] = []
    for frame in frames:
        time: int | None
        if frame.time_ns is not None:
            time = frame.time_ns + shift
        elif frame.age_s is not None:
            age_ns = frame.age_s * 1e9
            time = uplink_ns - round(age_ns) if math.isfinite(age_ns) else None
        else:
            times.append(uplink_ns)
            continue
        times.append(time if time is not None and believable(time, uplink_ns) else None)
    return Placement(tuple(times), correction)

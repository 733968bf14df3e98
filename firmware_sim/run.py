"""One simulator run end to end: fleet, messages, publishing, counts (the `leedswin sim` API)."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass

from core.settings import MqttSettings
from firmware_sim.publisher import DEFAULT_IN_FLIGHT, SimOptions, publish, simulate


@dataclass(frozen=True)
class SimResult:
    """Counts of one run. ``published`` counts distinct valid uplinks only; the rest are extra messages."""

    published: int
    duplicates: int
    corrupt: int
    unknown: int
    messages: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.messages / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self) | {"rate": round(self.rate, 1)}


def run_simulation(
    mqtt: MqttSettings,
    options: SimOptions,
    rate: float = 0.0,
    stop: threading.Event | None = None,
    max_in_flight: int = DEFAULT_IN_FLIGHT,
    on_message: Callable[[Counter[str]], None] | None = None,
) -> SimResult:
    """Simulate and publish; blocks until every message is acknowledged (or ``stop`` is set)."""
    began = time.monotonic()
    counts = publish(
        simulate(options, stop),
        mqtt,
        rate=rate,
        max_in_flight=max_in_flight,
        stop=stop,
        on_message=on_message,
    )
    return SimResult(
        published=counts["uplink"],
        duplicates=counts["duplicate"],
        corrupt=counts["corrupt"],
        unknown=counts["unknown"],
        messages=sum(counts.values()),
        seconds=round(time.monotonic() - began, 3),
    )

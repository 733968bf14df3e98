"""Identical concurrent reads computed once, and their answer kept for a short time.

A dashboard refresh or a city app's clients ask the same question at the same
moment; each answer costs an InfluxDB query. ``Coalescer.get(key, compute)``
runs ``compute`` once per key while it is running (callers that ask meanwhile
wait for that answer) and serves the answer to identical asks for ``ttl``
seconds after it finished (``ANSWER_TTL``: 2 s, documented in the README; rollup rows
read for an aggregate's whole hours: ``SPAN_TTL``).
Failures are not kept: the callers waiting share the error, the next ask
computes again.

The key is the caller's business: it must hold everything that determines the
answer, the caller's visibility included (``api.scoped`` keys by whether the
principal sees homes and by the public filter in force), so a public caller
can never be served an answer computed for a housing key.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from typing import Any, Final

__all__ = ["ANSWER_TTL", "SPAN_BUCKETS", "SPAN_ENTRIES", "SPAN_TTL", "Coalescer"]

#: Seconds an answer is served again to identical asks.
ANSWER_TTL: Final = 2.0
#: Most answers kept; expired ones are dropped first when the table is full.
MAX_ENTRIES: Final = 512
#: Seconds rollup rows read for the whole hours of an aggregate are kept (``api.scoped``):
#: requests whose ranges differ by less than an hour share them and read only their partial
#: hours. The span the rollups hold is in the key, so rows are not served past an erasure or
#: reclassification (which end it); hours the rollup job recomputes inside it (late data) are
#: seen within this time, on top of the job's own interval.
SPAN_TTL: Final = 60.0
#: Most rollup reads kept, and the most buckets (or raw points) they may hold together: about
#: 275 bytes each as Python objects, so about 80 MB. A site's 125 devices × 30 days of hours
#: are 90,000; a read larger than the whole budget (every device of the city by hour) is
#: shared with the asks waiting for it, not kept.
SPAN_ENTRIES: Final = 64
SPAN_BUCKETS: Final = 300_000


class _Entry:
    __slots__ = ("at", "cost", "done", "error", "value")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.value: Any = None
        self.error: BaseException | None = None
        self.at = 0.0
        self.cost = 0


class Coalescer:
    """Thread-safe: request handlers run in a thread pool.

    ``cost``/``max_cost``: the answers kept together cost at most ``max_cost`` (say, buckets
    held); the oldest go first, and an answer costing more than that on its own is shared
    with the asks waiting for it but not kept."""

    def __init__(
        self,
        ttl: float = ANSWER_TTL,
        max_entries: int = MAX_ENTRIES,
        *,
        cost: Callable[[Any], int] | None = None,
        max_cost: int | None = None,
    ) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._cost = cost
        self.max_cost = max_cost
        self._held = 0
        self._lock = threading.Lock()
        self._entries: dict[Hashable, _Entry] = {}
        #: Answers computed, and asks served by another ask's computation (for tests, metrics).
        self.computed = 0
        self.shared = 0

    def get(self, key: Hashable, compute: Callable[[], Any]) -> Any:
        """``compute()``'s answer for ``key``: shared with identical asks running or recent."""
        with self._lock:
            entry = self._entries.get(key)
            now = time.monotonic()
            if entry is not None and entry.done.is_set() and now - entry.at >= self.ttl:
                entry = None
            owner = entry is None
            if owner:
                entry = _Entry()
                self._prune(now)
                self._entries[key] = entry
                self.computed += 1
            else:
                self.shared += 1
        assert entry is not None
        if not owner:
            entry.done.wait()
            if entry.error is not None:
                raise entry.error
            return entry.value
        try:
            entry.value = compute()
        except BaseException as exc:
            entry.error = exc
            with self._lock:
                self._drop(key, entry)
            raise
        finally:
            entry.at = time.monotonic()
            entry.done.set()
        if self._cost is not None and self.max_cost is not None:
            cost = self._cost(entry.value)
            with self._lock:
                if self._entries.get(key) is entry:
                    if cost > self.max_cost:
                        self._drop(key, entry)
                    else:
                        entry.cost = cost
                        self._held += cost
                        self._shed(key)
        return entry.value

    def _drop(self, key: Hashable, entry: _Entry) -> None:
        if self._entries.get(key) is entry:
            del self._entries[key]
            self._held -= entry.cost

    def _shed(self, keep: Hashable) -> None:
        """Drop the oldest finished answers (not ``keep``) until the kept cost fits."""
        assert self.max_cost is not None
        if self._held <= self.max_cost:
            return
        finished = [(e.at, k) for k, e in self._entries.items() if e.done.is_set() and k != keep]
        for _, key in sorted(finished, key=lambda pair: pair[0]):
            self._drop(key, self._entries[key])
            if self._held <= self.max_cost:
                return

    def _prune(self, now: float) -> None:
        if len(self._entries) < self.max_entries:
            return
        for key, entry in list(self._entries.items()):
            if entry.done.is_set() and now - entry.at >= self.ttl:
                self._drop(key, entry)
        while len(self._entries) >= self.max_entries:
            # Still full of fresh answers: drop the oldest finished one.
            finished = [(e.at, k) for k, e in self._entries.items() if e.done.is_set()]
            if not finished:
                break
            oldest = min(finished, key=lambda pair: pair[0])[1]
            self._drop(oldest, self._entries[oldest])

"""The spool as the writer's overflow: when an outage is old enough, failing batches go to disk.

An outage longer than ``spill_after`` seconds moves each failing batch to the
``Spool`` so its submissions can be called back as done: the points are
durable, so their messages can be acknowledged before the broker's queue
overflows. A full spool takes nothing: the batch is then held and retried
with no callback, the in-flight window fills and the broker holds the rest.
Only an outage spills (``RetryableSinkError``); a misconfigured InfluxDB
(``MisconfiguredSinkError``) never does, since disk cannot fix credentials.

Spooled segments are replayed, oldest first, by the writer thread between
live batches (and whenever idle) once writes succeed again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import NamedTuple

from core.errors import PermanentSinkError
from storage.metrics import WriterMetrics
from storage.spool import Segment, Spool

__all__ = ["Failure", "Overflow"]

log = logging.getLogger(__name__)


class Failure(NamedTuple):
    """A write InfluxDB did not answer for the data: try again later.

    ``misconfigured`` marks a ``MisconfiguredSinkError``: held, never spilled.
    """

    error: Exception
    retry_after: float | None
    misconfigured: bool = False


#: One write attempt: None if taken, the error if the data was refused, else a ``Failure``.
Attempt = Callable[[bytes], PermanentSinkError | Failure | None]


class Overflow:
    """Spill policy and replay around one ``Spool`` (or none: then nothing ever spills)."""

    def __init__(
        self,
        spool: Spool | None,
        spill_after: float,
        metrics: WriterMetrics | None,
        backoff: Callable[[int], float],
    ) -> None:
        self.spool = spool
        self._spill_after = spill_after
        self._metrics = metrics
        self._backoff = backoff
        self._outage_since: float | None = None
        self._full = False
        self._next_drain = 0.0
        self._drain_failures = 0
        #: Called with each segment's body once InfluxDB took it (``BatchWriter.set_replayed``).
        self.on_replayed: Callable[[bytes], None] | None = None

    def failed(self, failure: Failure) -> None:
        """Start (or keep) the outage clock; a misconfiguration is not an outage and stops it."""
        if failure.misconfigured:
            self._outage_since = None
        elif self._outage_since is None:
            self._outage_since = time.monotonic()

    def succeeded(self) -> None:
        self._outage_since = None

    def spill(self, body: bytes, count: int) -> bool:
        """Move a failing body to the spool once the outage is old enough and there is room."""
        if self.spool is None or self._outage_since is None:
            return False
        if time.monotonic() - self._outage_since < self._spill_after:
            return False
        try:
            stored = self.spool.append(body, count)
        except OSError:
            log.exception("event=spool_write_failed points=%d note='batch held instead'", count)
            stored = False
        self.set_full(not stored)
        if stored:
            log.debug("event=spilled points=%d spool_bytes=%d", count, self.spool.bytes)
        return stored

    def set_full(self, full: bool) -> None:
        if full == self._full:
            return
        self._full = full
        if full and self.spool is not None:
            log.warning(
                "event=spool_full bytes=%d max_bytes=%d note=%r",
                self.spool.bytes,
                self.spool.max_bytes,
                "holding batches unacknowledged until InfluxDB is back",
            )
        if self._metrics:
            self._metrics.spool_full.set(1 if full else 0)

    def drain_one(self, attempt: Attempt) -> None:
        """Replay the oldest spooled segment if writes are due to be tried again."""
        if self.spool is None or not len(self.spool) or time.monotonic() < self._next_drain:
            return
        segment = self.spool.oldest()
        if segment is None:
            return
        if not self._replay(segment, attempt):
            self._next_drain = time.monotonic() + self._backoff(self._drain_failures)
            self._drain_failures = min(self._drain_failures + 1, 32)
            return
        self._drain_failures = 0
        if self.on_replayed is not None:
            try:
                self.on_replayed(segment.body)
            except Exception:
                log.exception("event=on_replayed_failed points=%d", segment.points)
        self.spool.remove(segment)
        if self._metrics:
            self._metrics.drained_batches.inc()
            self._metrics.drained_points.inc(segment.points)
        if not len(self.spool):
            log.info("event=spool_drained")

    def _replay(self, segment: Segment, attempt: Attempt) -> bool:
        """Write a segment, bisecting around refused lines (logged and counted: their
        messages were acknowledged when spilled). False if InfluxDB failed again."""
        bodies = [segment.body]
        while bodies:
            body = bodies.pop()
            answer = attempt(body)
            if answer is None:
                continue
            if isinstance(answer, Failure):
                return False
            lines = body.split(b"\n")
            if len(lines) == 1:
                log.error("event=spooled_point_refused error=%r line=%r", str(answer), body[:500])
                if self._metrics:
                    self._metrics.rejected_points.inc()
                continue
            mid = len(lines) // 2
            bodies.append(b"\n".join(lines[mid:]))
            bodies.append(b"\n".join(lines[:mid]))
        return True

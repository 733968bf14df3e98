"""The submission buffer: what callers hand the batch writer, cut into batches and called back in order.

A submission is one caller's points and its ``on_done``. The buffer queues
them, hands out batches by size and by age (or at once on ``flush``/close),
encodes them to line protocol, and calls each submission back once all of
its points are resolved, strictly in submission order. It does no I/O: the
writer loop (``storage.batcher``) decides what happened to each point.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from typing import NamedTuple

from core.errors import PermanentSinkError
from storage.metrics import WriterMetrics
from storage.points import Point, to_line

__all__ = ["Abandoned", "Batch", "DoneCallback", "Submission", "SubmissionBuffer"]

#: Called once per submission: None if every point is stored, else the first refusal.
DoneCallback = Callable[[PermanentSinkError | None], None]


class Abandoned(Exception):
    """close() gave up waiting: leave without calling back (the broker will redeliver)."""


class Submission:
    """One caller's points, how many are taken into batches and how many are still unresolved."""

    __slots__ = ("points", "on_done", "seq", "submitted", "taken", "remaining", "error")

    def __init__(
        self, points: Sequence[Point], on_done: DoneCallback, seq: int, submitted: float
    ) -> None:
        self.points = points
        self.on_done = on_done
        self.seq = seq
        self.submitted = submitted
        self.taken = 0
        self.remaining = len(points)
        self.error: PermanentSinkError | None = None

    def refuse(self, count: int, error: PermanentSinkError) -> None:
        self.remaining -= count
        if self.error is None:
            self.error = error


#: A share of a submission in one batch: the submission and its points[start:end].
Share = tuple[Submission, int, int]


class Batch(NamedTuple):
    """A batch ready to send: its shares, their lines and each line's owner, and the unencodable."""

    shares: list[Share]
    lines: list[str]
    owners: list[Submission]
    unwritable: list[tuple[Submission, PermanentSinkError]]


class SubmissionBuffer:
    """A queue of submissions that batches are taken from; thread-safe."""

    def __init__(
        self, batch_size: int, flush_interval: float, metrics: WriterMetrics | None
    ) -> None:
        self._batch_size = batch_size
        self._flush_interval = flush_interval
        self._metrics = metrics
        self._cond = threading.Condition()
        self._queue: deque[Submission] = deque()
        self._queued_points = 0
        self._pending = 0
        self._seq = itertools.count(1)
        self._last_seq = 0
        self._completed_seq = 0
        self._urgent = 0
        self._closing = False
        self.abandon = threading.Event()

    @property
    def pending(self) -> int:
        """Points submitted and not yet accepted or refused."""
        return self._pending

    @property
    def all_done(self) -> bool:
        return self._completed_seq >= self._last_seq

    def submit(self, points: Sequence[Point], on_done: DoneCallback) -> None:
        self.submit_many(((points, on_done),))

    def submit_many(self, items: Iterable[tuple[Sequence[Point], DoneCallback]]) -> None:
        """Queue several submissions under one lock, in order."""
        added = 0
        with self._cond:
            if self._closing:
                raise RuntimeError("BatchWriter is closed")
            wake = not self._queue
            queue = self._queue
            now = time.monotonic()
            for points, on_done in items:
                seq = next(self._seq)
                queue.append(Submission(points, on_done, seq, now))
                added += len(points)
                wake = wake or not points
                self._last_seq = seq
            self._queued_points += added
            self._pending += added
            if wake or self._queued_points >= self._batch_size:
                self._cond.notify_all()
        if self._metrics and added:
            self._metrics.pending_points.inc(added)

    def flush(self, timeout: float | None) -> bool:
        """Make what was submitted so far due now; True once all of it is called back."""
        with self._cond:
            target = self._last_seq
            self._urgent += 1
            self._cond.notify_all()
            try:
                return self._cond.wait_for(lambda: self._completed_seq >= target, timeout)
            finally:
                self._urgent -= 1

    def close(self) -> None:
        """Take no more submissions; what is queued becomes due at once."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()

    def give_up(self) -> None:
        """Stop handing out batches: ``next_batch`` and the writer raise ``Abandoned``."""
        self.abandon.set()
        with self._cond:
            self._cond.notify_all()

    def next_batch(self) -> list[Share] | None:
        """Block until a batch is due (size, age, flush or close) and take it; None once closed."""
        with self._cond:
            while True:
                if self.abandon.is_set():
                    raise Abandoned
                if not self._queue:
                    if self._closing:
                        return None
                    self._cond.wait()
                    continue
                head = self._queue[0]
                wait = head.submitted + self._flush_interval - time.monotonic()
                if (
                    self._queued_points >= self._batch_size
                    or self._urgent
                    or self._closing
                    or head.taken == len(head.points)
                    or wait <= 0
                ):
                    break
                self._cond.wait(wait)
            shares: list[Share] = []
            room = self._batch_size
            while self._queue and room:
                sub = self._queue[0]
                count = min(room, len(sub.points) - sub.taken)
                shares.append((sub, sub.taken, sub.taken + count))
                room -= count
                self._queued_points -= count
                sub.taken += count
                if sub.taken < len(sub.points):
                    break
                self._queue.popleft()
            return shares

    @staticmethod
    def encode(shares: list[Share]) -> Batch:
        """Line protocol for a batch; points that cannot be encoded are refused, not sent."""
        lines: list[str] = []
        owners: list[Submission] = []
        unwritable: list[tuple[Submission, PermanentSinkError]] = []
        for sub, start, end in shares:
            chunk = sub.points[start:end]
            try:
                lines += map(to_line, chunk)
                owners += [sub] * len(chunk)
            except ValueError:
                del lines[len(owners) :]
                for point in chunk:
                    try:
                        lines.append(to_line(point))
                    except ValueError as exc:
                        unwritable.append((sub, PermanentSinkError(str(exc), None)))
                    else:
                        owners.append(sub)
        return Batch(shares, lines, owners, unwritable)

    def call_back(self, shares: list[Share], log_failure: Callable[[], None]) -> None:
        """Call back every submission of the batch that is now fully resolved, in order."""
        resolved = sum(end - start for _, start, end in shares)
        last_seq = None
        for sub, _, _ in shares:
            if sub.remaining:
                continue  # the rest of it is in the next batch
            last_seq = sub.seq
            try:
                sub.on_done(sub.error)
            except Exception:
                log_failure()
        with self._cond:
            self._pending -= resolved
            if last_seq is not None:
                self._completed_seq = last_seq
            self._cond.notify_all()
        if self._metrics:
            self._metrics.pending_points.dec(resolved)

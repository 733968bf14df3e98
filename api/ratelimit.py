"""Token buckets in memory: a burst of a minute's allowance, refilled continuously.

Used per key (requests) and per client address (wrong keys, see ``api.guard``).
"""

from __future__ import annotations

import math
import threading
import time


class RateLimiter:
    """``take(key)`` -> 0 when allowed, else the seconds until one request would be."""

    def __init__(self, per_minute: int) -> None:
        self._capacity = float(per_minute)
        self._rate = per_minute / 60.0
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def _tokens(self, key: str, now: float) -> float:
        tokens, stamp = self._buckets.get(key, (self._capacity, now))
        return min(self._capacity, tokens + (now - stamp) * self._rate)

    def _retry_after(self, tokens: float) -> int:
        return max(1, math.ceil((1.0 - tokens) / self._rate))

    def take(self, key: str) -> int:
        now = time.monotonic()
        with self._lock:
            tokens = self._tokens(key, now)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                return 0
            self._buckets[key] = (tokens, now)
            if len(self._buckets) > 100_000:
                self._forget_full(now)
            return self._retry_after(tokens)

    def wait(self, key: str) -> int:
        """Like ``take`` but spends nothing: 0 while ``key`` has a token left."""
        now = time.monotonic()
        with self._lock:
            tokens = self._tokens(key, now)
        return 0 if tokens >= 1.0 else self._retry_after(tokens)

    def _forget_full(self, now: float) -> None:
        """Drop buckets that have refilled: they hold nothing a new bucket would not."""
        self._buckets = {
            key: value
            for key, value in self._buckets.items()
            if self._tokens(key, now) < self._capacity
        }

"""Per-key token buckets in memory: a burst of a minute's allowance, refilled continuously."""

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

    def take(self, key: str) -> int:
        now = time.monotonic()
        with self._lock:
            tokens, stamp = self._buckets.get(key, (self._capacity, now))
            tokens = min(self._capacity, tokens + (now - stamp) * self._rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                return 0
            self._buckets[key] = (tokens, now)
            return max(1, math.ceil((1.0 - tokens) / self._rate))

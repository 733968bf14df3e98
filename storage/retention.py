"""Home data deleted once they are older than their retention, to the day.

InfluxDB enforces a retention policy by dropping whole shard groups once their
*end* is older than the policy (InfluxDB 1.x docs, "Database management:
retention policy management"; 2.x, "Data retention"), so a point outlives its
policy by up to one shard group: 7 days for policies over six months, InfluxDB's
default, which the home database keeps because one-day groups made every long
question open seven times as many shards (``storage.provision.shard_duration``).
On 2.x the platform does not create buckets at all. ``expire_home``, run by the
insights service at start and every 23 hours (and by each ``insights run --once``),
deletes home points older than ``home_retention`` whatever the server's layout:

- 1.x: ``DELETE WHERE time < …`` on the home database (InfluxQL DELETE without
  ``FROM`` covers every measurement and every retention policy of the database).
- 2.x: the delete API on the home bucket, from the epoch to the cut-off, with no
  predicate ("deletes all data in the specified bucket with timestamps between the
  specified start and stop times", InfluxDB 2.x docs, *Delete data*).
- InfluxDB 3 has no delete API: ``DeleteUnsupportedError``; the database's own
  retention period must hold the limit.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Final

from core.settings import InfluxSettings
from storage.erasure import V2Deleter
from storage.query import HOUR_NS, InfluxQL

__all__ = ["duration_ns", "expire_home"]

_UNIT_NS: Final = {"h": HOUR_NS, "d": 24 * HOUR_NS, "w": 168 * HOUR_NS}
_DURATION: Final = re.compile(r"(\d+)([hdw])")


def duration_ns(duration: str | None) -> int | None:
    """``52w``/``396d``/``24h`` in nanoseconds; None for no retention (None or ``INF``).

    Raises ``ValueError`` for anything else (``InfluxSettings`` already refuses it)."""
    if duration is None or duration == "INF":
        return None
    match = _DURATION.fullmatch(duration)
    if match is None:
        raise ValueError(f"retention must look like 52w, 90d, 24h or INF, got {duration!r}")
    return int(match[1]) * _UNIT_NS[match[2]]


def expire_home(
    settings: InfluxSettings, now: datetime, *, v2: V2Deleter | None = None
) -> int | None:
    """Delete every home point older than ``settings.home_retention`` at ``now``; returns the
    cut-off (ns since the epoch), or None when home data are kept forever.

    ``settings`` need delete rights on the home database (the insights account: ALL; on
    2.x a token that may write the home bucket). Idempotent. Raises ``QueryError`` when
    InfluxDB refuses, ``DeleteUnsupportedError`` on InfluxDB 3."""
    keep = duration_ns(settings.home_retention)
    if keep is None:
        return None
    cutoff = int(now.timestamp()) * 10**9 - keep
    if settings.api_version == 2 and settings.home_bucket:
        deleter = v2 if v2 is not None else V2Deleter(settings)
        try:
            deleter.delete_in(settings.home_bucket, "", 0, cutoff)
        finally:
            if v2 is None:
                deleter.close()
        return cutoff
    with InfluxQL(settings, include_home=False) as client:
        client.query(f"DELETE WHERE time < {cutoff}", database=settings.home_db)
    return cutoff

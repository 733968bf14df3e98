"""Request parameters shared by routers, validated before any query is built.

Enumerations (quantity, need, fn) are closed whitelists; free text (site,
model) is pattern-checked and then only ever bound as a query parameter.
Violations are 422s in FastAPI's usual validation-error shape.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any

from fastapi import Path, Query
from fastapi.exceptions import RequestValidationError

from api.scoped import FIELD_MEASUREMENT, parse_duration
from storage.schema import NEEDS

#: Canonical quantities first, then every other field a decoder emits (``pm4_0``, ``co``, …).
Quantity = StrEnum("Quantity", {name: name for name in FIELD_MEASUREMENT})  # type: ignore[misc]
Need = StrEnum("Need", {name: name for name in NEEDS})  # type: ignore[misc]

_NAME = r"^[A-Za-z0-9_.\- ]{1,64}$"
_EUI = r"^[0-9a-fA-F]{16}$"

#: InfluxDB stores int64 nanoseconds since 1970: nothing outside this window can exist.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2262, 1, 1, tzinfo=UTC)

NeedQuery = Annotated[Need | None, Query(description="damp, air_quality or footfall")]
SiteQuery = Annotated[str | None, Query(pattern=_NAME, description="Site name")]
CursorQuery = Annotated[
    str | None,
    Query(
        pattern=_NAME,
        description="`next_cursor` of the previous page (a group: site name or DevEUI): groups after it",
    ),
]
ModelQuery = Annotated[str | None, Query(pattern=_NAME, description="Decoder model key")]
DevEuiQuery = Annotated[str | None, Query(pattern=_EUI, description="16 hex digits")]
DevEuiPath = Annotated[str, Path(pattern=_EUI, description="16 hex digits")]
StartQuery = Annotated[datetime | None, Query(description="RFC 3339; default: end minus one day")]
EndQuery = Annotated[datetime | None, Query(description="RFC 3339, exclusive; default: now")]


def invalid(location: str, name: str, message: str, value: Any = None) -> RequestValidationError:
    """A 422 in the same shape FastAPI uses for its own validation errors."""
    return RequestValidationError(
        [{"loc": (location, name), "msg": message, "type": "value_error", "input": value}]
    )


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _in_epoch(name: str, moment: datetime) -> None:
    if not EARLIEST <= moment < LATEST:
        raise invalid("query", name, "must be between 1970-01-01 and 2262-01-01", str(moment))


def bucket_width(every: str, max_days: int) -> timedelta:
    """``every`` (``15m``, ``1h``, ``1d``, ``1w``) as a timedelta, at most ``max_days``; else 422.

    The cap keeps absurd widths (``999999999w`` overflows a timedelta; ``15251w``
    overflows InfluxDB's int64 nanoseconds) from ever reaching the store.
    """
    try:
        width = parse_duration(every)
    except OverflowError:
        # Wider than any timedelta: the same answer as any other too-wide bucket, not
        # Python's "int too large to convert to C int".
        raise invalid("query", "every", f"bucket wider than {max_days} days", every) from None
    except ValueError as exc:
        raise invalid("query", "every", str(exc) or "not a duration", every) from None
    if width > timedelta(days=max_days):
        raise invalid("query", "every", f"bucket wider than {max_days} days", every)
    return width


def time_range(
    start: datetime | None, end: datetime | None, max_days: int
) -> tuple[datetime, datetime]:
    """Defaults filled in, then checked: start < end, inside InfluxDB's epoch, at most ``max_days``."""
    # Each bound is checked before any arithmetic: 0001-01-01 minus a day overflows.
    end = _aware(end) if end else datetime.now(UTC)
    _in_epoch("end", end)
    start = _aware(start) if start else max(EARLIEST, end - timedelta(days=1))
    _in_epoch("start", start)
    if end <= start:
        raise invalid("query", "end", "end must be after start", str(end))
    if end - start > timedelta(days=max_days):
        raise invalid("query", "start", f"time range wider than {max_days} days", str(start))
    return start, end


def bucket_count(start: datetime, end: datetime, every: timedelta) -> int:
    return math.ceil((end - start) / every)

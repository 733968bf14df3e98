"""Aggregates computed by InfluxDB (GROUP BY time), never from raw points pulled into Python."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Query, Response

from api.deps import ScopedReadingsDep, SettingsDep
from api.models import AggregatePublic
from api.params import (
    CursorQuery,
    DevEuiQuery,
    EndQuery,
    NeedQuery,
    Quantity,
    SiteQuery,
    StartQuery,
    bucket_count,
    bucket_width,
    invalid,
    time_range,
)
from api.routing import UnicodeJsonRoute
from api.scoped import AggregateFn, AggregateRow

router = APIRouter(prefix="/v1/aggregates", tags=["aggregates"], route_class=UnicodeJsonRoute)


@router.get("", response_model=AggregatePublic)
def get_aggregates(
    scoped: ScopedReadingsDep,
    settings: SettingsDep,
    quantity: Annotated[
        Quantity,
        Query(
            description="A canonical quantity or any field a decoder emits (see `leedswin models`)"
        ),
    ],
    fn: Annotated[AggregateFn, Query(description="Statistic per bucket")] = "mean",
    every: Annotated[
        str, Query(max_length=10, description="Bucket width: <n><s|m|h|d|w>, e.g. 15m, 1h, 1d")
    ] = "1h",
    start: StartQuery = None,
    end: EndQuery = None,
    group_by: Annotated[Literal["device", "site"], Query()] = "device",
    site: SiteQuery = None,
    dev_eui: DevEuiQuery = None,
    need: NeedQuery = None,
    cursor: CursorQuery = None,
    limit: Annotated[
        int | None,
        Query(ge=1, le=10_000, description="Most groups per page (default: as many as fit)"),
    ] = None,
) -> Response:
    """Pages hold whole groups, in group order, and at most ``max_points`` points in all (at
    least one group); ``next_cursor`` says where the next page starts."""
    width = bucket_width(every, settings.max_range_days)
    start, end = time_range(start, end, settings.max_range_days)
    buckets = bucket_count(start, end, width)
    if buckets > settings.max_points:
        raise invalid(
            "query",
            "every",
            f"{buckets} buckets per group; at most {settings.max_points}: widen `every`",
            every,
        )
    filters = {"site": site, "dev_eui": dev_eui.lower() if dev_eui else None, "need": need}

    def body() -> bytes:
        rows = scoped.aggregate(quantity.value, fn, every, start, end, group_by, filters)
        page, more = _page(rows, cursor, limit, settings.max_points)
        envelope = AggregatePublic(
            quantity=quantity.value,
            fn=fn,
            every=every,
            group_by=group_by,
            start=start,
            end=end,
            data=[],
            count=len(page),
            next_cursor=page[-1].group if more and page else None,
        ).model_dump(mode="json")
        envelope["data"] = _series_json(page)
        return orjson.dumps(envelope)

    key = (quantity.value, fn, every, start, end, group_by, tuple(filters.items()), cursor, limit)
    return Response(scoped.cached("aggregates", key, body), media_type="application/json")


def _page(
    rows: list[AggregateRow], cursor: str | None, limit: int | None, max_points: int
) -> tuple[list[AggregateRow], bool]:
    """The groups after ``cursor``, as many as ``limit`` and ``max_points`` allow; and whether
    more remain."""
    remaining = [row for row in rows if cursor is None or row.group > cursor]
    page: list[AggregateRow] = []
    points = 0
    for row in remaining:
        if page and (
            (limit is not None and len(page) >= limit) or points + len(row.points) > max_points
        ):
            return page, True
        page.append(row)
        points += len(row.points)
    return page, False


def _series_json(rows: list[AggregateRow]) -> list[dict[str, Any]]:
    """``AggregateSeries`` as JSON-ready dicts, built directly: validating tens of thousands of
    points through the response model cost more than the query. Times as the model writes them
    (RFC 3339, ``Z``), each distinct bucket time formatted once."""
    stamps: dict[datetime, str] = {}

    def stamp(moment: datetime) -> str:
        text = stamps.get(moment)
        if text is None:
            text = stamps[moment] = moment.isoformat().replace("+00:00", "Z")
        return text

    return [
        {"group": row.group, "data": [{"time": stamp(t), "value": v} for t, v in row.points]}
        for row in rows
    ]

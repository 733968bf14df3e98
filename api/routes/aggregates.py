"""Aggregates computed by InfluxDB (GROUP BY time), never from raw points pulled into Python."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from api.deps import ScopedReadingsDep, SettingsDep
from api.models import AggregatePoint, AggregatePublic, AggregateSeries
from api.params import (
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
from api.scoped import AggregateFn

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
) -> AggregatePublic:
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
    rows = scoped.aggregate(
        quantity.value,
        fn,
        every,
        start,
        end,
        group_by,
        {"site": site, "dev_eui": dev_eui.lower() if dev_eui else None, "need": need},
    )
    data = [
        AggregateSeries(
            group=row.group, data=[AggregatePoint(time=t, value=v) for t, v in row.points]
        )
        for row in rows
    ]
    return AggregatePublic(
        quantity=quantity.value,
        fn=fn,
        every=every,
        group_by=group_by,
        start=start,
        end=end,
        data=data,
        count=len(data),
    )

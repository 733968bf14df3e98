"""Footfall counts per site: hourly or daily, in/out, and the same weekday last week.

Served from the ``footfall_counts`` series the insights scheduler derives from
public people counters (wraps, resets and missed uplinks already handled).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Path, Query, status
from pydantic import BaseModel, Field

from api.deps import ScopedReadingsDep, SettingsDep
from api.models import FootfallSitePublic, ListPublic
from api.params import EndQuery, StartQuery, time_range
from api.routing import UnicodeJsonRoute
from api.scoped import ns_to_datetime
from storage.schema import FOOTFALL_COUNTS

router = APIRouter(prefix="/v1/footfall", tags=["footfall"], route_class=UnicodeJsonRoute)

SitePath = Annotated[str, Path(pattern=r"^[A-Za-z0-9_.\- ]{1,64}$", description="Site name")]


class FootfallPoint(BaseModel):
    time: datetime = Field(description="Start of the hour, or London midnight for days")
    people_in: int
    people_out: int
    net: int
    week_ago_in: int | None = Field(
        None, description="Same local time, same weekday, 7 days earlier"
    )
    week_ago_out: int | None = None
    change_in: float | None = Field(None, description="people_in / week_ago_in − 1")
    hours: int | None = Field(None, description="Hours in the day (23/25 at clock changes)")
    hours_so_far: int | None = Field(
        None,
        description="A day still running: hours counted so far; its week_ago figures cover the"
        " same hours of last week's day",
    )
    resets: int = 0
    gaps: int = Field(0, description="Missed uplinks; their counts fall in this period")


class FootfallSeries(BaseModel):
    site: str
    period: Literal["hour", "day"]
    data: list[FootfallPoint]
    count: int


@router.get("/sites", response_model=ListPublic[FootfallSitePublic])
def list_sites(
    scoped: ScopedReadingsDep,
    days: Annotated[
        int, Query(ge=1, le=366, description="Sites counted within this many days")
    ] = 28,
) -> ListPublic[FootfallSitePublic]:
    """Sites with hourly counts in the last ``days`` days, by name; use one with ``/sites/{site}``."""
    since = datetime.now(UTC) - timedelta(days=days)
    series = scoped.query(
        f'SELECT last("people_in") FROM "{FOOTFALL_COUNTS}" WHERE {{privacy}}'
        ' AND "level" = $level AND "period" = $period AND time >= $since'
        ' GROUP BY "site", "dev_eui"',
        {"level": "device", "period": "hour", "since": int(since.timestamp()) * 1_000_000_000},
    )
    sites: dict[str, tuple[int, int]] = {}
    for s in series:
        site = s.tags.get("site", "")
        if not site or not s.values:
            continue
        counters, newest = sites.get(site, (0, 0))
        sites[site] = (counters + 1, max(newest, int(s.values[0][0])))
    data = [
        FootfallSitePublic(site=site, counters=counters, last_counted=ns_to_datetime(newest))
        for site, (counters, newest) in sorted(sites.items())
    ]
    return ListPublic[FootfallSitePublic](data=data, count=len(data))


@router.get("/sites/{site}", response_model=FootfallSeries)
def site_counts(
    scoped: ScopedReadingsDep,
    settings: SettingsDep,
    site: SitePath,
    period: Annotated[Literal["hour", "day"], Query(description="hour or day")] = "hour",
    start: StartQuery = None,
    end: EndQuery = None,
) -> FootfallSeries:
    """Counts of one site (all its counters summed) over [start, end), oldest first."""
    first, last = time_range(start, end, settings.max_range_days)
    # Keyed by the range as asked (None: the last 24 h), so that dashboards and apps polling
    # the default range share one read for the cache's 2 seconds, as the DAQI list does.
    answer: FootfallSeries = scoped.cached(
        "footfall_site",
        (site, period, start, end),
        lambda: _site_counts(scoped, settings.max_points, site, period, first, last),
    )
    return answer


def _site_counts(
    scoped: ScopedReadingsDep,
    max_points: int,
    site: str,
    period: str,
    start: datetime,
    end: datetime,
) -> FootfallSeries:
    series = scoped.query(
        'SELECT "people_in", "people_out", "net", "week_ago_in", "week_ago_out", "hours",'
        f' "hours_so_far", "resets", "gaps" FROM "{FOOTFALL_COUNTS}" WHERE {{privacy}} AND "level" = $level'
        ' AND "site" = $site AND "period" = $period AND time >= $start AND time < $end'
        f" ORDER BY time ASC LIMIT {max_points:d}",
        {
            "level": "site",
            "site": site,
            "period": period,
            "start": int(start.timestamp() * 1e6) * 1000,
            "end": int(end.timestamp() * 1e6) * 1000,
        },
    )
    rows = [dict(zip(s.columns, v, strict=True)) for s in series for v in s.values]
    if not rows:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no counts for that site in that range")
    data = []
    for row in rows:
        ago = row.get("week_ago_in")
        data.append(
            FootfallPoint(
                time=ns_to_datetime(row["time"]),
                people_in=int(row["people_in"]),
                people_out=int(row["people_out"]),
                net=int(row["net"]),
                week_ago_in=ago,
                week_ago_out=row.get("week_ago_out"),
                change_in=(row["people_in"] / ago - 1) if ago else None,
                hours=row.get("hours"),
                hours_so_far=row.get("hours_so_far"),
                resets=int(row.get("resets") or 0),
                gaps=int(row.get("gaps") or 0),
            )
        )
    return FootfallSeries(site=site, period=period, data=data, count=len(data))

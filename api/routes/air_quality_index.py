"""UK Daily Air Quality Index per site: current value and hourly history.

Served from the ``daqi`` series the insights scheduler writes from public
devices only. Readings from low-cost sensors carry ``indicative: true``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, status
from pydantic import BaseModel, Field

from api.deps import ScopedReadingsDep, SettingsDep
from api.params import EndQuery, StartQuery, time_range
from api.routing import UnicodeJsonRoute
from api.scoped import ns_to_datetime
from storage.schema import DAQI

router = APIRouter(prefix="/v1/daqi", tags=["air quality index"], route_class=UnicodeJsonRoute)

SitePath = Annotated[str, Path(pattern=r"^[A-Za-z0-9_.\- ]{1,64}$", description="Site name")]

_FIELDS = (
    "index",
    "band",
    "indicative",
    "pm2_5_24h",
    "pm10_24h",
    "no2_1h",
    "o3_8h",
    "pm2_5_index",
    "pm10_index",
    "no2_index",
    "o3_index",
)
_SELECT = ", ".join(f'"{name}"' for name in _FIELDS)

#: Health advice by band, paraphrased from DEFRA UK-AIR's DAQI page
#: (https://uk-air.defra.gov.uk/air-pollution/daqi?view=more-info); see docs/insights/daqi.md.
ADVICE: dict[str, dict[str, str]] = {
    "Low": {"general": "Carry on as usual.", "at_risk": "Carry on as usual."},
    "Moderate": {
        "general": "Carry on as usual.",
        "at_risk": "If you have symptoms, consider cutting strenuous outdoor activity.",
    },
    "High": {
        "general": "If you have symptoms (sore eyes, cough), consider cutting outdoor activity.",
        "at_risk": "Cut strenuous exertion; asthmatics may need their reliever more often.",
    },
    "Very High": {"general": "Cut outdoor exertion.", "at_risk": "Avoid strenuous activity."},
}


class DaqiPoint(BaseModel):
    time: datetime = Field(description="Start of the hour the running means end with")
    index: int = Field(description="1–10, the highest pollutant index")
    band: str
    indicative: bool = Field(description="From low-cost sensors: indicative, not reference")
    pollutants: dict[str, dict[str, float]] = Field(
        description="Per pollutant: running mean (µg/m³) and its index"
    )


class SiteDaqi(BaseModel):
    site: str
    current: DaqiPoint
    advice: dict[str, str]


class SiteDaqiList(BaseModel):
    data: list[SiteDaqi]
    count: int


class DaqiHistory(BaseModel):
    site: str
    data: list[DaqiPoint]
    count: int


def _point(row: dict[str, Any]) -> DaqiPoint:
    pollutants: dict[str, dict[str, float]] = {}
    for name, mean_field in (
        ("pm2_5", "pm2_5_24h"),
        ("pm10", "pm10_24h"),
        ("no2", "no2_1h"),
        ("o3", "o3_8h"),
    ):
        if row.get(mean_field) is not None and row.get(f"{name}_index") is not None:
            pollutants[name] = {"mean": row[mean_field], "index": row[f"{name}_index"]}
    return DaqiPoint(
        time=ns_to_datetime(row["time"]),
        index=int(row["index"]),
        band=str(row["band"]),
        indicative=bool(row.get("indicative", True)),
        pollutants=pollutants,
    )


@router.get("/sites", response_model=SiteDaqiList)
def current_by_site(scoped: ScopedReadingsDep) -> SiteDaqiList:
    """The newest index of every site (within the last two days), with health advice;
    coalesced with identical asks (``api.cache``: every client of a city map asks this)."""
    answer: SiteDaqiList = scoped.cached("daqi_sites", (), lambda: _current_by_site(scoped))
    return answer


def _current_by_site(scoped: ScopedReadingsDep) -> SiteDaqiList:
    since = int((datetime.now(UTC) - timedelta(days=2)).timestamp()) * 1_000_000_000
    series = scoped.query(
        f'SELECT {_SELECT} FROM "{DAQI}" WHERE {{privacy}} AND "level" = $level'
        ' AND time >= $since GROUP BY "site" ORDER BY time DESC LIMIT 1',
        {"level": "site", "since": since},
    )
    data = []
    for s in series:
        current = _point(dict(zip(s.columns, s.values[0], strict=True)))
        data.append(
            SiteDaqi(site=s.tags.get("site", ""), current=current, advice=ADVICE[current.band])
        )
    data.sort(key=lambda d: d.site)
    return SiteDaqiList(data=data, count=len(data))


@router.get("/sites/{site}", response_model=DaqiHistory)
def site_history(
    scoped: ScopedReadingsDep,
    settings: SettingsDep,
    site: SitePath,
    start: StartQuery = None,
    end: EndQuery = None,
) -> DaqiHistory:
    """Hourly index of one site over [start, end) (default: the last day), oldest first."""
    start, end = time_range(start, end, settings.max_range_days)
    series = scoped.query(
        f'SELECT {_SELECT} FROM "{DAQI}" WHERE {{privacy}} AND "level" = $level'
        f' AND "site" = $site AND time >= $start AND time < $end ORDER BY time ASC LIMIT {settings.max_points:d}',
        {
            "level": "site",
            "site": site,
            "start": int(start.timestamp() * 1e6) * 1000,
            "end": int(end.timestamp() * 1e6) * 1000,
        },
    )
    rows = [dict(zip(s.columns, v, strict=True)) for s in series for v in s.values]
    if not rows:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no index for that site in that range")
    data = [_point(row) for row in rows]
    return DaqiHistory(site=site, data=data, count=len(data))

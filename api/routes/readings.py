"""Raw readings of one device for a quantity and a time range, paginated."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status

from api.deps import ScopedReadingsDep, SettingsDep
from api.models import ReadingPage, ReadingPublic
from api.params import DevEuiPath, EndQuery, Quantity, StartQuery, invalid, time_range
from api.routing import UnicodeJsonRoute
from core.quantities import CANONICAL_UNITS

router = APIRouter(prefix="/v1/devices", tags=["readings"], route_class=UnicodeJsonRoute)


@router.get("/{dev_eui}/readings", response_model=ReadingPage)
def list_readings(
    scoped: ScopedReadingsDep,
    settings: SettingsDep,
    dev_eui: DevEuiPath,
    quantity: Annotated[
        Quantity,
        Query(
            description="A canonical quantity or any field a decoder emits (see `leedswin models`)"
        ),
    ],
    start: StartQuery = None,
    end: EndQuery = None,
    limit: Annotated[int, Query(ge=1, le=100_000, description="Page size")] = 1000,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> ReadingPage:
    if limit > settings.max_points:
        raise invalid("query", "limit", f"at most {settings.max_points} points per page", limit)
    start, end = time_range(start, end, settings.max_range_days)
    dev_eui = dev_eui.lower()
    if scoped.device(dev_eui) is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "device not found")
    rows = scoped.readings(dev_eui, quantity.value, start, end, limit, offset)
    return ReadingPage(
        dev_eui=dev_eui,
        quantity=quantity.value,
        unit=CANONICAL_UNITS[quantity.value],
        data=[ReadingPublic(time=time, value=value) for time, value in rows],
        count=len(rows),
        next_offset=offset + len(rows) if len(rows) == limit else None,
    )

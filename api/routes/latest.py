"""The newest reading of each device serving a need."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from api.deps import ScopedReadingsDep
from api.models import LatestPublic, ListPublic
from api.params import Need, SiteQuery
from api.routing import UnicodeJsonRoute

router = APIRouter(prefix="/v1/latest", tags=["latest"], route_class=UnicodeJsonRoute)


@router.get("", response_model=ListPublic[LatestPublic])
def list_latest(
    scoped: ScopedReadingsDep,
    need: Annotated[Need, Query(description="damp, air_quality or footfall")],
    site: SiteQuery = None,
) -> Response:
    """The JSON is built once for identical asks in the cache's time (``api.cache``)."""

    def body() -> bytes:
        rows = scoped.latest(need.value, site)
        data = [
            LatestPublic(
                dev_eui=row.dev_eui,
                model=row.model,
                site=row.site,
                privacy="public" if row.privacy == "public" else "home",
                time=row.time,
                values=row.values,
            )
            for row in rows
        ]
        return ListPublic[LatestPublic](data=data, count=len(data)).model_dump_json().encode()

    return Response(
        scoped.cached("latest_json", (need.value, site), body), media_type="application/json"
    )

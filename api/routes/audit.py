"""The audit log of personal-data access: admin keys only, read-only (no update or delete path)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from api.deps import AdminDep, RegistryDep
from api.params import invalid
from api.routing import UnicodeJsonRoute
from storage.audit import AuditLog
from storage.tenancy import TimeRangeError, check_time

router = APIRouter(prefix="/v1", tags=["audit"], route_class=UnicodeJsonRoute)


class AuditRecordPublic(BaseModel):
    id: int
    at: datetime
    key_id: str
    key_name: str
    scope: str
    action: str
    endpoint: str
    home: str
    range_start: datetime | None
    range_end: datetime | None
    client: str
    outcome: str
    status: int | None
    detail: str


class AuditList(BaseModel):
    data: list[AuditRecordPublic]
    count: int


@router.get("/audit", response_model=AuditList)
async def list_audit(
    _: AdminDep,
    request: Request,
    registry: RegistryDep,
    since: Annotated[datetime | None, Query(description="RFC 3339, inclusive")] = None,
    until: Annotated[datetime | None, Query(description="RFC 3339, exclusive")] = None,
    home: Annotated[
        str | None, Query(pattern=r"^[A-Za-z0-9_,*-]{1,200}$", description="DevEUI or reference")
    ] = None,
    key_id: Annotated[str | None, Query(pattern=r"^[0-9a-f]{1,32}$")] = None,
    outcome: Literal["ok", "refused", "error"] | None = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> AuditList:
    """Who read which home's data, when, from where, and the outcome; oldest first.

    ``since``/``until`` outside 1970..2262 (UTC), or whose offset leaves the calendar, are 422."""
    bounds: dict[str, datetime | None] = {"since": since, "until": until}
    for name, moment in bounds.items():
        if moment is not None:
            try:
                bounds[name] = check_time(moment, name)
            except TimeRangeError as exc:
                raise invalid("query", name, str(exc), str(moment)) from None
    recorder = getattr(request.app.state, "audit_recorder", None)
    if recorder is not None:
        await run_in_threadpool(recorder.flush)  # requests already answered are in the log
    records = await run_in_threadpool(
        AuditLog(registry).query,
        since=bounds["since"],
        until=bounds["until"],
        home=home.lower() if home and len(home) == 16 else home,
        key_id=key_id,
        outcome=outcome,
        limit=limit,
    )
    data = [AuditRecordPublic.model_validate(r, from_attributes=True) for r in records]
    return AuditList(data=data, count=len(data))

"""Properties, home devices' placements and tenancy periods: housing keys only.

Tenancy references are pseudonymous ids (``storage.tenancy.REF_PATTERN``),
never names. A device's history, evidence and risk series are cut wherever
these periods change (``storage.tenancy.Tenancies.segments``).
"""

from __future__ import annotations

import io
from datetime import datetime
from typing import Annotated, Any, NoReturn

from fastapi import APIRouter, HTTPException, Path, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field

from api.audit import note_action
from api.deps import HousingDep, RegistryDep, ServicesDep
from api.models import ErrorPublic
from api.params import invalid
from api.routing import UnicodeJsonRoute
from core.settings import InfluxSettings
from insights.alerts import AlertStore
from insights.lifecycle import erase_tenancy, export_tenancy
from storage.tenancy import (
    REF_LENGTH,
    REF_PATTERN,
    Assignment,
    NotFoundError,
    Tenancies,
    Tenancy,
    TenancyError,
    TimeRangeError,
    check_time,
)

router = APIRouter(prefix="/v1/housing", tags=["tenancies"], route_class=UnicodeJsonRoute)

_LO, _HI = REF_LENGTH
RefPath = Annotated[
    str,
    Path(pattern=REF_PATTERN, min_length=_LO, max_length=_HI, description="Pseudonymous id"),
]
#: Request bodies refuse unknown keys (422): a typo such as ``{"dryrun": true}`` must not
#: silently fall back to a default (a real erasure).
_STRICT = ConfigDict(extra="forbid")
_CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"model": ErrorPublic, "description": "Overlaps an existing period"}
}


def _utc(moment: datetime, name: str) -> datetime:
    """Naive times are UTC; anything the store refuses (``check_time``) is a 422 on ``name``."""
    try:
        return check_time(moment, name)
    except TimeRangeError as exc:
        raise invalid("body", name, str(exc), str(moment)) from None


class PropertyIn(BaseModel):
    model_config = _STRICT

    ref: str = Field(
        pattern=REF_PATTERN,
        min_length=_LO,
        max_length=_HI,
        description="Pseudonymous property code (letters, digits, -, _; a digit; at most four letters in a row), never an address",
    )


class PropertyPublic(BaseModel):
    ref: str
    devices: list[AssignmentPublic]
    tenancies: list[TenancyPublic]


class AssignmentIn(BaseModel):
    model_config = _STRICT

    dev_eui: str = Field(pattern=r"^[0-9a-fA-F]{16}$")
    start: datetime
    end: datetime | None = None


class AssignmentPublic(BaseModel):
    dev_eui: str
    property: str
    start: datetime
    end: datetime | None


class TenancyIn(BaseModel):
    model_config = _STRICT

    start: datetime
    ref: str | None = Field(
        None,
        pattern=REF_PATTERN,
        min_length=_LO,
        max_length=_HI,
        description="Pseudonymous tenancy id, never a name; default generated (T-…)",
    )


class EndIn(BaseModel):
    model_config = _STRICT

    end: datetime


class TenancyPublic(BaseModel):
    ref: str
    property: str
    start: datetime
    end: datetime | None
    erased_at: datetime | None


PropertyPublic.model_rebuild()


def _assignment(a: Assignment) -> AssignmentPublic:
    return AssignmentPublic(dev_eui=a.dev_eui, property=a.property_ref, start=a.start, end=a.end)


def _tenancy(t: Tenancy) -> TenancyPublic:
    return TenancyPublic(
        ref=t.ref, property=t.property_ref, start=t.start, end=t.end, erased_at=t.erased_at
    )


def _refuse(exc: TenancyError) -> NoReturn:
    code = status.HTTP_404_NOT_FOUND if isinstance(exc, NotFoundError) else status.HTTP_409_CONFLICT
    if isinstance(exc, TimeRangeError):
        code = status.HTTP_422_UNPROCESSABLE_ENTITY
    raise HTTPException(code, str(exc)) from exc


def _property(store: Tenancies, ref: str) -> PropertyPublic:
    try:
        tenancies = store.tenancies(ref)
    except TenancyError as exc:
        _refuse(exc)
    return PropertyPublic(
        ref=ref,
        devices=[_assignment(a) for a in store.assignments(property_ref=ref)],
        tenancies=[_tenancy(t) for t in tenancies],
    )


@router.post("/properties", response_model=PropertyPublic, status_code=201, responses=_CONFLICT)
def create_property(_: HousingDep, registry: RegistryDep, body: PropertyIn) -> PropertyPublic:
    """Record a property under a pseudonymous reference."""
    store = Tenancies(registry)
    try:
        store.create_property(body.ref)
    except TenancyError as exc:
        _refuse(exc)
    return _property(store, body.ref)


@router.get("/properties/{ref}", response_model=PropertyPublic)
def get_property(_: HousingDep, registry: RegistryDep, ref: RefPath) -> PropertyPublic:
    """A property with its devices' placements and its tenancies."""
    return _property(Tenancies(registry), ref)


@router.post(
    "/properties/{ref}/devices",
    response_model=AssignmentPublic,
    status_code=201,
    responses=_CONFLICT,
)
def assign_device(
    _: HousingDep, services: ServicesDep, registry: RegistryDep, ref: RefPath, body: AssignmentIn
) -> AssignmentPublic:
    """Place a home device in the property from ``start`` (to ``end``, exclusive, if given).

    A device the device registry marks public is refused (409): its readings are published,
    so placing it in a home would attribute public data to a household. A device the
    registry does not know is treated as a home and may be placed."""
    start, end = _utc(body.start, "start"), _utc(body.end, "end") if body.end else None
    known = services.devices.get(body.dev_eui.lower())
    try:
        return _assignment(
            Tenancies(registry).assign(
                body.dev_eui, ref, start, end, privacy=known.privacy if known else None
            )
        )
    except TenancyError as exc:
        _refuse(exc)


@router.post("/devices/{dev_eui}/end", response_model=AssignmentPublic, responses=_CONFLICT)
def end_assignment(
    _: HousingDep,
    registry: RegistryDep,
    dev_eui: Annotated[str, Path(pattern=r"^[0-9a-fA-F]{16}$")],
    body: EndIn,
) -> AssignmentPublic:
    """End the device's current placement (it was moved out of the property at ``end``)."""
    end = _utc(body.end, "end")
    try:
        return _assignment(Tenancies(registry).end_assignment(dev_eui, end))
    except TenancyError as exc:
        _refuse(exc)


@router.post(
    "/properties/{ref}/tenancies",
    response_model=TenancyPublic,
    status_code=201,
    responses=_CONFLICT,
)
def open_tenancy(
    _: HousingDep, registry: RegistryDep, ref: RefPath, body: TenancyIn
) -> TenancyPublic:
    """Open a tenancy of the property from ``start``."""
    start = _utc(body.start, "start")
    try:
        return _tenancy(Tenancies(registry).open_tenancy(ref, start, body.ref))
    except TenancyError as exc:
        _refuse(exc)


@router.get("/tenancies/{ref}", response_model=TenancyPublic)
def get_tenancy(_: HousingDep, registry: RegistryDep, ref: RefPath) -> TenancyPublic:
    try:
        return _tenancy(Tenancies(registry).tenancy(ref))
    except TenancyError as exc:
        _refuse(exc)


@router.post("/tenancies/{ref}/end", response_model=TenancyPublic, responses=_CONFLICT)
def end_tenancy(_: HousingDep, registry: RegistryDep, ref: RefPath, body: EndIn) -> TenancyPublic:
    """End the tenancy at ``end`` (exclusive)."""
    end = _utc(body.end, "end")
    try:
        return _tenancy(Tenancies(registry).end_tenancy(ref, end))
    except TenancyError as exc:
        _refuse(exc)


class EraseIn(BaseModel):
    model_config = _STRICT

    dry_run: bool = Field(False, description="Only list what would go")


class ErasedPoints(BaseModel):
    database: str
    measurement: str
    dev_eui: str
    points: int


class ErasurePublic(BaseModel):
    tenancy: str
    dry_run: bool
    points: list[ErasedPoints]
    total_points: int
    alerts_redacted: list[int] = Field(
        description="Alerts whose evidence readings and notes were removed (case record kept)"
    )
    fleet_events: list[int] = Field(
        description="Device-health events of the tenancy's device periods that were deleted"
    )
    erased_at: datetime | None


def _influx(request: Request) -> InfluxSettings:
    settings: InfluxSettings = request.app.state.influx_settings
    return settings


@router.post(
    "/tenancies/{ref}/erase",
    response_model=ErasurePublic,
    responses={
        **_CONFLICT,
        503: {"model": ErrorPublic, "description": "InfluxDB refused or failed the deletion"},
    },
)
def erase(
    _: HousingDep, request: Request, registry: RegistryDep, ref: RefPath, body: EraseIn
) -> ErasurePublic:
    """Erase an ended tenancy's readings, derived series and alert notes (dry run: list them).

    Keeps the Awaab's Law case record (dates, level, steps, actions). Idempotent.
    Deleting uses the ``LEEDSWIN_INFLUX_ERASURE_*`` credentials (the API's own may only
    read); without them an erasure is refused with 503 and a dry run still lists.
    Unknown body keys are a 422. A dry run is audited as ``erase_dry_run``; a repeated
    erasure reports the first one's ``erased_at``."""
    if body.dry_run:
        note_action(request.scope, "erase_dry_run")
    influx = _influx(request) if body.dry_run else _influx(request).erasure()
    if influx is None:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            "erasure is not configured: set LEEDSWIN_INFLUX_ERASURE_USERNAME and _PASSWORD"
            " (or _TOKEN) to a user that may delete, or run `leedswin privacy erase`",
        )
    try:
        report = erase_tenancy(
            ref,
            tenancies=Tenancies(registry),
            alerts=AlertStore(registry),
            influx=influx,
            dry_run=body.dry_run,
        )
    except TenancyError as exc:
        _refuse(exc)
    return ErasurePublic(
        tenancy=report.tenancy,
        dry_run=report.dry_run,
        points=[
            ErasedPoints(database=d, measurement=m, dev_eui=e, points=n)
            for d, m, e, n in report.points
        ],
        total_points=report.total_points,
        alerts_redacted=report.alerts_redacted,
        fleet_events=report.fleet_events,
        erased_at=report.erased_at,
    )


@router.get(
    "/tenancies/{ref}/export",
    response_class=Response,
    responses={200: {"content": {"application/zip": {}}, "description": "The archive"}},
)
def export(_: HousingDep, request: Request, registry: RegistryDep, ref: RefPath) -> Response:
    """Everything held about a tenancy, for a subject access request: a zip with a CSV per
    series, ``alerts.json``, ``fleet_events.json`` and ``manifest.json`` (fields, units, time ranges, devices)."""
    out = io.BytesIO()
    try:
        export_tenancy(
            ref,
            out,
            tenancies=Tenancies(registry),
            alerts=AlertStore(registry),
            influx=_influx(request),
        )
    except TenancyError as exc:
        _refuse(exc)
    return Response(
        out.getvalue(),
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="tenancy-{ref}.zip"'},
    )

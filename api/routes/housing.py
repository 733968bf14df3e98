"""Damp and mould risk in homes, and Awaab's Law alerts: housing keys only.

Every route depends on ``HousingDep``, so a public key gets 403 before any
query runs. Risk comes from the ``damp_risk`` series the insights scheduler
writes; alerts and their audit trail from the registry (``insights.alerts``).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, Query, Response, status
from pydantic import BaseModel, Field, ValidationError

from api.deps import HousingDep, RegistryDep, ScopedReadingsDep
from api.models import ErrorPublic
from api.params import DevEuiPath, invalid
from api.routing import UnicodeJsonRoute
from api.scoped import ns_to_datetime
from insights.alerts import Alert, AlertStore
from storage.registry import Registry
from storage.schema import DAMP_RISK
from storage.tenancy import Tenancies

log = logging.getLogger(__name__)

router = APIRouter(prefix="/v1/housing", tags=["housing"], route_class=UnicodeJsonRoute)

#: The actions ``insights.alerts.ACTIONS`` accepts (a test keeps the two in step).
Action = Literal[
    "acknowledged",
    "note",
    "tenant_contacted",
    "investigated",
    "made_safe",
    "summary_sent",
    "safety_work_done",
    "preventative_work_started",
    "closed",
]

_EVIDENCE = (
    "temperature",
    "relative_humidity",
    "outdoor_temperature",
    "dew_point",
    "surface_temperature",
    "surface_rh",
    "rh70_7d",
    "rh80_7d",
    "rh70_28d",
    "rh80_28d",
    "surface80_7d",
    "surface80_28d",
    "mould_index",
    "risk_level",
    "risk",
    "cold_home",
)
#: How far in the future a client's clock may put an action.
CLOCK_SKEW = timedelta(minutes=5)

_FIELDS = ", ".join(f'"{name}"' for name in _EVIDENCE)


class HomeRisk(BaseModel):
    """A home's newest hourly assessment (fields as in the ``damp_risk`` measurement)."""

    dev_eui: str
    site: str
    model: str
    time: datetime
    risk: str = Field(description="low, medium, high or severe")
    risk_level: int = Field(description="0 low … 3 severe")
    assessment: Literal["complete", "insufficient_data"] = Field(
        description="insufficient_data: under half of the last 7 days' hours have readings, so"
        " the 7-day shares are unknown and a 'low' means too little evidence, not a dry home"
    )
    evidence: dict[str, Any]
    open_alert: int | None = Field(None, description="Id of the home's open alert, if any")


class HomeList(BaseModel):
    data: list[HomeRisk]
    count: int


class StepPublic(BaseModel):
    step: str
    deadline: datetime
    applies: bool = Field(description="The 24-hour emergency step applies to severe alerts")
    done_at: datetime | None
    overdue: bool
    late: bool


class EventPublic(BaseModel):
    at: datetime
    actor: str
    action: str
    note: str


class AlertPublic(BaseModel):
    id: int
    dev_eui: str
    site: str
    level: str
    status: str
    opened_at: datetime = Field(description="When the home first reached this level: the clock")
    closed_at: datetime | None
    overdue: bool
    steps: list[StepPublic]
    evidence: dict[str, Any]
    events: list[EventPublic] = Field(description="Audit trail, oldest first")


class AlertList(BaseModel):
    data: list[AlertPublic]
    count: int
    any_overdue: bool
    skipped: int = Field(0, description="Stored alerts left out because they could not be read")


class HomeEvidence(BaseModel):
    """One home: newest assessment, the hourly series behind it, its alerts."""

    home: HomeRisk
    series: list[dict[str, Any]]
    alerts: list[AlertPublic]
    tenancy: str | None = Field(None, description="Tenancy the series belong to, if recorded")


class ActionIn(BaseModel):
    action: Action
    note: str = Field("", max_length=2000)
    at: datetime | None = Field(None, description="When it happened; default now")


def _alert(alert: Alert, now: datetime) -> AlertPublic:
    steps = alert.steps(now)
    return AlertPublic(
        id=alert.id,
        dev_eui=alert.dev_eui,
        site=alert.site,
        level=alert.level,
        status=alert.status,
        opened_at=alert.opened_at,
        closed_at=alert.closed_at,
        overdue=any(s["overdue"] for s in steps),
        steps=[StepPublic(**s) for s in steps],
        evidence=alert.evidence,
        events=[
            EventPublic(at=e.at, actor=e.actor, action=e.action, note=e.note) for e in alert.events
        ],
    )


def _load_alerts(
    store: AlertStore,
    registry: Registry,
    alert_status: str | None,
    dev_eui: str | None = None,
) -> tuple[list[Alert], int]:
    """Alerts as ``store.list`` gives them; if one stored record cannot be read, the rest
    still are, one by one, and the broken ones are logged and counted, never fatal."""
    try:
        return store.list(status=alert_status, dev_eui=dev_eui), 0
    except (ValueError, TypeError, OverflowError, KeyError) as exc:
        log.error("event=alert_list_unreadable error=%s", exc)
    ids = [row[0] for row in registry.execute("SELECT id FROM damp_alerts ORDER BY opened_at, id")]
    alerts, skipped = [], 0
    for alert_id in ids:
        try:
            alert = store.get(alert_id)
        except (ValueError, TypeError, OverflowError, KeyError) as exc:
            log.error("event=alert_unreadable id=%s error=%s", alert_id, exc)
            skipped += 1
            continue
        if alert is None:
            continue
        if (alert_status is None or alert.status == alert_status) and (
            dev_eui is None or alert.dev_eui == dev_eui
        ):
            alerts.append(alert)
    return alerts, skipped


def _render(alerts: list[Alert], now: datetime) -> tuple[list[AlertPublic], int]:
    """Each alert as a client sees it; one that cannot be rendered is logged and left out."""
    data, skipped = [], 0
    for alert in alerts:
        try:
            data.append(_alert(alert, now))
        except (ValueError, TypeError, OverflowError, KeyError, ValidationError) as exc:
            log.error("event=alert_unrenderable id=%s error=%s", alert.id, exc)
            skipped += 1
    return data, skipped


def _latest(scoped: ScopedReadingsDep, dev_eui: str | None, days: int) -> list[HomeRisk]:
    params: dict[str, Any] = {
        "since": int((datetime.now(UTC) - timedelta(days=days)).timestamp()) * 1_000_000_000,
        "home": "home",
    }
    where = ""
    if dev_eui:
        where = ' AND "dev_eui" = $dev'
        params["dev"] = dev_eui.lower()
    series = scoped.query(
        f'SELECT {_FIELDS} FROM "{DAMP_RISK}" WHERE {{privacy}} AND "privacy" = $home'
        f" AND time >= $since{where}"
        ' GROUP BY "dev_eui", "site", "model" ORDER BY time DESC LIMIT 1',
        params,
    )
    homes = []
    for s in series:
        row = dict(zip(s.columns, s.values[0], strict=True))
        homes.append(
            HomeRisk(
                dev_eui=s.tags.get("dev_eui", ""),
                site=s.tags.get("site", ""),
                model=s.tags.get("model", ""),
                time=ns_to_datetime(row.pop("time")),
                risk=row.get("risk") or "low",
                risk_level=int(row.get("risk_level") or 0),
                # The job leaves a share out when its window is under half covered.
                assessment="complete"
                if row.get("rh70_7d") is not None and row.get("surface80_7d") is not None
                else "insufficient_data",
                evidence={k: v for k, v in row.items() if v is not None},
            )
        )
    return homes


@router.get("/homes", response_model=HomeList)
def list_homes(
    _: HousingDep,
    scoped: ScopedReadingsDep,
    registry: RegistryDep,
    days: Annotated[
        int, Query(ge=1, le=28, description="Homes assessed within this many days")
    ] = 2,
) -> Response:
    """Homes by risk, highest first (then by mould index), with each home's open alert. The
    answer (assessments and open alerts, as JSON) is built once for identical asks in the
    cache's time (``api.cache``: 2 s), as device lists are: at 8 clients, reading the alerts
    and rendering ~300 homes per request was most of its time."""

    def body() -> bytes:
        homes = _latest(scoped, None, days)
        open_alerts = AlertStore(registry).open_ids()
        for home in homes:
            home.open_alert = open_alerts.get(home.dev_eui)
        homes.sort(
            key=lambda h: (-h.risk_level, -float(h.evidence.get("mould_index") or 0.0), h.dev_eui)
        )
        return HomeList(data=homes, count=len(homes)).model_dump_json().encode()

    return Response(scoped.cached("homes_json", (days,), body), media_type="application/json")


@router.get("/homes/{dev_eui}", response_model=HomeEvidence)
def home_evidence(
    _: HousingDep,
    scoped: ScopedReadingsDep,
    registry: RegistryDep,
    dev_eui: DevEuiPath,
    days: Annotated[int, Query(ge=1, le=28, description="Hours of series to return, in days")] = 7,
) -> HomeEvidence:
    """One home's evidence: newest assessment, its hourly series, and its alerts."""
    found = _latest(scoped, dev_eui, 28)
    if not found:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no damp assessment for that home")
    home = found[0]
    # One tenancy's evidence only: the series and alerts start where the newest
    # assessment's tenancy (or the device's stay in this property) began.
    window = home.time - timedelta(days=days)
    stay = Tenancies(registry).segments(
        home.dev_eui, datetime(1970, 1, 1, tzinfo=UTC), home.time + timedelta(hours=1)
    )[-1]
    since = max(window, stay.start - timedelta(seconds=1))
    series = scoped.query(
        f'SELECT {_FIELDS} FROM "{DAMP_RISK}" WHERE {{privacy}} AND "privacy" = $home'
        ' AND "dev_eui" = $dev AND time > $since ORDER BY time ASC',
        {
            "home": "home",
            "dev": home.dev_eui,
            "since": int(since.timestamp()) * 1_000_000_000,
        },
    )
    rows: list[dict[str, Any]] = []
    for s in series:
        for values in s.values:
            row = dict(zip(s.columns, values, strict=True))
            row["time"] = ns_to_datetime(row["time"])
            rows.append({k: v for k, v in row.items() if v is not None})
    alerts, _skipped = _load_alerts(AlertStore(registry), registry, None, home.dev_eui)
    alerts = [a for a in alerts if a.opened_at >= stay.start]
    home.open_alert = next((a.id for a in alerts if a.status == "open"), None)
    rendered, _unrendered = _render(alerts, datetime.now(UTC))
    return HomeEvidence(home=home, series=rows, alerts=rendered, tenancy=stay.tenancy_ref)


@router.get("/alerts", response_model=AlertList)
def list_alerts(
    _: HousingDep,
    registry: RegistryDep,
    alert_status: Annotated[
        Literal["open", "closed", "all"], Query(alias="status", description="open, closed or all")
    ] = "open",
) -> AlertList:
    """Alerts with every statutory deadline and whether any step is overdue."""
    now = datetime.now(UTC)
    alerts, skipped = _load_alerts(
        AlertStore(registry), registry, None if alert_status == "all" else alert_status
    )
    data, unrendered = _render(alerts, now)
    return AlertList(
        data=data,
        count=len(data),
        any_overdue=any(a.overdue for a in data),
        skipped=skipped + unrendered,
    )


@router.get("/alerts/{alert_id}", response_model=AlertPublic)
def get_alert(
    _: HousingDep, registry: RegistryDep, alert_id: Annotated[int, Path(ge=1, le=2**62)]
) -> AlertPublic:
    alert = AlertStore(registry).get(alert_id)
    if alert is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such alert")
    return _alert(alert, datetime.now(UTC))


@router.post(
    "/alerts/{alert_id}/actions",
    response_model=AlertPublic,
    responses={
        400: {"model": ErrorPublic, "description": "Body is not valid JSON"},
        409: {"model": ErrorPublic, "description": "Closing an alert that is already closed"},
        413: {"model": ErrorPublic, "description": "Body larger than 64 KiB"},
    },
)
def record_action(
    principal: HousingDep,
    registry: RegistryDep,
    alert_id: Annotated[int, Path(ge=1, le=2**62)],
    body: ActionIn,
) -> AlertPublic:
    """Acknowledge an alert or record an action; the key's name is the actor in the audit trail."""
    store = AlertStore(registry)
    current = store.get(alert_id)
    if current is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such alert")
    # Everything is checked before the audit trail is written: a stored action is permanent.
    now = datetime.now(UTC)
    at = body.at if body.at is None or body.at.tzinfo else body.at.replace(tzinfo=UTC)
    if at is not None and at > now + CLOCK_SKEW:
        raise invalid("body", "at", "an action cannot be in the future", str(at))
    if at is not None and at < current.opened_at:
        raise invalid("body", "at", "an action cannot predate the alert it is on", str(at))
    if body.action == "closed" and current.status == "closed":
        raise HTTPException(status.HTTP_409_CONFLICT, "the alert is already closed")
    alert = store.record(alert_id, principal.name, body.action, body.note, at)
    return _alert(alert, now)

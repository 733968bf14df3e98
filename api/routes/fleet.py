"""Fleet health: device states, their events, snooze and acknowledge (``insights.fleet``).

Operations, housing and admin keys; a public key gets 403. Home devices are
visible only to keys that include ``housing``, and then, as everywhere, by
their pseudonymous site and ward, never coordinates. For any other key a home
device does not exist (404, not 403), nor does one the device registry marks
home while its stored state says public.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, status
from pydantic import BaseModel, Field

from api.deps import ServicesDep, require_scope
from api.models import ErrorPublic
from api.params import DevEuiPath
from api.routing import UnicodeJsonRoute
from api.scoped import Principal
from insights.fleet import MAX_SNOOZE_HOURS, FleetEvent, FleetStore
from storage.registry import Scope
from storage.schema import PRIVACY_PUBLIC

router = APIRouter(prefix="/v1/fleet", tags=["fleet"], route_class=UnicodeJsonRoute)

OperationsDep = Annotated[Principal, Depends(require_scope(Scope.OPERATIONS))]


class FleetDevice(BaseModel):
    """A device's newest health assessment."""

    dev_eui: str
    model: str
    site: str = Field(description="Site name; pseudonymous for home devices")
    ward: str | None
    privacy: Literal["public", "home"]
    link: str = Field(description="ok, late, silent or unknown")
    battery: str = Field(description="ok, low, critical or unknown")
    radio: str = Field(description="ok, degraded or unknown")
    last_seen: datetime | None
    expected_interval: float | None = Field(description="Seconds between uplinks")
    interval_source: str = Field(description="registry (ChirpStack profile) or median gap")
    missed_uplinks: int
    battery_quantity: str
    battery_value: float | None
    rssi_recent: float | None = Field(description="Median RSSI of the last day, dBm")
    rssi_before: float | None = Field(description="Median RSSI of the days before, dBm")
    snr_recent: float | None
    snr_before: float | None
    gateways_recent: float | None
    gateways_before: float | None
    rejoins: int = Field(description="fCnt resets in the look-back window")
    dead_letter_rate: float | None
    updated_at: datetime
    snoozed_until: datetime | None
    acknowledged_at: datetime | None
    acknowledged_by: str | None


class FleetEventPublic(BaseModel):
    """One fleet event. It carries no id: event ids come from one sequence shared with home
    devices, so their gaps would count home events for a key without ``housing``; snooze and
    acknowledge address the device."""

    dev_eui: str
    kind: str = Field(description="link, battery, radio or service")
    state: str = Field(description="The worst state the event reached")
    site: str
    ward: str | None
    privacy: Literal["public", "home"]
    opened_at: datetime
    escalated_at: datetime | None
    resolved_at: datetime | None
    acknowledged_at: datetime | None
    acknowledged_by: str | None


class FleetDeviceList(BaseModel):
    data: list[FleetDevice]
    count: int
    states: dict[str, int] = Field(description="Devices per link state")


class FleetEventList(BaseModel):
    data: list[FleetEventPublic]
    count: int


class FleetDeviceDetail(BaseModel):
    device: FleetDevice
    events: list[FleetEventPublic] = Field(description="Newest first")


class SnoozeIn(BaseModel):
    hours: float = Field(gt=0, le=MAX_SNOOZE_HOURS, description="Hours without notifications")


class AckOut(BaseModel):
    acknowledged: int = Field(description="Open events acknowledged")


def _store(services: ServicesDep) -> FleetStore:
    return FleetStore(services.settings.registry)


StoreDep = Annotated[FleetStore, Depends(_store)]


def _visible(services: ServicesDep, principal: Principal, dev_eui: str, privacy: str) -> bool:
    if principal.sees_home:
        return True
    record = services.devices.get(dev_eui)
    return privacy == PRIVACY_PUBLIC and (record is None or record.privacy == PRIVACY_PUBLIC)


def _privacy(value: str) -> Literal["public", "home"]:
    return "public" if value == PRIVACY_PUBLIC else "home"


def _device(item: dict[str, Any]) -> FleetDevice:
    return FleetDevice(
        **{k: item.get(k) for k in FleetDevice.model_fields if k not in ("privacy", "ward")},
        ward=item.get("ward") or None,
        privacy=_privacy(item.get("privacy", "")),
    )


def _event(event: FleetEvent) -> FleetEventPublic:
    return FleetEventPublic(
        dev_eui=event.dev_eui,
        kind=event.kind,
        state=event.state,
        site=event.site,
        ward=event.ward or None,
        privacy=_privacy(event.privacy),
        opened_at=event.opened_at,
        escalated_at=event.escalated_at,
        resolved_at=event.resolved_at,
        acknowledged_at=event.acknowledged_at,
        acknowledged_by=event.acknowledged_by,
    )


def _find(
    services: ServicesDep, principal: Principal, store: FleetStore, dev_eui: str
) -> dict[str, Any]:
    item = next((d for d in store.devices() if d["dev_eui"] == dev_eui.lower()), None)
    if item is None or not _visible(services, principal, item["dev_eui"], item["privacy"]):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "device not found")
    return item


@router.get("/devices", response_model=FleetDeviceList)
def list_fleet_devices(
    principal: OperationsDep,
    services: ServicesDep,
    store: StoreDep,
    link: Annotated[
        Literal["ok", "late", "silent", "unknown"] | None, Query(description="Only this state")
    ] = None,
) -> FleetDeviceList:
    """Every visible device's newest health, worst link state first."""
    items = [
        d for d in store.devices() if _visible(services, principal, d["dev_eui"], d["privacy"])
    ]
    states: dict[str, int] = {}
    for d in items:
        states[d["link"]] = states.get(d["link"], 0) + 1
    if link is not None:
        items = [d for d in items if d["link"] == link]
    order = {"silent": 0, "late": 1, "unknown": 2, "ok": 3}
    items.sort(key=lambda d: (order.get(d["link"], 4), d["dev_eui"]))
    data = [_device(d) for d in items]
    return FleetDeviceList(data=data, count=len(data), states=states)


@router.get("/devices/{dev_eui}", response_model=FleetDeviceDetail)
def get_fleet_device(
    principal: OperationsDep, services: ServicesDep, store: StoreDep, dev_eui: DevEuiPath
) -> FleetDeviceDetail:
    """One device's health and its events."""
    item = _find(services, principal, store, dev_eui)
    events = store.events(dev_eui=item["dev_eui"], limit=200)
    return FleetDeviceDetail(device=_device(item), events=[_event(e) for e in events])


@router.get("/events", response_model=FleetEventList)
def list_fleet_events(
    principal: OperationsDep,
    services: ServicesDep,
    store: StoreDep,
    state: Annotated[Literal["open", "all"], Query(description="open or all")] = "open",
    kind: Annotated[
        Literal["link", "battery", "radio", "service"] | None, Query(description="Event kind")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> FleetEventList:
    """Fleet events, newest first; open ones are the fleet's current problems."""
    hidden: dict[str, Any] = (
        {}
        if principal.sees_home
        else {"privacy": PRIVACY_PUBLIC, "exclude": services.devices.not_public()}
    )
    events = store.events(open_only=state == "open", kind=kind, limit=limit, **hidden)
    data = [_event(e) for e in events]
    return FleetEventList(data=data, count=len(data))


@router.post(
    "/devices/{dev_eui}/snooze",
    response_model=FleetDevice,
    responses={400: {"model": ErrorPublic, "description": "Body is not valid JSON"}},
)
def snooze_device(
    principal: OperationsDep,
    services: ServicesDep,
    store: StoreDep,
    dev_eui: DevEuiPath,
    body: SnoozeIn,
) -> FleetDevice:
    """No notifications about this device for ``hours`` (its states are still tracked)."""
    item = _find(services, principal, store, dev_eui)
    store.snooze(item["dev_eui"], datetime.now(UTC) + timedelta(hours=body.hours))
    return _device(_find(services, principal, store, dev_eui))


@router.post("/devices/{dev_eui}/acknowledge", response_model=AckOut)
def acknowledge_device(
    principal: OperationsDep, services: ServicesDep, store: StoreDep, dev_eui: DevEuiPath
) -> AckOut:
    """Acknowledge the device's open events (the key's name is recorded): no more escalation
    notices for them; the recovery is still sent."""
    item = _find(services, principal, store, dev_eui)
    count = store.acknowledge(item["dev_eui"], principal.name, datetime.now(UTC))
    if count is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "device not found")
    return AckOut(acknowledged=count)

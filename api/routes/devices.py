"""Devices: list and one, with last-seen time, battery and link quality."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Response, status

from api.deps import ScopedReadingsDep, ServicesDep
from api.models import DevicePublic, ListPublic
from api.params import DevEuiPath, DevEuiQuery, ModelQuery, NeedQuery, SiteQuery
from api.routing import UnicodeJsonRoute
from api.scoped import DeviceRow
from storage.devices import DeviceRecord

router = APIRouter(prefix="/v1/devices", tags=["devices"], route_class=UnicodeJsonRoute)


def device_public(row: DeviceRow, record: DeviceRecord | None) -> DevicePublic:
    """Home devices never get coordinates; the ward is the most precise place they have."""
    public = row.privacy == "public" and record is not None and record.privacy == "public"
    return DevicePublic(
        dev_eui=row.dev_eui,
        model=row.model,
        need=row.need,
        site=row.site,
        privacy="public" if row.privacy == "public" else "home",
        ward=record.ward or None if record else None,
        lat=record.lat if record and public else None,
        lon=record.lon if record and public else None,
        last_seen=row.last_seen,
        battery_percent=row.battery_percent,
        battery_voltage=row.battery_voltage,
        rssi=row.rssi,
        snr=row.snr,
    )


@router.get("", response_model=ListPublic[DevicePublic])
def list_devices(
    scoped: ScopedReadingsDep,
    services: ServicesDep,
    need: NeedQuery = None,
    site: SiteQuery = None,
    model: ModelQuery = None,
    dev_eui: DevEuiQuery = None,
) -> Response:
    """Devices heard within the widest allowed range, filtered by need, site, model and
    DevEUI (a list of one or none: unlike ``/{dev_eui}`` no 404, so a script can ask for many
    the same way). The JSON is built once for identical asks in the cache's time
    (``api.cache``)."""
    eui = dev_eui.lower() if dev_eui else None

    def body() -> bytes:
        rows = scoped.devices(need=need, site=site, model=model, dev_eui=eui)
        data = [device_public(row, services.devices.get(row.dev_eui)) for row in rows]
        return ListPublic[DevicePublic](data=data, count=len(data)).model_dump_json().encode()

    return Response(
        scoped.cached("devices_json", (need, site, model, eui), body), media_type="application/json"
    )


@router.get("/{dev_eui}", response_model=DevicePublic)
def get_device(
    scoped: ScopedReadingsDep, services: ServicesDep, dev_eui: DevEuiPath
) -> DevicePublic:
    row = scoped.device(dev_eui.lower())
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "device not found")
    return device_public(row, services.devices.get(row.dev_eui))

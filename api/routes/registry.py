"""The device registry as the API loaded it, for admins checking what the council's file says.

Read-only by design: the YAML/CSV file stays the one source of truth (reviewed, versioned,
re-read by the bridge and the API when it changes), so edits go to the file, not the API.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, status

from api.deps import AdminDep, ServicesDep
from api.models import ListPublic, RegistryDevicePublic
from api.routing import UnicodeJsonRoute
from core.errors import ConfigError
from storage.devices import load_devices

router = APIRouter(prefix="/v1/registry", tags=["registry"], route_class=UnicodeJsonRoute)


@router.get("/devices", response_model=ListPublic[RegistryDevicePublic])
def list_registry_devices(services: ServicesDep, _: AdminDep) -> ListPublic[RegistryDevicePublic]:
    path = services.devices.path
    try:
        records = load_devices(path).values() if path is not None else []
    except ConfigError as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc)) from None
    data = [
        RegistryDevicePublic(
            dev_eui=record.dev_eui,
            model=record.model,
            site=record.site,
            privacy=record.privacy,
            ward=record.ward or None,
            lat=record.lat,
            lon=record.lon,
        )
        for record in sorted(records, key=lambda record: record.dev_eui)
    ]
    return ListPublic[RegistryDevicePublic](data=data, count=len(data))

"""Which model, site and privacy an uplink's device has.

The registry file wins; otherwise what the network server tells us (device
profile name, device tags) fills in. Privacy fails closed: unless the registry
or an event tag says ``public`` explicitly, the device is treated as a home. The
event tag must be exactly ``public`` (lower case, no spaces): a tag typed as
``"PUBLIC "`` or ``"Public"`` is a mistake someone should fix, not a reason to
publish a device that may be in a home.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.errors import UnknownDeviceError
from decoders.configured import ModelCatalog
from decoders.registry import SPECS
from gateway_bridge.events import Uplink
from storage.devices import DeviceRegistry
from storage.schema import PRIVACY_HOME, PRIVACY_PUBLIC


@dataclass(frozen=True, slots=True)
class Device:
    """What the pipeline needs to know about the device that sent an uplink."""

    dev_eui: str
    model: str
    site: str
    privacy: str
    ward: str


def _known_models() -> dict[str, str]:
    return {spec.key.lower(): spec.key for spec in SPECS}


def resolver_models(catalog: ModelCatalog) -> dict[str, str]:
    """Native and configured model keys by lower-case name (device profiles match either)."""
    return {**_known_models(), **{m.key.lower(): m.key for m in catalog.models()}}


class Resolver:
    """Resolve devices against a registry (optional) and the decoder model keys."""

    def __init__(
        self, registry: DeviceRegistry | None = None, models: dict[str, str] | None = None
    ) -> None:
        self.registry = registry
        self.models = _known_models() if models is None else models

    def resolve(self, uplink: Uplink) -> Device:
        """``UnknownDeviceError`` when neither the registry nor the event names a model."""
        record = self.registry.get(uplink.dev_eui) if self.registry is not None else None
        tags = uplink.tags
        model = record.model if record is not None else ""
        if not model:
            model = self.models.get(uplink.device_profile.lower(), "")
        if not model:
            tagged = tags.get("model", "").strip()
            model = self.models.get(tagged.lower(), tagged)
        if not model:
            raise UnknownDeviceError(
                uplink.dev_eui,
                f"not in the registry, profile {uplink.device_profile!r} is no model, no model tag",
            )
        privacy = record.privacy if record is not None and record.privacy else None
        privacy = privacy or tags.get("privacy", "")
        return Device(
            dev_eui=uplink.dev_eui,
            model=model,
            site=(record.site if record is not None and record.site else tags.get("site", "")),
            privacy=PRIVACY_PUBLIC if privacy == PRIVACY_PUBLIC else PRIVACY_HOME,
            ward=(record.ward if record is not None and record.ward else tags.get("ward", "")),
        )

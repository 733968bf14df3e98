"""The device registry filled from ChirpStack v4's gRPC API (``chirpstack-api`` stubs).

What is read (ChirpStack v4 API, ``api/device.proto``, ``api/device_profile.proto``):
tenants (``TenantService.List``, or the configured tenant ids), each tenant's
applications (``ApplicationService.List``), each application's devices
(``DeviceService.List``: tags, ``last_seen_at``, ``device_status.battery_level``
in %, the device profile) and every profile a device uses
(``DeviceProfileService.Get``: name, ``uplink_interval`` in seconds). Lists are
paged with ``limit``/``offset`` until ``total_count`` is reached. The API token
goes in the ``authorization: Bearer <token>`` metadata of every call.

How a registry row is made (``plan``): ``model`` from the device's ``model``
tag, else the profile name when it names a known model (``known_model``), else
what the file already says; ``site``, ``ward``, ``lat``/``lon`` from tags of
those names, else the file's values; ``privacy`` from the ``privacy`` tag only
(``public`` only when stated: any other value, or none on a new device, leaves
it empty, which the bridge treats as ``home``); ``uplink_interval`` from the
profile. Devices the file lists but ChirpStack no longer has get ``status:
removed`` and ``removed_on``: never silently dropped. ``apply`` writes the
file atomically (temporary file in the same directory, then rename), keeping
its permissions. YAML comments are not kept.
"""

from __future__ import annotations

import csv
import io
import logging
import os
import re
import stat
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import grpc
import yaml
from chirpstack_api import api

from core.errors import ChirpStackAuthError, ChirpStackError, ConfigError
from core.settings import ChirpStackSettings
from storage.devices import COLUMNS, DeviceRecord, load_devices, parse_record
from storage.schema import PRIVACY_HOME, PRIVACY_PUBLIC

log = logging.getLogger(__name__)

REMOVED = "removed"
_AUTH_CODES = (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED)


@dataclass(frozen=True, slots=True)
class RemoteProfile:
    id: str
    name: str
    #: Seconds; None when the profile does not set one (0 in the API).
    uplink_interval: int | None


@dataclass(frozen=True, slots=True)
class RemoteDevice:
    dev_eui: str
    name: str
    application_id: str
    profile_id: str
    profile_name: str
    tags: dict[str, str]
    last_seen_at: datetime | None
    #: Battery level in % as the device last reported it (DevStatusAns); None if unknown.
    battery_level: float | None


@dataclass
class Snapshot:
    """Everything one sync read: devices by DevEUI and the profiles they use."""

    devices: dict[str, RemoteDevice] = field(default_factory=dict)
    profiles: dict[str, RemoteProfile] = field(default_factory=dict)
    #: Profile ids devices point at that ChirpStack could not return.
    missing_profiles: set[str] = field(default_factory=set)


def _grpc_error(exc: grpc.RpcError, what: str, target: str) -> ChirpStackError:
    code = exc.code() if hasattr(exc, "code") else None
    detail = exc.details() if hasattr(exc, "details") else str(exc)
    if code in _AUTH_CODES:
        return ChirpStackAuthError(
            f"ChirpStack {target} refused the API token ({code.name}) on {what}: {detail}"
        )
    name = code.name if code is not None else "error"
    return ChirpStackError(f"ChirpStack {target}: {what} failed ({name}): {detail}")


class ChirpStackClient:
    """Read-only access to one ChirpStack server; every failure is a ``ChirpStackError``."""

    def __init__(self, settings: ChirpStackSettings, server: str | None = None) -> None:
        target = server or settings.server
        if not target:
            raise ConfigError("no ChirpStack server: give --chirpstack HOST:PORT")
        token = settings.token()
        if not token:
            raise ConfigError(
                "no ChirpStack API token: set LEEDSWIN_CHIRPSTACK_API_TOKEN or its _FILE variant"
            )
        self.target = target
        self.settings = settings
        self._metadata = (("authorization", f"Bearer {token}"),)
        if settings.tls:
            try:
                roots = settings.ca_file.read_bytes() if settings.ca_file else None
            except OSError as exc:
                raise ConfigError(f"ChirpStack CA file {settings.ca_file}: {exc.strerror}") from exc
            self._channel = grpc.secure_channel(target, grpc.ssl_channel_credentials(roots))
        else:
            self._channel = grpc.insecure_channel(target)
        self._tenants = api.TenantServiceStub(self._channel)
        self._applications = api.ApplicationServiceStub(self._channel)
        self._devices = api.DeviceServiceStub(self._channel)
        self._profiles = api.DeviceProfileServiceStub(self._channel)

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> ChirpStackClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _call(self, what: str, method: Callable[..., Any], request: Any) -> Any:
        try:
            return method(request, metadata=self._metadata, timeout=self.settings.timeout)
        except grpc.RpcError as exc:
            raise _grpc_error(exc, what, self.target) from None

    def _pages(
        self, what: str, method: Callable[..., Any], factory: Callable[..., Any]
    ) -> Iterator[Any]:
        """Every item of a List call, page by page until ``total_count`` items were seen.
        ``factory(limit=, offset=)`` builds each page's request."""
        offset = 0
        limit = self.settings.page_size
        while True:
            response = self._call(what, method, factory(limit=limit, offset=offset))
            yield from response.result
            offset += len(response.result)
            if not response.result or offset >= response.total_count:
                return

    def tenant_ids(self) -> list[str]:
        if self.settings.tenant_ids:
            return list(self.settings.tenant_ids)
        return [
            t.id
            for t in self._pages("TenantService.List", self._tenants.List, api.ListTenantsRequest)
        ]

    def applications(self, tenant_id: str) -> list[Any]:
        def factory(**page: int) -> api.ListApplicationsRequest:
            return api.ListApplicationsRequest(tenant_id=tenant_id, **page)

        return list(self._pages("ApplicationService.List", self._applications.List, factory))

    def devices(self, application_id: str) -> list[Any]:
        def factory(**page: int) -> api.ListDevicesRequest:
            return api.ListDevicesRequest(application_id=application_id, **page)

        return list(self._pages("DeviceService.List", self._devices.List, factory))

    def profile(self, profile_id: str) -> RemoteProfile | None:
        """One device profile, or None when ChirpStack has no such profile (NOT_FOUND)."""
        try:
            response = self._profiles.Get(
                api.GetDeviceProfileRequest(id=profile_id),
                metadata=self._metadata,
                timeout=self.settings.timeout,
            )
        except grpc.RpcError as exc:
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                return None
            raise _grpc_error(exc, "DeviceProfileService.Get", self.target) from None
        profile = response.device_profile
        return RemoteProfile(profile.id, profile.name, profile.uplink_interval or None)

    def snapshot(self) -> Snapshot:
        """Read every device of every application of every tenant, and their profiles."""
        snap = Snapshot()
        for tenant_id in self.tenant_ids():
            for application in self.applications(tenant_id):
                for item in self.devices(application.id):
                    snap.devices[item.dev_eui.lower()] = _remote_device(item, application.id)
        for profile_id in sorted({d.profile_id for d in snap.devices.values() if d.profile_id}):
            profile = self.profile(profile_id)
            if profile is None:
                snap.missing_profiles.add(profile_id)
            else:
                snap.profiles[profile_id] = profile
        return snap


def _remote_device(item: Any, application_id: str) -> RemoteDevice:
    battery = None
    if item.HasField("device_status") and not item.device_status.external_power_source:
        battery = float(item.device_status.battery_level)
    return RemoteDevice(
        dev_eui=item.dev_eui.lower(),
        name=item.name,
        application_id=application_id,
        profile_id=item.device_profile_id,
        profile_name=item.device_profile_name,
        tags=dict(item.tags),
        last_seen_at=item.last_seen_at.ToDatetime(tzinfo=UTC)
        if item.HasField("last_seen_at")
        else None,
        battery_level=battery,
    )


def slug(text: str) -> str:
    """``"Milesight AM319"`` -> ``"milesight-am319"``: how profile names meet model keys."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


@dataclass
class SyncPlan:
    """What a sync changes: the new registry, and the differences from the old one."""

    records: list[DeviceRecord]
    added: list[DeviceRecord] = field(default_factory=list)
    changed: list[tuple[DeviceRecord, DeviceRecord]] = field(default_factory=list)
    removed: list[DeviceRecord] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.added or self.changed or self.removed)

    def diff_lines(self) -> list[str]:
        """``+`` added, ``~`` changed (field old -> new), ``-`` marked removed; then warnings."""
        lines = [f"+ {r.dev_eui} {_describe(r)}" for r in self.added]
        for old, new in self.changed:
            changes = [
                f"{f.name}: {getattr(old, f.name)!r} -> {getattr(new, f.name)!r}"
                for f in fields(DeviceRecord)
                if getattr(old, f.name) != getattr(new, f.name)
            ]
            lines.append(f"~ {new.dev_eui} " + "; ".join(changes))
        lines += [f"- {r.dev_eui} marked removed on {r.removed_on}" for r in self.removed]
        lines += [f"! {w}" for w in self.warnings]
        return lines


def _describe(record: DeviceRecord) -> str:
    return " ".join(
        f"{f.name}={getattr(record, f.name)}"
        for f in fields(DeviceRecord)
        if f.name != "dev_eui" and getattr(record, f.name) not in (None, "")
    )


def _row(record: DeviceRecord) -> dict[str, Any]:
    """Non-empty columns of a record, in file order."""
    return {c: getattr(record, c) for c in COLUMNS if getattr(record, c) not in (None, "")}


def plan(
    current: dict[str, DeviceRecord],
    snapshot: Snapshot,
    known_model: Callable[[str], str | None],
    today: date,
) -> SyncPlan:
    """The registry after a sync (pure). ``known_model(name)`` maps a profile name (or a
    ``model`` tag) to a model key, None when no decoder has it."""
    records: dict[str, DeviceRecord] = {}
    result = SyncPlan(records=[])
    for dev_eui, device in sorted(snapshot.devices.items()):
        old = current.get(dev_eui)
        tags = {k.strip().lower(): v.strip() for k, v in device.tags.items()}
        profile = snapshot.profiles.get(device.profile_id)
        if device.profile_id in snapshot.missing_profiles:
            result.warnings.append(
                f"{dev_eui}: device profile {device.profile_id} not found in ChirpStack"
            )
        model = ""
        if tags.get("model"):
            model = known_model(tags["model"]) or ""
            if not model:
                result.warnings.append(
                    f"{dev_eui}: model tag {tags['model']!r} is not a known model"
                )
        if not model and profile is not None:
            model = known_model(profile.name) or ""
        if not model and old is not None:
            model = old.model
        if not model:
            result.warnings.append(
                f"{dev_eui}: no model (no `model` tag, profile"
                f" {device.profile_name or device.profile_id!r} names no known model); skipped"
            )
            continue
        privacy: str | None = old.privacy if old is not None else None
        if "privacy" in tags:
            stated = tags["privacy"].lower()
            privacy = stated if stated in (PRIVACY_PUBLIC, PRIVACY_HOME) else None
            if privacy is None:
                result.warnings.append(
                    f"{dev_eui}: privacy tag {tags['privacy']!r} is not public or home;"
                    " left unknown (treated as home)"
                )
        row: dict[str, Any] = {
            "dev_eui": dev_eui,
            "model": model,
            "site": tags.get("site") or (old.site if old else ""),
            "privacy": privacy or "",
            "ward": tags.get("ward") or (old.ward if old else ""),
            "uplink_interval": profile.uplink_interval
            if profile is not None and profile.uplink_interval
            else (old.uplink_interval if old else None),
        }
        if privacy == PRIVACY_PUBLIC:
            row["lat"] = tags.get("lat") or (old.lat if old else None)
            row["lon"] = tags.get("lon") or (old.lon if old else None)
        try:
            record = parse_record(row, f"ChirpStack device {dev_eui}")
        except ConfigError as exc:
            result.warnings.append(f"{exc}; kept as it was" if old else f"{exc}; skipped")
            if old is not None:
                records[dev_eui] = old
            continue
        records[dev_eui] = record
        if old is None:
            result.added.append(record)
        elif old != record:
            result.changed.append((old, record))
    for dev_eui, old in sorted(current.items()):
        if dev_eui in records:
            continue
        if old.status == REMOVED:
            records[dev_eui] = old
            continue
        gone = replace(old, status=REMOVED, removed_on=today.isoformat())
        records[dev_eui] = gone
        result.removed.append(gone)
    result.records = [records[k] for k in sorted(records)]
    return result


def render(records: list[DeviceRecord], path: Path) -> str:
    """The registry file's text: CSV (header = ``COLUMNS``) or YAML (a ``devices:`` list)."""
    if path.suffix.lower() == ".csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        for record in records:
            writer.writerow(_row(record))
        return out.getvalue()
    header = "# Written by `leedswin registry sync`; comments are not kept.\n"
    body = yaml.safe_dump(
        {"devices": [_row(r) for r in records]}, sort_keys=False, allow_unicode=True
    )
    return header + body


def write_atomically(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` in one rename: readers see the old or the new file, whole.
    The new file keeps the old one's permission bits."""
    mode = stat.S_IMODE(path.stat().st_mode) if path.exists() else 0o644
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, mode)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def sync(
    client: ChirpStackClient,
    path: Path,
    known_model: Callable[[str], str | None],
    *,
    dry_run: bool = False,
    today: date | None = None,
) -> SyncPlan:
    """Read ChirpStack, plan the new registry, and (unless ``dry_run``) write it if it changed.

    The written text is read back through ``load_devices`` before the rename, so a
    sync can never leave a file the bridge refuses.
    """
    current = load_devices(path) if path.exists() else {}
    snapshot = client.snapshot()
    result = plan(current, snapshot, known_model, today or datetime.now(UTC).date())
    if dry_run or (result.empty and path.exists()):
        return result
    text = render(result.records, path)
    check = path.with_name(f".{path.name}.check{path.suffix}")
    try:
        check.write_text(text, encoding="utf-8")
        load_devices(check)
    finally:
        check.unlink(missing_ok=True)
    write_atomically(path, text)
    log.info(
        "event=registry_synced path=%s devices=%d added=%d changed=%d removed=%d warnings=%d",
        path,
        len(result.records),
        len(result.added),
        len(result.changed),
        len(result.removed),
        len(result.warnings),
    )
    return result


def run_schedule(
    settings: ChirpStackSettings,
    path: Path,
    known_model: Callable[[str], str | None],
    stop: threading.Event,
) -> None:
    """Sync every ``settings.sync_minutes`` until ``stop`` is set; failures are logged, retried
    on the next tick (the bridge re-reads the file when its mtime moves)."""
    assert settings.sync_minutes is not None
    while not stop.is_set():
        try:
            with ChirpStackClient(settings) as client:
                sync(client, path, known_model)
        except (ChirpStackError, ConfigError) as exc:
            log.warning("event=registry_sync_failed code=%s error=%s", exc.code, exc)
        stop.wait(settings.sync_minutes * 60)

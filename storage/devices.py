"""The device registry: which model, site, privacy and ward each DevEUI has.

Council staff keep it as YAML (a ``devices:`` list) or CSV (with a header),
so every error names the file and line. Privacy is personal-data critical:
values other than ``public``/``home`` are refused, a home device may not carry
coordinates, and a device whose privacy is left empty is *unknown*, which the
bridge resolves to ``home`` (fail closed). The file is re-read when its mtime
changes, so devices can be added without restarting the bridge.
"""

from __future__ import annotations

import csv
import logging
import math
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from core.errors import ConfigError
from storage.schema import PRIVACY_HOME, PRIVACY_PUBLIC

log = logging.getLogger(__name__)

COLUMNS = (
    "dev_eui",
    "model",
    "site",
    "privacy",
    "ward",
    "lat",
    "lon",
    "uplink_interval",
    "status",
    "removed_on",
)
#: ``status``: empty (in service) or ``removed`` (gone from the network server; see registry sync).
STATUSES = ("", "removed")
_REQUIRED = ("dev_eui", "model")
_HEX_EUI = re.compile(r"[0-9a-f]{16}")


@dataclass(frozen=True, slots=True)
class DeviceRecord:
    """One registry entry; ``privacy`` is None when the file leaves it empty (unknown)."""

    dev_eui: str
    model: str
    site: str = ""
    privacy: str | None = None
    ward: str = ""
    lat: float | None = None
    lon: float | None = None
    #: Seconds between uplinks the device is configured for (ChirpStack device profile).
    uplink_interval: int | None = None
    status: str = ""
    #: ISO date the registry sync found the device gone.
    removed_on: str = ""


class _LineLoader(yaml.SafeLoader):
    """SafeLoader that remembers each mapping's line, so errors can name it."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        mapping = super().construct_mapping(node, deep=deep)
        mapping["__line__"] = node.start_mark.line + 1
        return mapping


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _coordinate(value: Any, name: str, limit: float, where: str) -> float | None:
    text = _text(value)
    if not text:
        return None
    try:
        number = float(text)
    except ValueError:
        raise ConfigError(f"{where}: {name} {text!r} is not a number") from None
    if not math.isfinite(number) or not -limit <= number <= limit:
        raise ConfigError(f"{where}: {name} {number} outside -{limit}..{limit}")
    return number


def parse_record(row: dict[str, Any], where: str) -> DeviceRecord:
    """Validate one row (from YAML or CSV); ``ConfigError`` naming ``where`` if it is wrong."""
    unknown = sorted(str(key) for key in row if key not in COLUMNS)
    if unknown:
        raise ConfigError(f"{where}: unknown column(s) {', '.join(unknown)}; known: {COLUMNS}")
    for key in _REQUIRED:
        if not _text(row.get(key)):
            raise ConfigError(f"{where}: {key} is required")
    dev_eui = _text(row["dev_eui"]).lower()
    if not _HEX_EUI.fullmatch(dev_eui):
        raise ConfigError(f"{where}: dev_eui {row['dev_eui']!r} is not 16 hex digits")
    privacy = _text(row.get("privacy")).lower() or None
    if privacy not in (None, PRIVACY_PUBLIC, PRIVACY_HOME):
        raise ConfigError(f"{where}: privacy {privacy!r} must be public or home")
    lat = _coordinate(row.get("lat"), "lat", 90.0, where)
    lon = _coordinate(row.get("lon"), "lon", 180.0, where)
    if (lat is None) != (lon is None):
        raise ConfigError(f"{where}: give both lat and lon, or neither")
    if lat is not None and privacy != PRIVACY_PUBLIC:
        raise ConfigError(f"{where}: only public devices may have coordinates (homes are private)")
    interval_text = _text(row.get("uplink_interval"))
    if interval_text and not (interval_text.isdigit() and int(interval_text) > 0):
        raise ConfigError(f"{where}: uplink_interval {interval_text!r} is not whole seconds > 0")
    status = _text(row.get("status")).lower()
    if status not in STATUSES:
        raise ConfigError(f"{where}: status {status!r} must be empty or removed")
    return DeviceRecord(
        dev_eui=dev_eui,
        model=_text(row["model"]),
        site=_text(row.get("site")),
        privacy=privacy,
        ward=_text(row.get("ward")),
        lat=lat,
        lon=lon,
        uplink_interval=int(interval_text) if interval_text else None,
        status=status,
        removed_on=_text(row.get("removed_on")),
    )


def _rows(path: Path) -> list[tuple[dict[str, Any], str]]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read device registry: {exc}") from exc
    if path.suffix.lower() == ".csv":
        reader = csv.DictReader(text.splitlines())
        if reader.fieldnames is None:
            raise ConfigError(f"{path}: empty CSV, expected a header line")
        rows = []
        for row in reader:
            where = f"{path}:{reader.line_num}"
            if None in row:
                raise ConfigError(f"{where}: more values than header columns")
            rows.append(({k.strip(): v for k, v in row.items() if k is not None}, where))
        return rows
    try:
        document = yaml.load(text, Loader=_LineLoader)  # noqa: S506 - SafeLoader subclass
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML: {exc}") from exc
    devices = document.get("devices") if isinstance(document, dict) else None
    if not isinstance(devices, list):
        raise ConfigError(f"{path}: expected a top-level `devices:` list")
    rows = []
    for index, item in enumerate(devices):
        if not isinstance(item, dict):
            raise ConfigError(f"{path}: devices[{index}] is not a mapping")
        line = item.pop("__line__")
        rows.append((item, f"{path}:{line}"))
    return rows


def load_devices(path: Path) -> dict[str, DeviceRecord]:
    """Read and validate a whole registry file; duplicate DevEUIs are an error."""
    devices: dict[str, DeviceRecord] = {}
    for row, where in _rows(path):
        record = parse_record(row, where)
        if record.dev_eui in devices:
            raise ConfigError(f"{where}: dev_eui {record.dev_eui} listed twice")
        devices[record.dev_eui] = record
    return devices


class DeviceRegistry:
    """Devices by DevEUI, re-read when the file changes (checked at most every ``check_interval`` s).

    A file broken by an edit mid-stream keeps the last good registry and logs
    the error: config errors stop the bridge at start-up, never mid-stream.
    """

    def __init__(self, path: Path | None, check_interval: float = 1.0) -> None:
        self.path = path
        self.check_interval = check_interval
        self._devices: dict[str, DeviceRecord] = {}
        self._mtime_ns: int | None = None
        self._next_check = 0.0
        self._lock = threading.Lock()
        if path is not None:
            self._mtime_ns = self._stat()
            self._devices = load_devices(path)

    def _stat(self) -> int | None:
        assert self.path is not None
        try:
            return self.path.stat().st_mtime_ns
        except OSError:
            return None

    def reload_if_changed(self) -> bool:
        """Re-read the file if its mtime moved; True when a new registry was loaded."""
        if self.path is None:
            return False
        mtime = self._stat()
        if mtime is None or mtime == self._mtime_ns:
            return False
        with self._lock:
            self._mtime_ns = mtime
            try:
                self._devices = load_devices(self.path)
            except ConfigError as exc:
                log.error("event=registry_reload_failed path=%s error=%r", self.path, str(exc))
                return False
        log.info("event=registry_reloaded path=%s devices=%d", self.path, len(self._devices))
        return True

    def get(self, dev_eui: str) -> DeviceRecord | None:
        now = time.monotonic()
        if self.path is not None and now >= self._next_check:
            self._next_check = now + self.check_interval
            self.reload_if_changed()
        return self._devices.get(dev_eui)

    def __len__(self) -> int:
        return len(self._devices)

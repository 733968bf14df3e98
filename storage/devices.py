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
import io
import logging
import math
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from core import yamlfile
from core.errors import ConfigError
from core.yamlfile import NoAliasLoader
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


class _LineLoader(NoAliasLoader):
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
        document = yamlfile.load(text, _LineLoader)
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


def load_devices(
    path: Path, known_model: Callable[[str], bool] | None = None
) -> dict[str, DeviceRecord]:
    """Read and validate a whole registry file; duplicate DevEUIs are an error.

    ``known_model`` (native and configured model keys, given by the entry point)
    makes a model key it does not know an error naming the line.
    """
    devices: dict[str, DeviceRecord] = {}
    for row, where in _rows(path):
        record = parse_record(row, where)
        if known_model is not None and not known_model(record.model):
            raise ConfigError(f"{where}: model {record.model!r} is neither native nor configured")
        if record.dev_eui in devices:
            raise ConfigError(f"{where}: dev_eui {record.dev_eui} listed twice")
        devices[record.dev_eui] = record
    return devices


class DeviceRegistry:
    """Devices by DevEUI, re-read when the file changes (checked at most every ``check_interval`` s).

    A file broken by an edit mid-stream keeps the last good registry and logs
    the error: config errors stop the bridge at start-up, never mid-stream.
    """

    def __init__(
        self,
        path: Path | None,
        check_interval: float = 1.0,
        known_model: Callable[[str], bool] | None = None,
    ) -> None:
        self.path = path
        self.check_interval = check_interval
        self.known_model = known_model
        self._devices: dict[str, DeviceRecord] = {}
        self._mtime_ns: int | None = None
        self._next_check = 0.0
        self._lock = threading.Lock()
        self._not_public: tuple[dict[str, DeviceRecord], frozenset[str]] | None = None
        if path is not None:
            self._mtime_ns = self._stat()
            self._devices = load_devices(path, known_model)

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
                self._devices = load_devices(self.path, self.known_model)
            except ConfigError as exc:
                log.error("event=registry_reload_failed path=%s error=%r", self.path, str(exc))
                return False
        log.info("event=registry_reloaded path=%s devices=%d", self.path, len(self._devices))
        return True

    def _check(self) -> None:
        now = time.monotonic()
        if self.path is not None and now >= self._next_check:
            self._next_check = now + self.check_interval
            self.reload_if_changed()

    def get(self, dev_eui: str) -> DeviceRecord | None:
        self._check()
        return self._devices.get(dev_eui)

    def not_public(self) -> frozenset[str]:
        """DevEUIs the registry does not mark public (home, or privacy left empty)."""
        self._check()
        devices = self._devices
        cached = self._not_public
        if cached is None or cached[0] is not devices:
            hidden = frozenset(e for e, r in devices.items() if r.privacy != PRIVACY_PUBLIC)
            cached = self._not_public = (devices, hidden)
        return cached[1]

    def __len__(self) -> int:
        return len(self._devices)


def set_privacy(path: Path, dev_eui: str, privacy: str) -> DeviceRecord:
    """Rewrite one device's privacy in a registry file (YAML or CSV); its new record.

    A device becoming ``home`` loses its coordinates (homes may not carry any).
    The file is validated before it replaces the old one; YAML comments are not kept.
    """
    if privacy not in (PRIVACY_PUBLIC, PRIVACY_HOME):
        raise ConfigError(f"privacy {privacy!r} must be public or home")
    dev_eui = dev_eui.lower()
    if dev_eui not in load_devices(path):
        raise ConfigError(f"{path}: no device {dev_eui}; add it (with its model) first")
    text = path.read_text(encoding="utf-8")
    rows: list[dict[str, Any]]
    if path.suffix.lower() == ".csv":
        reader = csv.DictReader(text.splitlines())
        fieldnames = list(reader.fieldnames or COLUMNS)
        rows = list(reader)
    else:
        document = yamlfile.load(text)
        rows = document["devices"]
    for row in rows:
        if _text(row.get("dev_eui")).lower() == dev_eui:
            row["privacy"] = privacy
            if privacy == PRIVACY_HOME:
                for key in ("lat", "lon"):
                    if key in row:
                        row[key] = "" if path.suffix.lower() == ".csv" else None
    if path.suffix.lower() == ".csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=fieldnames, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        new_text = buffer.getvalue()
    else:
        document["devices"] = [{k: v for k, v in row.items() if v is not None} for row in rows]
        new_text = yaml.safe_dump(document, sort_keys=False, allow_unicode=True)
    staged = path.with_name(f".{path.stem}.new{path.suffix}")
    staged.write_text(new_text, encoding="utf-8")
    try:
        record = load_devices(staged)[dev_eui]
    except ConfigError:
        staged.unlink()
        raise
    staged.replace(path)
    return record

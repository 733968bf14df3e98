"""Device health: silent and late devices, dying batteries, failing links, rejoins.

Per device, from the ``uplink`` and ``dead_letter`` measurements of the last
``FleetSettings.lookback_days`` and the device registry:

- expected interval: the registry's ``uplink_interval`` (filled from the
  ChirpStack device profile by ``leedswin registry sync``), else the median
  gap per frame (gap / fCnt step, at least 3 uplinks), else unknown;
- ``missed_uplinks``: uplinks due more than half an interval ago that have not
  arrived, ``floor(gap / interval - 0.5)`` where gap = now - last uplink;
- link state: ``ok`` → ``late`` once the gap exceeds ``late_after`` intervals →
  ``silent`` past ``silent_after`` intervals; back to ``ok`` only with a new
  uplink (the gap drops under one interval), so a device that drifts around
  one threshold, or is one minute late, never flaps;
- battery state from the median of the last 3 readings of the model's
  quantity (``battery_percent`` or ``battery_voltage``): ``low`` / ``critical``
  below the thresholds in ``BATTERY_THRESHOLDS`` (per model, else per
  quantity); it returns to a better state only ``BATTERY_HYSTERESIS`` above the
  threshold (batteries read higher when warm);
- radio: median RSSI and SNR and mean gateways of the last day against the
  days before; ``degraded`` on a drop of ``RSSI_DROP_DB`` / ``SNR_DROP_DB`` or
  a lost gateway, ``ok`` again only under half those drops;
- ``rejoins``: times the fCnt went back (a rejoin or reboot resets it);
- ``dead_letter_rate``: refused events / (stored uplinks + refused events).

States are stored in the registry database (``fleet_devices``), and every
state change opens, escalates or resolves an event (``fleet_events``, with
open/escalate/resolve times), which ``insights.notify`` turns into messages.
Each run also writes one ``device_health`` point per device (the network
dashboard's table). Devices the registry marks ``removed`` are skipped. The job
reads the whole window hourly and only the last minutes on the ticks between.
"""

from __future__ import annotations

import json
import logging
import math
import socket
import sqlite3
import statistics
import threading
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final, Literal, Protocol

from core.errors import PlatformError, SinkError
from core.settings import FleetSettings
from storage import schema
from storage.devices import DeviceRecord
from storage.points import Point, encode, make_point
from storage.registry import open_registry

log = logging.getLogger(__name__)

LinkState = Literal["ok", "late", "silent", "unknown"]
BatteryState = Literal["ok", "low", "critical", "unknown"]
RadioState = Literal["ok", "degraded", "unknown"]

#: The longest snooze, for the API and the CLI alike: a quarter (90 days), so a forgotten
#: snooze ends and a date past ``datetime.max`` can never be asked for.
MAX_SNOOZE_HOURS: Final = 24 * 90

#: Severity order of each kind's states; an event is open while the state is above ``ok``.
SEVERITY: Final[dict[str, tuple[str, ...]]] = {
    "link": ("ok", "late", "silent"),
    "battery": ("ok", "low", "critical"),
    "radio": ("ok", "degraded"),
    "service": ("ok", "down"),
}


@dataclass(frozen=True, slots=True)
class BatteryThresholds:
    quantity: str
    low: float
    critical: float
    source: str


#: Per quantity: 20 %/10 % are the levels vendors' device managers flag (ChirpStack shows
#: the DevStatusAns level; Milesight's AM series reports percent); 2.5 V/2.3 V suit the
#: 3.0–3.6 V lithium cells most of the fleet uses (primary-cell voltage collapses late).
DEFAULT_THRESHOLDS: Final[dict[str, BatteryThresholds]] = {
    "battery_percent": BatteryThresholds("battery_percent", 20.0, 10.0, "platform default"),
    "battery_voltage": BatteryThresholds("battery_voltage", 2.5, 2.3, "platform default"),
}
#: Per model, where the vendor documents the levels.
BATTERY_THRESHOLDS: Final[dict[str, BatteryThresholds]] = {
    # Dragino LHT65N manual, "BAT status": low 2.50–2.55 V, ultra low <= 2.50 V.
    "dragino-lht65n": BatteryThresholds("battery_voltage", 2.55, 2.50, "Dragino LHT65N manual"),
}
#: How far above a threshold a battery must read before its state improves.
BATTERY_HYSTERESIS: Final[dict[str, float]] = {"battery_percent": 5.0, "battery_voltage": 0.1}
#: A fleet job reads the whole look-back window this often; ticks in between read only
#: the last ``REREAD`` (the bridge stores uplinks at their event time, some arrive late).
FULL_READ_EVERY: Final = timedelta(hours=1)
REREAD: Final = timedelta(minutes=15)
RSSI_DROP_DB: Final = 8.0
SNR_DROP_DB: Final = 4.0
RECENT: Final = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Uplink:
    time: datetime
    f_cnt: int | None = None
    rssi: float | None = None
    snr: float | None = None
    gateways: int | None = None
    battery_voltage: float | None = None
    battery_percent: float | None = None


@dataclass(frozen=True)
class Previous:
    """A device's stored states from the run before."""

    link: str = "unknown"
    battery: str = "unknown"
    radio: str = "unknown"


@dataclass
class DeviceHealth:
    dev_eui: str
    model: str
    site: str
    privacy: str
    ward: str = ""
    need: str = ""
    expected_interval: float | None = None
    interval_source: str = ""
    last_seen: datetime | None = None
    missed_uplinks: int = 0
    link: str = "unknown"
    battery: str = "unknown"
    battery_quantity: str = ""
    battery_value: float | None = None
    radio: str = "unknown"
    rssi_recent: float | None = None
    rssi_before: float | None = None
    snr_recent: float | None = None
    snr_before: float | None = None
    gateways_recent: float | None = None
    gateways_before: float | None = None
    uplinks: int = 0
    rejoins: int = 0
    dead_letters: int = 0
    dead_letter_rate: float | None = None

    def state(self, kind: str) -> str:
        return str(getattr(self, kind))


def median_interval(uplinks: Sequence[Uplink]) -> float | None:
    """Median seconds per frame: each gap divided by its fCnt step (missed frames do not
    stretch it); gaps across an fCnt reset count as one frame. None under 3 uplinks."""
    if len(uplinks) < 3:
        return None
    per_frame = []
    for a, b in zip(uplinks, uplinks[1:], strict=False):
        gap = (b.time - a.time).total_seconds()
        if gap <= 0:
            continue
        step = 1
        if a.f_cnt is not None and b.f_cnt is not None and b.f_cnt > a.f_cnt:
            step = b.f_cnt - a.f_cnt
        per_frame.append(gap / step)
    return statistics.median(per_frame) if per_frame else None


def count_rejoins(uplinks: Sequence[Uplink]) -> int:
    """Times the frame counter went backwards (a rejoin or reboot restarts it at 0)."""
    counts = [u.f_cnt for u in uplinks if u.f_cnt is not None]
    return sum(1 for a, b in zip(counts, counts[1:], strict=False) if b < a)


def link_state(
    gap: float, interval: float, previous: str, late_after: float, silent_after: float
) -> str:
    """ok/late/silent from the gap since the last uplink, with hysteresis (module docstring)."""
    if gap > silent_after * interval:
        target = "silent"
    elif gap > late_after * interval:
        target = "late"
    else:
        target = "ok"
    if previous in ("late", "silent") and target == "ok" and gap > interval:
        # No uplink since the state was raised: the gap only grows until one arrives.
        return previous
    if previous == "silent" and target == "late":
        return "silent"
    return target


def battery_state(value: float, thresholds: BatteryThresholds, previous: str) -> str:
    """ok/low/critical; improving needs ``BATTERY_HYSTERESIS`` above the threshold."""
    margin = BATTERY_HYSTERESIS.get(thresholds.quantity, 0.0)
    if value < thresholds.critical:
        return "critical"
    if previous == "critical" and value < thresholds.critical + margin:
        return "critical"
    if value < thresholds.low:
        return "low"
    if previous in ("low", "critical") and value < thresholds.low + margin:
        return "low"
    return "ok"


def thresholds_for(model: str, uplinks: Sequence[Uplink]) -> BatteryThresholds | None:
    """The model's documented levels, else the default for the quantity it reports."""
    if model in BATTERY_THRESHOLDS:
        return BATTERY_THRESHOLDS[model]
    if any(u.battery_percent is not None for u in uplinks):
        return DEFAULT_THRESHOLDS["battery_percent"]
    if any(u.battery_voltage is not None for u in uplinks):
        return DEFAULT_THRESHOLDS["battery_voltage"]
    return None


def _median(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None and math.isfinite(v)]
    return statistics.median(present) if present else None


def _mean(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None and math.isfinite(v)]
    return statistics.fmean(present) if present else None


def radio_state(h: DeviceHealth, previous: str) -> str:
    if h.rssi_recent is None or h.rssi_before is None:
        return "unknown"
    rssi_drop = h.rssi_before - h.rssi_recent
    snr_drop = (
        h.snr_before - h.snr_recent if h.snr_before is not None and h.snr_recent is not None else 0
    )
    lost_gateway = (
        h.gateways_before is not None
        and h.gateways_recent is not None
        and h.gateways_before - h.gateways_recent >= 1
    )
    if rssi_drop >= RSSI_DROP_DB or snr_drop >= SNR_DROP_DB or lost_gateway:
        return "degraded"
    if previous == "degraded" and (rssi_drop >= RSSI_DROP_DB / 2 or snr_drop >= SNR_DROP_DB / 2):
        return "degraded"
    return "ok"


def assess(
    identity: dict[str, str],
    uplinks: Sequence[Uplink],
    record: DeviceRecord | None,
    previous: Previous,
    now: datetime,
    settings: FleetSettings,
    dead_letters: int = 0,
) -> DeviceHealth:
    """One device's health at ``now`` (pure). ``uplinks`` oldest first."""
    h = DeviceHealth(
        dev_eui=identity["dev_eui"],
        model=identity.get("model", "") or (record.model if record else ""),
        site=identity.get("site", "") or (record.site if record else ""),
        privacy=identity.get("privacy", schema.PRIVACY_HOME),
        ward=record.ward if record else "",
        need=identity.get("need", ""),
        uplinks=len(uplinks),
        dead_letters=dead_letters,
    )
    # The registry beats a stored tag: unknown or home there means home (fail closed).
    if h.privacy != schema.PRIVACY_PUBLIC or (
        record is not None and record.privacy != schema.PRIVACY_PUBLIC
    ):
        h.privacy = schema.PRIVACY_HOME
    if record is not None and record.uplink_interval:
        h.expected_interval, h.interval_source = float(record.uplink_interval), "registry"
    else:
        learned = median_interval(uplinks)
        if learned:
            h.expected_interval, h.interval_source = learned, "median"
    if uplinks:
        h.last_seen = uplinks[-1].time
    if h.expected_interval:
        gap = (now - h.last_seen).total_seconds() if h.last_seen else settings.lookback_days * 86400
        h.missed_uplinks = max(0, math.floor(gap / h.expected_interval - 0.5))
        h.link = link_state(
            gap, h.expected_interval, previous.link, settings.late_after, settings.silent_after
        )
    thresholds = thresholds_for(h.model, uplinks)
    if thresholds is not None:
        recent = [
            getattr(u, thresholds.quantity)
            for u in uplinks
            if getattr(u, thresholds.quantity) is not None
        ][-3:]
        if recent:
            h.battery_quantity = thresholds.quantity
            h.battery_value = statistics.median(recent)
            h.battery = battery_state(h.battery_value, thresholds, previous.battery)
    split = now - RECENT
    recent_ups = [u for u in uplinks if u.time >= split]
    before_ups = [u for u in uplinks if u.time < split]
    h.rssi_recent = _median([u.rssi for u in recent_ups])
    h.rssi_before = _median([u.rssi for u in before_ups])
    h.snr_recent = _median([u.snr for u in recent_ups])
    h.snr_before = _median([u.snr for u in before_ups])
    h.gateways_recent = _mean([u.gateways for u in recent_ups])
    h.gateways_before = _mean([u.gateways for u in before_ups])
    h.radio = radio_state(h, previous.radio)
    h.rejoins = count_rejoins(uplinks)
    if uplinks or dead_letters:
        h.dead_letter_rate = dead_letters / (len(uplinks) + dead_letters)
    return h


# --- the store -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Transition:
    """A state change: what ``insights.notify`` turns into a notice."""

    kind: str
    dev_eui: str
    old: str
    new: str
    at: datetime
    event_id: int
    model: str = ""
    site: str = ""
    ward: str = ""
    privacy: str = schema.PRIVACY_HOME
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """The rule name: ``device.silent``, ``device.recovered``, ``battery.low``…"""
        subject = {"link": "device", "service": "service"}.get(self.kind, self.kind)
        if self.new == "ok":
            return f"{subject}.recovered"
        return f"{subject}.{self.new}"


_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS fleet_devices ("
    " dev_eui TEXT PRIMARY KEY, link TEXT NOT NULL, battery TEXT NOT NULL, radio TEXT NOT NULL,"
    " model TEXT NOT NULL, site TEXT NOT NULL, ward TEXT NOT NULL, privacy TEXT NOT NULL,"
    " health TEXT NOT NULL, updated_at TEXT NOT NULL,"
    " snoozed_until TEXT, acknowledged_at TEXT, acknowledged_by TEXT)",
    "CREATE TABLE IF NOT EXISTS fleet_events ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT, dev_eui TEXT NOT NULL, kind TEXT NOT NULL,"
    " state TEXT NOT NULL, opened_at TEXT NOT NULL, escalated_at TEXT, resolved_at TEXT,"
    " acknowledged_at TEXT, acknowledged_by TEXT,"
    " model TEXT NOT NULL, site TEXT NOT NULL, ward TEXT NOT NULL, privacy TEXT NOT NULL,"
    " detail TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS fleet_events_open ON fleet_events (dev_eui, kind, resolved_at)",
)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse_time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


@dataclass(frozen=True)
class FleetEvent:
    id: int
    dev_eui: str
    kind: str
    state: str
    opened_at: datetime
    escalated_at: datetime | None
    resolved_at: datetime | None
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    model: str
    site: str
    ward: str
    privacy: str
    detail: dict[str, Any]


def _event(row: sqlite3.Row) -> FleetEvent:
    return FleetEvent(
        id=int(row["id"]),
        dev_eui=row["dev_eui"],
        kind=row["kind"],
        state=row["state"],
        opened_at=parse_time(row["opened_at"]) or datetime.min.replace(tzinfo=UTC),
        escalated_at=parse_time(row["escalated_at"]),
        resolved_at=parse_time(row["resolved_at"]),
        acknowledged_at=parse_time(row["acknowledged_at"]),
        acknowledged_by=row["acknowledged_by"],
        model=row["model"],
        site=row["site"],
        ward=row["ward"],
        privacy=row["privacy"],
        detail=json.loads(row["detail"]),
    )


class FleetStore:
    """Device states and their events in the registry database; one connection per use."""

    def __init__(self, path: Path) -> None:
        self.path = path
        with self._connect() as conn:
            for statement in _SCHEMA:
                conn.execute(statement)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        registry = open_registry(self.path)
        try:
            yield registry.connection
        finally:
            registry.close()

    def previous(self) -> dict[str, Previous]:
        with self._connect() as conn:
            rows = conn.execute("SELECT dev_eui, link, battery, radio FROM fleet_devices")
            return {r["dev_eui"]: Previous(r["link"], r["battery"], r["radio"]) for r in rows}

    def record(self, healths: Sequence[DeviceHealth], now: datetime) -> list[Transition]:
        """Store each device's states; open, escalate or resolve events; return the changes."""
        transitions: list[Transition] = []
        with self._connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                for h in healths:
                    old = conn.execute(
                        "SELECT link, battery, radio FROM fleet_devices WHERE dev_eui = ?",
                        (h.dev_eui,),
                    ).fetchone()
                    conn.execute(
                        "INSERT INTO fleet_devices (dev_eui, link, battery, radio, model, site,"
                        " ward, privacy, health, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?)"
                        " ON CONFLICT(dev_eui) DO UPDATE SET link=excluded.link,"
                        " battery=excluded.battery, radio=excluded.radio, model=excluded.model,"
                        " site=excluded.site, ward=excluded.ward, privacy=excluded.privacy,"
                        " health=excluded.health, updated_at=excluded.updated_at",
                        (
                            h.dev_eui,
                            h.link,
                            h.battery,
                            h.radio,
                            h.model,
                            h.site,
                            h.ward,
                            h.privacy,
                            json.dumps(_jsonable(h)),
                            iso(now),
                        ),
                    )
                    for kind in ("link", "battery", "radio"):
                        before = old[kind] if old is not None else "unknown"
                        transition = self._change(conn, kind, h, before, h.state(kind), now)
                        if transition is not None:
                            transitions.append(transition)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        return transitions

    def service(self, name: str, up: bool, now: datetime, detail: str = "") -> Transition | None:
        """Record a platform service (``influxdb``, ``broker``) as up or down."""
        h = DeviceHealth(dev_eui=name, model="", site=name, privacy=schema.PRIVACY_PUBLIC)
        state = "ok" if up else "down"
        with self._connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                row = conn.execute(
                    "SELECT state FROM fleet_events WHERE dev_eui = ? AND kind = 'service'"
                    " AND resolved_at IS NULL",
                    (name,),
                ).fetchone()
                before = row["state"] if row else "ok"
                result = self._change(conn, "service", h, before, state, now, {"error": detail})
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        return result

    @staticmethod
    def _change(
        conn: sqlite3.Connection,
        kind: str,
        h: DeviceHealth,
        before: str,
        after: str,
        now: datetime,
        detail: dict[str, Any] | None = None,
    ) -> Transition | None:
        order = SEVERITY[kind]
        if after not in order or before == after:
            return None  # "unknown" neither opens nor resolves anything
        info = detail or {
            "expected_interval": h.expected_interval,
            "last_seen": iso(h.last_seen) if h.last_seen else None,
            "missed_uplinks": h.missed_uplinks,
            "battery_quantity": h.battery_quantity,
            "battery_value": h.battery_value,
            "rssi_recent": h.rssi_recent,
            "rssi_before": h.rssi_before,
            "snr_recent": h.snr_recent,
            "snr_before": h.snr_before,
        }
        open_row = conn.execute(
            "SELECT id, state FROM fleet_events WHERE dev_eui = ? AND kind = ?"
            " AND resolved_at IS NULL ORDER BY id DESC LIMIT 1",
            (h.dev_eui, kind),
        ).fetchone()
        if after == "ok":
            if open_row is None:
                return None  # first sight of a healthy device: nothing to resolve
            conn.execute(
                "UPDATE fleet_events SET resolved_at = ? WHERE id = ?", (iso(now), open_row["id"])
            )
            event_id, old = int(open_row["id"]), open_row["state"]
        elif open_row is None:
            cursor = conn.execute(
                "INSERT INTO fleet_events (dev_eui, kind, state, opened_at, model, site, ward,"
                " privacy, detail) VALUES (?,?,?,?,?,?,?,?,?)",
                (
                    h.dev_eui,
                    kind,
                    after,
                    iso(now),
                    h.model,
                    h.site,
                    h.ward,
                    h.privacy,
                    json.dumps(info),
                ),
            )
            event_id, old = int(cursor.lastrowid or 0), "ok"
        else:
            if open_row["state"] == after:
                return None
            conn.execute(
                "UPDATE fleet_events SET state = ?, escalated_at = ?, detail = ? WHERE id = ?",
                (after, iso(now), json.dumps(info), open_row["id"]),
            )
            event_id, old = int(open_row["id"]), open_row["state"]
        return Transition(
            kind, h.dev_eui, old, after, now, event_id, h.model, h.site, h.ward, h.privacy, info
        )

    def events(
        self,
        *,
        open_only: bool = False,
        dev_eui: str | None = None,
        kind: str | None = None,
        privacy: str | None = None,
        exclude: Collection[str] = (),
        limit: int = 500,
    ) -> list[FleetEvent]:
        """Events newest first; ``exclude``: DevEUIs left out by the query itself, so ``limit``
        counts only the events the caller may see."""
        where, args = ["1=1"], []
        if open_only:
            where.append("resolved_at IS NULL")
        for column, value in (("dev_eui", dev_eui), ("kind", kind), ("privacy", privacy)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        if exclude:
            where.append("dev_eui NOT IN (SELECT value FROM json_each(?))")
            args.append(json.dumps(sorted(exclude)))
        with self._connect() as conn:
            rows = conn.execute(
                f"SELECT * FROM fleet_events WHERE {' AND '.join(where)}"
                " ORDER BY opened_at DESC, id DESC LIMIT ?",
                (*args, limit),
            ).fetchall()
        return [_event(r) for r in rows]

    def devices(self, privacy: str | None = None) -> list[dict[str, Any]]:
        """Each device's newest health (``DeviceHealth`` fields) with its snooze/acknowledgement."""
        sql, args = "SELECT * FROM fleet_devices", []
        if privacy is not None:
            sql += " WHERE privacy = ?"
            args.append(privacy)
        with self._connect() as conn:
            rows = conn.execute(sql + " ORDER BY dev_eui", args).fetchall()
        out = []
        for r in rows:
            item = json.loads(r["health"])
            item.update(
                updated_at=r["updated_at"],
                snoozed_until=r["snoozed_until"],
                acknowledged_at=r["acknowledged_at"],
                acknowledged_by=r["acknowledged_by"],
            )
            out.append(item)
        return out

    def snooze(self, dev_eui: str, until: datetime) -> bool:
        """No notices about this device until ``until`` (states and events still recorded)."""
        with self._connect() as conn:
            cursor = conn.execute(
                "UPDATE fleet_devices SET snoozed_until = ? WHERE dev_eui = ?",
                (iso(until), dev_eui),
            )
        return cursor.rowcount == 1

    def acknowledge(self, dev_eui: str, actor: str, at: datetime) -> int | None:
        """Acknowledge the device's open events: they escalate silently; recoveries still notify.
        Returns how many were open, or None for a device not in the fleet state."""
        with self._connect() as conn:
            device = conn.execute(
                "UPDATE fleet_devices SET acknowledged_at = ?, acknowledged_by = ?"
                " WHERE dev_eui = ?",
                (iso(at), actor, dev_eui),
            )
            if device.rowcount != 1:
                return None
            cursor = conn.execute(
                "UPDATE fleet_events SET acknowledged_at = ?, acknowledged_by = ?"
                " WHERE dev_eui = ? AND resolved_at IS NULL",
                (iso(at), actor, dev_eui),
            )
        return cursor.rowcount

    def muted(self, dev_eui: str, event_id: int, recovery: bool, now: datetime) -> bool:
        """Whether a notice about this device's event is held back: the device is snoozed, or
        the event was acknowledged and the notice is not its recovery."""
        with self._connect() as conn:
            device = conn.execute(
                "SELECT snoozed_until FROM fleet_devices WHERE dev_eui = ?", (dev_eui,)
            ).fetchone()
            event = conn.execute(
                "SELECT acknowledged_at FROM fleet_events WHERE id = ?", (event_id,)
            ).fetchone()
        snoozed = parse_time(device["snoozed_until"]) if device else None
        if snoozed is not None and snoozed > now:
            return True
        return bool(event and event["acknowledged_at"] and not recovery)


def _jsonable(h: DeviceHealth) -> dict[str, Any]:
    data = asdict(h)
    data["last_seen"] = iso(h.last_seen) if h.last_seen else None
    return data


# --- the job ---------------------------------------------------------------------------------


class QueryRunner(Protocol):
    def query(self, q: str, params: dict[str, Any] | None = None) -> Sequence[Any]: ...


class Sink(Protocol):
    def write(self, body: bytes) -> None: ...


STATE_LEVEL: Final = {
    "unknown": -1,
    "ok": 0,
    "late": 1,
    "low": 1,
    "degraded": 1,
    "silent": 2,
    "critical": 2,
}


def health_point(h: DeviceHealth, now: datetime) -> Point:
    """The ``device_health`` point of one run: states as text and as levels (−1 unknown,
    0 ok, 1 late/low/degraded, 2 silent/critical) so dashboards can colour them."""
    fields: dict[str, Any] = {
        "link": h.link,
        "link_level": STATE_LEVEL[h.link],
        "battery": h.battery,
        "battery_level": STATE_LEVEL[h.battery],
        "radio": h.radio,
        "missed_uplinks": h.missed_uplinks,
        "uplinks": h.uplinks,
        "rejoins": h.rejoins,
        "dead_letters": h.dead_letters,
    }
    optional = {
        "expected_interval": h.expected_interval,
        "battery_value": h.battery_value,
        "rssi": h.rssi_recent,
        "snr": h.snr_recent,
        "dead_letter_rate": h.dead_letter_rate,
        "silent_for": (now - h.last_seen).total_seconds() if h.last_seen else None,
    }
    fields.update({k: round(float(v), 3) for k, v in optional.items() if v is not None})
    tags = {
        "dev_eui": h.dev_eui,
        "model": h.model,
        "site": h.site,
        "privacy": h.privacy,
        "need": h.need,
    }
    return make_point(schema.DEVICE_HEALTH, tags, fields, int(now.timestamp()) * 1_000_000_000)


@dataclass
class FleetReport:
    at: datetime
    devices: int = 0
    transitions: list[Transition] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def states(self, healths: Sequence[DeviceHealth]) -> dict[str, int]:
        counts: dict[str, int] = {}
        for h in healths:
            counts[h.link] = counts.get(h.link, 0) + 1
        return counts


def _num(value: Any) -> float | None:
    return None if value is None else float(value)


class FleetJob:
    """One health run: read uplinks and dead letters, assess, store, write points."""

    def __init__(
        self,
        settings: FleetSettings,
        query: QueryRunner,
        sink: Sink | None,
        store: FleetStore,
        devices: Callable[[], dict[str, DeviceRecord]] = dict,
    ) -> None:
        self.settings = settings
        self.query = query
        self.sink = sink
        self.store = store
        self.devices = devices
        # dev_eui -> (newest tags, uplinks by time ns): ticks between full reads add only
        # what is new, so a tick costs minutes of uplinks, not the whole look-back window.
        self._cache: dict[str, tuple[dict[str, str], dict[int, Uplink]]] = {}
        self._full_read_at: datetime | None = None
        self._read_to: datetime | None = None

    def _window(
        self, now: datetime, since: datetime
    ) -> dict[str, tuple[dict[str, str], list[Uplink]]]:
        """The look-back window's uplinks per device: a full read every ``FULL_READ_EVERY``,
        else the last ``REREAD`` (uplinks stored late) merged into what was read before."""
        full = (
            self._full_read_at is None
            or self._read_to is None
            or now - self._full_read_at >= FULL_READ_EVERY
            or now < self._read_to
        )
        if full:
            self._cache, self._full_read_at, start = {}, now, since
        else:
            assert self._read_to is not None
            start = max(since, self._read_to - REREAD)
        for dev_eui, (tags, ups) in self._uplinks(int(start.timestamp()) * 10**9).items():
            entry = self._cache.setdefault(dev_eui, (tags, {}))
            entry[0].update(tags)
            entry[1].update((int(u.time.timestamp() * 1e9), u) for u in ups)
        self._read_to = now
        out = {}
        for dev_eui, (tags, by_time) in self._cache.items():
            for t in [t for t, u in by_time.items() if u.time < since]:
                del by_time[t]
            out[dev_eui] = (tags, sorted(by_time.values(), key=lambda u: u.time))
        return out

    def _uplinks(self, since_ns: int) -> dict[str, tuple[dict[str, str], list[Uplink]]]:
        series = self.query.query(
            'SELECT "f_cnt", "rssi", "snr", "gateways", "battery_voltage", "battery_percent"'
            f' FROM "{schema.UPLINK}" WHERE time >= $since'
            ' GROUP BY "dev_eui", "model", "site", "privacy", "need"',
            {"since": since_ns},
        )
        out: dict[str, tuple[dict[str, str], list[Uplink]]] = {}
        for s in series:
            dev_eui = s.tags.get("dev_eui", "")
            if not dev_eui:
                continue
            ups = out.setdefault(dev_eui, (dict(s.tags), []))[1]
            for r in s.records():
                ups.append(
                    Uplink(
                        time=datetime.fromtimestamp(int(r["time"]) / 1e9, tz=UTC),
                        f_cnt=None if r.get("f_cnt") is None else int(r["f_cnt"]),
                        rssi=_num(r.get("rssi")),
                        snr=_num(r.get("snr")),
                        gateways=None if r.get("gateways") is None else int(r["gateways"]),
                        battery_voltage=_num(r.get("battery_voltage")),
                        battery_percent=_num(r.get("battery_percent")),
                    )
                )
        for _, ups in out.values():
            ups.sort(key=lambda u: u.time)
        return out

    def _dead_letters(self, since_ns: int) -> dict[str, int]:
        series = self.query.query(
            f'SELECT count("error") AS n FROM "{schema.DEAD_LETTER}" WHERE time >= $since'
            ' GROUP BY "dev_eui"',
            {"since": since_ns},
        )
        return {s.tags.get("dev_eui", ""): int(s.values[0][1]) for s in series if s.values}

    def run(self, now: datetime | None = None) -> tuple[FleetReport, list[DeviceHealth]]:
        now = now or datetime.now(UTC)
        report = FleetReport(at=now)
        since = now - timedelta(days=self.settings.lookback_days)
        uplinks = self._window(now, since)
        dead = self._dead_letters(int(since.timestamp()) * 10**9)
        registry = self.devices()
        previous = self.store.previous()
        healths = []
        for dev_eui in sorted(set(uplinks) | {k for k, r in registry.items() if not r.status}):
            record = registry.get(dev_eui)
            if record is not None and record.status:
                continue  # removed from the network server
            tags, ups = uplinks.get(dev_eui, ({"dev_eui": dev_eui}, []))
            healths.append(
                assess(
                    tags,
                    ups,
                    record,
                    previous.get(dev_eui, Previous()),
                    now,
                    self.settings,
                    dead.get(dev_eui, 0),
                )
            )
        report.devices = len(healths)
        report.transitions = self.store.record(healths, now)
        if self.sink is not None and healths:
            try:
                self.sink.write(encode([health_point(h, now) for h in healths]))
            except SinkError as exc:
                # The states and events are stored; only the dashboard's points wait a run.
                report.errors.append(f"device_health not written: {exc}")
                log.warning("event=device_health_write_failed code=%s error=%s", exc.code, exc)
        return report, healths


def tcp_reachable(host: str, port: int, timeout: float = 3.0) -> tuple[bool, str]:
    """Whether something accepts TCP connections there (the broker check)."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True, ""
    except OSError as exc:
        return False, f"{type(exc).__name__}: {exc}"


def check_services(
    store: FleetStore, checks: dict[str, Callable[[], tuple[bool, str]]], now: datetime
) -> list[Transition]:
    """Run each named check (``influxdb``, ``broker``) and record it as up or down."""
    transitions = []
    for name, check in checks.items():
        try:
            up, detail = check()
        except PlatformError as exc:
            up, detail = False, str(exc)
        transition = store.service(name, up, now, detail)
        if transition is not None:
            transitions.append(transition)
    return transitions


def run_forever(
    tick: Callable[[], object], interval: float, stop: threading.Event, name: str
) -> None:
    """Call ``tick`` every ``interval`` s until ``stop``; a failed tick is logged (platform
    errors as warnings, anything else at ERROR with its traceback), never fatal."""
    while not stop.is_set():
        try:
            tick()
        except PlatformError as exc:
            log.warning("event=%s_failed code=%s error=%s", name, exc.code, exc)
        except Exception:
            log.exception("event=%s_failed", name)
        stop.wait(interval)

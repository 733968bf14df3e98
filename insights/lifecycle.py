"""Erasure and subject-access export of one tenancy's data (InfluxDB and the registry).

A tenancy's data are, for each device placed in its property during it, the
device's points in every measurement (raw readings, uplink metadata,
``device_status``, dead letters, the derived ``damp_risk``) between the later
of the tenancy's and the placement's start and the earlier of their ends
(``storage.tenancy.Tenancies.periods``), in both databases; plus the damp
alerts opened in those periods (``insights.alerts``), and the device-health
events the fleet job opened for those devices in those periods (``fleet_events``
in the registry, ``insights.fleet``).

``erase_tenancy`` deletes those points and removes the alerts' personal parts
(evidence readings, free-text notes) while keeping the Awaab's Law case record
(dates, level, steps, actions and who took them), which the landlord must be
able to show; it deletes the periods' fleet events. It is idempotent and refuses a tenancy that has not ended (no
end, or an end after now). With
``dry_run`` it only counts what would go.

``export_tenancy`` writes one zip: a CSV per measurement, ``alerts.json``,
``fleet_events.json`` and ``manifest.json`` (tenancy, devices and periods, and per file its fields with
units, tags, row count and time range).
"""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import zipfile
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, BinaryIO, Final

from core.quantities import CANONICAL_UNITS
from core.settings import InfluxSettings
from insights.alerts import Alert, AlertStore
from insights.rollups import drop_rollups
from storage import schema
from storage.erasure import (
    DeviceRange,
    V2Deleter,
    count_points,
    databases,
    delete_points,
    measurements,
    read_points,
)
from storage.query import InfluxQL, time_ns
from storage.state import STATE_MEASUREMENTS, DeviceState, rows_from_raw
from storage.tenancy import Tenancies, TenancyError, iso

__all__ = ["ErasureReport", "FIELD_UNITS", "erase_tenancy", "export_tenancy"]

#: Units of every field an export may hold besides the canonical quantities.
FIELD_UNITS: Final[dict[str, str]] = {
    **CANONICAL_UNITS,
    "rssi": "dBm",
    "snr": "dB",
    "f_cnt": "count (LoRaWAN frame counter)",
    "f_port": "LoRaWAN fPort",
    "gateways": "count",
    "outdoor_temperature": "degC",
    "dew_point": "degC",
    "surface_temperature": "degC",
    "surface_rh": "%",
    "rh70_7d": "share of hours 0-1",
    "rh80_7d": "share of hours 0-1",
    "rh70_28d": "share of hours 0-1",
    "rh80_28d": "share of hours 0-1",
    "surface80_7d": "share of hours 0-1",
    "surface80_28d": "share of hours 0-1",
    "mould_index": "VTT mould index M 0-6",
    "risk_level": "0 low .. 3 severe",
    "risk": "low, medium, high, severe",
    "cold_home": "true when below 18 degC",
    "value": "text (device_status)",
    "number": "as reported by the device",
    "note": "text",
    "error": "text",
    "topic": "MQTT topic",
    "payload_hex": "hex bytes",
}


@dataclass
class ErasureReport:
    """What an erasure removed (or, in a dry run, would remove)."""

    tenancy: str
    dry_run: bool
    #: (database, measurement, dev_eui, points)
    points: list[tuple[str, str, str, int]] = field(default_factory=list)
    alerts_redacted: list[int] = field(default_factory=list)
    #: Ids of the device-health events (``fleet_events``) of the tenancy's device periods.
    fleet_events: list[int] = field(default_factory=list)
    erased_at: datetime | None = None

    @property
    def total_points(self) -> int:
        return sum(p[3] for p in self.points)


def _spans(tenancies: Tenancies, ref: str, now: datetime) -> list[DeviceRange]:
    return [
        DeviceRange(dev, time_ns(start), time_ns(end or now))
        for dev, start, end in tenancies.periods(ref)
        if (end or now) > start
    ]


def _alerts(store: AlertStore, spans: list[DeviceRange]) -> list[Alert]:
    found: dict[int, Alert] = {}
    for span in spans:
        for alert in store.list(dev_eui=span.dev_eui):
            if span.start_ns <= time_ns(alert.opened_at) <= span.end_ns:
                found[alert.id] = alert
    return [found[k] for k in sorted(found)]


def _fleet_events(tenancies: Tenancies, spans: list[DeviceRange]) -> list[dict[str, Any]]:
    """Rows of ``fleet_events`` opened for the spans' devices within the spans, by id.

    Read in Python, not by comparing text in SQL: the fleet job writes its own time format.
    No table (the fleet job never ran): none."""
    found: dict[int, dict[str, Any]] = {}
    conn = tenancies.registry.connection
    for span in spans:
        try:
            rows = conn.execute(
                "SELECT * FROM fleet_events WHERE dev_eui = ? ORDER BY id", (span.dev_eui,)
            ).fetchall()
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return []
            raise
        for row in rows:
            record = dict(zip(row.keys(), tuple(row), strict=True))
            opened = datetime.fromisoformat(str(record["opened_at"]).replace("Z", "+00:00"))
            if span.start_ns <= time_ns(opened) < span.end_ns:
                found[int(record["id"])] = record
    return [found[k] for k in sorted(found)]


def _erase_fleet_events(tenancies: Tenancies, ids: list[int]) -> None:
    if not ids:
        return
    tenancies.registry.execute(
        f"DELETE FROM fleet_events WHERE id IN ({','.join('?' * len(ids))})", tuple(ids)
    )


def erase_tenancy(
    ref: str,
    *,
    tenancies: Tenancies,
    alerts: AlertStore,
    influx: InfluxSettings,
    dry_run: bool = False,
    v2: V2Deleter | None = None,
) -> ErasureReport:
    """Erase (or with ``dry_run`` list) everything held about tenancy ``ref``.

    ``influx`` needs credentials that read and write both databases (the insights
    user or an admin). On 2.x/3.x (``influx.bucket``) points go through the delete
    API (``v2``, made from ``influx`` when not given). Raises ``TenancyError``
    (unknown tenancy, or one still open: no end or an end after now), ``QueryError``
    when InfluxDB fails.
    """
    tenancy = tenancies.tenancy(ref)
    now = datetime.now(UTC)
    if tenancy.end is None:
        raise TenancyError(f"tenancy {ref} is still open: end it before erasing its data")
    if tenancy.end > now:
        # An end in the future (stored before ends were bounded) means it still runs.
        raise TenancyError(f"tenancy {ref} ends at {iso(tenancy.end)}, after now: it is still open")
    report = ErasureReport(ref, dry_run)
    spans = _spans(tenancies, ref, now)
    client = InfluxQL(influx, include_home=False)
    deleter = v2 if v2 is not None or influx.api_version == 1 else V2Deleter(influx)
    try:
        for span in spans:
            for database in databases(influx):
                for measurement in measurements(client, database, span.dev_eui):
                    count = count_points(client, database, measurement, span)
                    if count:
                        report.points.append((database, measurement, span.dev_eui, count))
                    if not dry_run and count and deleter is None:
                        delete_points(client, database, measurement, span)
            if not dry_run and deleter is not None:
                deleter.delete(span)
        if not dry_run:
            forget_derived(tenancies, influx, spans, v2=deleter)
    finally:
        client.close()
        if deleter is not None and v2 is None:
            deleter.close()
    found = _alerts(alerts, spans)
    report.alerts_redacted = [a.id for a in found]
    report.fleet_events = [int(e["id"]) for e in _fleet_events(tenancies, spans)]
    if not dry_run:
        for alert in found:
            alerts.redact(alert.id)
        _erase_fleet_events(tenancies, report.fleet_events)
        # A repeat keeps (and reports) when the tenancy was first erased.
        report.erased_at = tenancy.erased_at or datetime.now(UTC)
        tenancies.mark_erased(ref, report.erased_at)
    return report


def forget_derived(
    tenancies: Tenancies,
    influx: InfluxSettings,
    spans: list[DeviceRange],
    *,
    v2: V2Deleter | None = None,
) -> None:
    """After the points are gone: drop the rollups that held them (the devices' own rows and
    every site's over the hours and days the spans touch: ``insights.rollups.drop_rollups``,
    InfluxQL on 1.x, the delete API through ``v2`` on 2.x) and mark their hours for the next
    rollup run; re-derive the devices' state from what raw data remain. The hours are marked
    before the deletes (should they fail, the API already answers there from raw points) and
    again after them (a rollup run in between took the first mark, and the deletes then
    removed every site's rows it had recomputed). Raises ``QueryError``
    (``DeleteUnsupportedError`` on InfluxDB 3)."""
    state = DeviceState(tenancies.registry)

    def mark() -> None:
        for span in spans:
            for measurement in STATE_MEASUREMENTS:
                state.mark(measurement, span.start_ns)

    with InfluxQL(influx) as reader:
        for span in spans:
            rows = rows_from_raw(reader, databases(influx), 0, span.dev_eui)
            state.replace(rows, [span.dev_eui])
    mark()
    drop_rollups(influx, spans, v2=v2)
    mark()


def _value(value: Any) -> Any:
    return "" if value is None else value


def export_tenancy(
    ref: str,
    out: BinaryIO,
    *,
    tenancies: Tenancies,
    alerts: AlertStore,
    influx: InfluxSettings,
) -> dict[str, Any]:
    """Write the tenancy's subject-access archive to ``out``; returns its manifest.

    ``influx`` needs read access to both databases (housing or insights user).
    """
    tenancy = tenancies.tenancy(ref)
    now = datetime.now(UTC)
    spans = _spans(tenancies, ref, now)
    tables: dict[str, dict[str, Any]] = {}
    client = InfluxQL(influx, include_home=False)
    try:
        for span in spans:
            for database in databases(influx):
                for measurement in measurements(client, database, span.dev_eui):
                    for series in read_points(client, database, measurement, span):
                        table = tables.setdefault(
                            measurement, {"columns": ["time"], "rows": [], "times": []}
                        )
                        for column in series.columns[1:]:
                            if column not in table["columns"]:
                                table["columns"].append(column)
                        for record in series.records():
                            table["rows"].append(record)
                            table["times"].append(int(record["time"]))
    finally:
        client.close()
    files = []
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for measurement in sorted(tables):
            table = tables[measurement]
            # Every file alike whatever order the series came in: time, tags, then fields.
            rest = table["columns"][1:]
            table["columns"] = [
                "time",
                *sorted((c for c in rest if c in _TAGS), key=_TAG_ORDER.index),
                *sorted(c for c in rest if c not in _TAGS),
            ]
            order = sorted(range(len(table["rows"])), key=lambda i: table["times"][i])
            text = io.StringIO()
            writer = csv.writer(text, lineterminator="\n")
            writer.writerow(table["columns"])
            for i in order:
                row = dict(table["rows"][i])
                row["time"] = iso(datetime.fromtimestamp(row["time"] / 1e9, UTC))
                writer.writerow([_value(row.get(c)) for c in table["columns"]])
            name = f"{measurement}.csv"
            archive.writestr(name, text.getvalue())
            tags = [c for c in table["columns"][1:] if c in _TAGS]
            files.append(
                {
                    "file": name,
                    "measurement": measurement,
                    "rows": len(order),
                    "first": iso(datetime.fromtimestamp(min(table["times"]) / 1e9, UTC)),
                    "last": iso(datetime.fromtimestamp(max(table["times"]) / 1e9, UTC)),
                    "tags": tags,
                    "fields": [
                        {"name": c, "unit": FIELD_UNITS.get(c, "")}
                        for c in table["columns"][1:]
                        if c not in _TAGS
                    ],
                }
            )
        held = _alerts(alerts, spans)
        archive.writestr(
            "alerts.json",
            json.dumps([_alert_json(a) for a in held], indent=2, default=str),
        )
        files.append({"file": "alerts.json", "rows": len(held), "what": "damp and mould alerts"})
        events = _fleet_events(tenancies, spans)
        archive.writestr("fleet_events.json", json.dumps(events, indent=2, default=str))
        files.append(
            {
                "file": "fleet_events.json",
                "rows": len(events),
                "what": "device-health events (silent, battery, radio) of the devices",
            }
        )
        manifest = {
            "generated_at": iso(now),
            "tenancy": {
                "ref": tenancy.ref,
                "property": tenancy.property_ref,
                "start": iso(tenancy.start),
                "end": iso(tenancy.end) if tenancy.end else None,
                "erased_at": iso(tenancy.erased_at) if tenancy.erased_at else None,
            },
            "devices": [
                {
                    "dev_eui": s.dev_eui,
                    "start": iso(datetime.fromtimestamp(s.start_ns / 1e9, UTC)),
                    "end": iso(datetime.fromtimestamp(s.end_ns / 1e9, UTC)),
                }
                for s in spans
            ],
            "time": "UTC, RFC 3339; each row is one stored point",
            "files": files,
        }
        archive.writestr("manifest.json", json.dumps(manifest, indent=2))
    return manifest


_TAG_ORDER: Final = list(
    dict.fromkeys((*schema.TAG_KEYS, *schema.STATUS_TAG_KEYS, "reason", "level", "period"))
)
_TAGS: Final = frozenset(_TAG_ORDER)


def _alert_json(alert: Alert) -> dict[str, Any]:
    data = asdict(alert)
    data["events"] = [asdict(e) for e in alert.events]
    return data

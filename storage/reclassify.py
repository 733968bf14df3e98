"""Move a device's stored history to the database its new privacy belongs in.

Reclassifying a device (public <-> home) is an explicit operation: every point
of the device, in every measurement (readings, uplinks, dead letters and the
per-device derived series), is read with its field types (``SHOW FIELD KEYS``,
since InfluxDB's JSON gives ``21`` for the float 21.0), rewritten with the new
``privacy`` tag through the ``PrivacyRouter`` writer (which puts it in the right
database), and only then dropped where it was. A crash between the two leaves
the points in both places, never in neither; running it again finishes the job.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from core.errors import QueryError
from core.settings import InfluxSettings
from storage.influx import InfluxSink, make_sink
from storage.points import FieldValue, Point, encode
from storage.query import InfluxQL, quote_ident
from storage.schema import DAQI, FOOTFALL_COUNTS, PRIVACY_HOME, PRIVACY_PUBLIC, Privacy

__all__ = ["MoveReport", "delete_site_series", "move_device", "split_home"]

_HEX_EUI = re.compile(r"[0-9a-f]{16}")
_BATCH = 5000
_CASTS = {"float": float, "integer": int, "string": str, "boolean": bool}


@dataclass
class MoveReport:
    """Points rewritten per measurement, and the [first, last] time moved (ns), if any."""

    moved: dict[str, int] = field(default_factory=dict)
    sites: set[str] = field(default_factory=set)
    first_ns: int | None = None
    last_ns: int | None = None

    @property
    def total(self) -> int:
        return sum(self.moved.values())


def _literal(dev_eui: str) -> str:
    if not _HEX_EUI.fullmatch(dev_eui):
        raise ValueError(f"dev_eui {dev_eui!r} is not 16 lower-case hex digits")
    return f"'{dev_eui}'"


def move_device(settings: InfluxSettings, dev_eui: str, privacy: Privacy) -> MoveReport:
    """Rewrite every point of ``dev_eui`` with ``privacy`` in its database; drop the old ones.

    ``settings`` need credentials that read and write both databases (the
    insights user, or an admin). Raises ``QueryError``/sink errors on failure.
    """
    if privacy not in (PRIVACY_PUBLIC, PRIVACY_HOME):
        raise ValueError(f"privacy must be public or home, got {privacy!r}")
    device = _literal(dev_eui)
    report = MoveReport()
    target = settings.database if privacy == PRIVACY_PUBLIC else settings.home_db
    client = InfluxQL(settings, include_home=False)
    sink = make_sink(settings)
    try:
        for database in (settings.database, settings.home_db):
            try:
                measurements = client.query(
                    f'SHOW MEASUREMENTS WHERE "dev_eui" = {device}', database=database
                )
            except QueryError as exc:
                if "database not found" in str(exc):
                    continue
                raise
            names = [row[0] for s in measurements for row in s.values]
            # In the target database only points still tagged otherwise need moving.
            wrong = f'"dev_eui" = {device}' + (
                f" AND \"privacy\" != '{privacy}'" if database == target else ""
            )
            for name in names:
                _move_measurement(client, sink, database, name, wrong, privacy, report)
                client.query(
                    f"DROP SERIES FROM {quote_ident(name)} WHERE {wrong}", database=database
                )
    finally:
        sink.close()
        client.close()
    return report


def _move_measurement(
    client: InfluxQL,
    sink: InfluxSink,
    database: str,
    measurement: str,
    where: str,
    privacy: str,
    report: MoveReport,
) -> None:
    name = quote_ident(measurement)
    types = {
        row[0]: _CASTS.get(row[1], float)
        for s in client.query(f"SHOW FIELD KEYS FROM {name}", database=database)
        for row in s.values
    }
    series = client.query(f"SELECT * FROM {name} WHERE {where} GROUP BY *", database=database)
    points: list[Point] = []
    for s in series:
        if s.tags.get("site"):
            report.sites.add(s.tags["site"])
        tags = tuple(sorted({**s.tags, "privacy": privacy}.items()))
        tags = tuple((k, v) for k, v in tags if v)
        for row in s.values:
            fields: dict[str, FieldValue] = {}
            for column, value in zip(s.columns[1:], row[1:], strict=True):
                if value is not None:
                    fields[column] = types.get(column, float)(value)
            if fields:
                points.append(Point(measurement, tags, fields, int(row[0])))
    for i in range(0, len(points), _BATCH):
        sink.write(encode(points[i : i + _BATCH]))
    if points:
        report.moved[measurement] = report.moved.get(measurement, 0) + len(points)
        times = [p.time_ns for p in points]
        report.first_ns = min(times + ([report.first_ns] if report.first_ns else []))
        report.last_ns = max(times + ([report.last_ns] if report.last_ns else []))


def delete_site_series(settings: InfluxSettings, site: str, start_ns: int, end_ns: int) -> None:
    """Drop the site-level derived points (DAQI, footfall counts) of ``site`` in [start, end].

    After a device leaves a site's public figures they are recomputed; an hour
    whose only device was the moved one would otherwise keep its old figure.
    """
    literal = "'" + site.replace("\\", "\\\\").replace("'", "\\'") + "'"
    client = InfluxQL(settings, include_home=False)
    try:
        for database in (settings.database, settings.home_db):
            for measurement in (DAQI, FOOTFALL_COUNTS):
                try:
                    client.query(
                        f"DELETE FROM {quote_ident(measurement)} WHERE \"level\" = 'site'"
                        f' AND "site" = {literal} AND time >= {int(start_ns)}'
                        f" AND time <= {int(end_ns)}",
                        database=database,
                    )
                except QueryError as exc:
                    if "database not found" not in str(exc):
                        raise
    finally:
        client.close()


def split_home(settings: InfluxSettings) -> tuple[MoveReport, list[str]]:
    """The migration to a home database of its own: move every home device's points out of the
    public database (``move_device`` on each DevEUI tagged ``privacy=home`` there).

    Returns the merged report and the series still tagged home in the public
    database afterwards (points with no DevEUI, for the operator to inspect;
    empty when the split is complete). Safe to re-run; needs credentials that
    read and write both databases (insights user or admin).
    """
    client = InfluxQL(settings, include_home=False)
    try:
        found = client.query(
            'SHOW TAG VALUES WITH KEY = "dev_eui" WHERE "privacy" = \'home\'',
            database=settings.database,
        )
        devices = sorted({row[1] for s in found for row in s.values})
        total = MoveReport()
        for dev_eui in devices:
            report = move_device(settings, dev_eui, PRIVACY_HOME)
            for measurement, count in report.moved.items():
                total.moved[measurement] = total.moved.get(measurement, 0) + count
            total.sites |= report.sites
            ends = [t for t in (total.first_ns, report.first_ns) if t is not None]
            total.first_ns = min(ends) if ends else None
            ends = [t for t in (total.last_ns, report.last_ns) if t is not None]
            total.last_ns = max(ends) if ends else None
        left = client.query("SHOW SERIES WHERE \"privacy\" = 'home'", database=settings.database)
        return total, [row[0] for s in left for row in s.values]
    finally:
        client.close()

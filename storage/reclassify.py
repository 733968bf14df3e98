"""Move a device's stored history to the database its new privacy belongs in.

Reclassifying a device (public <-> home) is an explicit operation: every point
of the device, in every measurement (readings, uplinks, dead letters and the
per-device derived series), is read with its field types (``SHOW FIELD KEYS``,
since InfluxDB's JSON gives ``21`` for the float 21.0), rewritten with the new
``privacy`` tag through the ``PrivacyRouter`` writer (which puts it in the right
database), and only then dropped where it was. A crash between the two leaves
the points in both places, never in neither; running it again finishes the job.

How the old points go depends on the store:

- InfluxDB 1.x: InfluxQL ``DROP SERIES FROM "m" WHERE …`` (and ``DELETE FROM`` for
  the site series), on each database's server.
- InfluxDB 2.x: its ``/query`` 1.x compatibility endpoint takes no ``DROP SERIES``:
  of InfluxQL's database management statements only ``DELETE`` and ``DROP
  MEASUREMENT`` are allowed (InfluxDB 2.x docs, *InfluxDB 1.x compatibility API*,
  "InfluxQL support",
  https://docs.influxdata.com/influxdb/v2/api-guide/influxdb-1x/#influxql-support).
  The old points go through the delete API instead, as an erasure's and the
  rollups' do (``storage.erasure.V2Deleter``, ``POST /api/v2/delete``, each bucket
  on its own server, InfluxDB 3 told apart by its 404), one request per
  measurement and bucket: ``_measurement="m" AND dev_eui="…"`` in the bucket the
  points left, ``… AND privacy="<old>"`` in the bucket they moved to. A delete
  predicate has ``=`` and ``AND`` only, no ``!=`` (*Delete predicate syntax*,
  https://docs.influxdata.com/influxdb/v2/reference/syntax/delete-predicate/), so
  in that bucket the move reads, and deletes, the points tagged with the old
  privacy by name. Each delete covers exactly [first, last] of the points that
  measurement's read returned: the read has no time bound, so that is all the
  device had there (a fixed window such as 1970..now would miss a point stamped
  outside it), and a delete never removes a point that was not first copied; one
  written after the read stays where it is, for the next run to move.
- InfluxDB 3 has no delete API and deletes only whole tables or databases: before
  anything is copied the move asks both servers to delete nothing
  (``V2Deleter.check``) and raises ``DeleteUnsupportedError`` naming the device,
  rather than copy a home's points and leave the originals where the public
  audience reads them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from core.errors import DeleteUnsupportedError, QueryError
from core.settings import InfluxSettings
from storage.erasure import V2Deleter
from storage.influx import InfluxSink, make_sink
from storage.points import FieldValue, Point, encode
from storage.query import InfluxQL, quote_ident
from storage.schema import (
    DAQI,
    FOOTFALL_COUNTS,
    LEVEL_SITE,
    LEVEL_TAG,
    PRIVACY_HOME,
    PRIVACY_PUBLIC,
    Privacy,
)

__all__ = ["MoveReport", "check_deletable", "delete_site_series", "move_device", "split_home"]

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


def check_deletable(settings: InfluxSettings, dev_eui: str) -> None:
    """Refuse, before anything changes, to move ``dev_eui`` where the old points cannot be deleted.

    No-op on 1.x (InfluxQL ``DROP SERIES``). On 2.x/3.x a delete that matches nothing is
    sent to both buckets (``V2Deleter.check``). Raises ``DeleteUnsupportedError`` naming
    the device and what to do (InfluxDB 3), ``QueryError`` when a server refuses the
    delete (token without write on a bucket) or cannot be reached.
    """
    _literal(dev_eui)
    if settings.api_version == 1:
        return
    _open_deleter(settings, dev_eui).close()


def _open_deleter(settings: InfluxSettings, dev_eui: str) -> V2Deleter:
    deleter = V2Deleter(settings)
    try:
        deleter.check()
    except DeleteUnsupportedError as exc:
        deleter.close()
        raise DeleteUnsupportedError(
            f"device {dev_eui} not reclassified: {exc}. Its points could not be removed from"
            " the database they leave, so none were copied and its privacy is unchanged."
            " Keep the device's privacy, or move its history by hand: InfluxDB 3 deletes only"
            " whole tables or databases, so export the affected tables, delete them and write"
            " every other device's points back"
        ) from exc
    except BaseException:
        deleter.close()
        raise
    return deleter


def _predicate_value(value: str) -> str:
    """``value`` for the inside of a delete predicate's double quotes: the predicate is read
    by InfluxQL's scanner, whose quoted strings take ``\\`` and ``\"`` escapes and no line break."""
    if "\n" in value or "\r" in value:
        raise ValueError(f"{value!r}: a delete predicate cannot hold a line break")
    return value.replace("\\", "\\\\").replace('"', '\\"')


def move_device(settings: InfluxSettings, dev_eui: str, privacy: Privacy) -> MoveReport:
    """Rewrite every point of ``dev_eui`` with ``privacy`` in its database; drop the old ones.

    ``settings`` need credentials that read and write (on 2.x: delete in) both databases
    (the insights user, or an admin). Raises ``DeleteUnsupportedError`` before anything
    is copied when the store cannot delete by predicate (InfluxDB 3), ``QueryError``/sink
    errors on failure.
    """
    if privacy not in (PRIVACY_PUBLIC, PRIVACY_HOME):
        raise ValueError(f"privacy must be public or home, got {privacy!r}")
    device = _literal(dev_eui)
    old = PRIVACY_HOME if privacy == PRIVACY_PUBLIC else PRIVACY_PUBLIC
    report = MoveReport()
    target = settings.database if privacy == PRIVACY_PUBLIC else settings.home_db
    deleter = None if settings.api_version == 1 else _open_deleter(settings, dev_eui)
    client = InfluxQL(settings, include_home=False)
    sink = make_sink(settings)
    try:
        for database, bucket in (
            (settings.database, settings.bucket),
            (settings.home_db, settings.home_bucket),
        ):
            try:
                measurements = client.query(
                    f'SHOW MEASUREMENTS WHERE "dev_eui" = {device}', database=database
                )
            except QueryError as exc:
                if "database not found" in str(exc):
                    continue
                raise
            names = [row[0] for s in measurements for row in s.values]
            if deleter is None:
                # In the target database only points still tagged otherwise need moving.
                wrong = f'"dev_eui" = {device}' + (
                    f" AND \"privacy\" != '{privacy}'" if database == target else ""
                )
                for name in names:
                    _move_measurement(client, sink, database, name, wrong, privacy, report)
                    client.query(
                        f"DROP SERIES FROM {quote_ident(name)} WHERE {wrong}", database=database
                    )
                continue
            assert bucket is not None  # api_version 2: both buckets are set
            in_target = database == target
            wrong = f'"dev_eui" = {device}' + (f" AND \"privacy\" = '{old}'" if in_target else "")
            predicate = f'dev_eui="{dev_eui}"' + (f' AND privacy="{old}"' if in_target else "")
            for name in names:
                span = _move_measurement(client, sink, database, name, wrong, privacy, report)
                if span is not None:
                    where = f'_measurement="{_predicate_value(name)}" AND {predicate}'
                    deleter.delete_in(bucket, where, span[0], span[1] + 1)
    finally:
        sink.close()
        client.close()
        if deleter is not None:
            deleter.close()
    return report


def _move_measurement(
    client: InfluxQL,
    sink: InfluxSink,
    database: str,
    measurement: str,
    where: str,
    privacy: str,
    report: MoveReport,
) -> tuple[int, int] | None:
    """Rewrite the points ``where`` selects; [first, last] of their times (ns), or None."""
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
    if not points:
        return None
    report.moved[measurement] = report.moved.get(measurement, 0) + len(points)
    times = [p.time_ns for p in points]
    report.first_ns = min(times + ([report.first_ns] if report.first_ns else []))
    report.last_ns = max(times + ([report.last_ns] if report.last_ns else []))
    return min(times), max(times)


def delete_site_series(settings: InfluxSettings, site: str, start_ns: int, end_ns: int) -> None:
    """Drop the site-level derived points (DAQI, footfall counts) of ``site`` in [start, end].

    After a device leaves a site's public figures they are recomputed; an hour
    whose only device was the moved one would otherwise keep its old figure. InfluxQL
    ``DELETE`` on 1.x; on 2.x the delete API on both buckets (each on its server), with
    ``_measurement="<m>" AND level="site" AND site="<site>"`` over [start, end]. Raises
    ``QueryError``, ``DeleteUnsupportedError`` on InfluxDB 3, ``ValueError`` for a site name
    no predicate can hold (a line break).
    """
    if settings.api_version == 2:
        value = _predicate_value(site)
        deleter = V2Deleter(settings)
        try:
            for measurement in (DAQI, FOOTFALL_COUNTS):
                deleter.delete_where(
                    f'_measurement="{measurement}" AND {LEVEL_TAG}="{LEVEL_SITE}"'
                    f' AND site="{value}"',
                    int(start_ns),
                    int(end_ns) + 1,
                )
        finally:
            deleter.close()
        return
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
    read and write both databases (insights user or admin). On InfluxDB 3 raises
    ``DeleteUnsupportedError`` before the first device's points are copied.
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

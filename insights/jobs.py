"""Scheduled derived series: read raw readings with InfluxQL, compute, write points back.

Derived measurements (tags always include ``site``, ``privacy`` and ``need``):

``damp_risk`` — one point per home device per hour, ``privacy=home``,
``need=damp``, tags ``dev_eui``, ``model``, ``site``. Fields: ``temperature``,
``relative_humidity`` (hourly means), ``outdoor_temperature``, ``dew_point``,
``surface_temperature``, ``surface_rh`` (cold spot, fRsi), ``rh70_7d``,
``rh80_7d``, ``rh70_28d``, ``rh80_28d`` (share of hours of room RH ≥ 70/80 %),
``surface80_7d``, ``surface80_28d`` (share of hours of cold-spot RH ≥ 80 %),
``mould_index`` (VTT M), ``risk_level`` (0–3), ``risk`` (low…severe),
``cold_home`` (< 18 °C).

``daqi`` — one point per public air-quality device (``level=device``, tags
``dev_eui``, ``model``) and per site (``level=site``, the highest device index)
per hour, ``privacy=public``, ``need=air_quality``. Fields: ``pm2_5_24h``,
``pm10_24h``, ``no2_1h``, ``o3_8h`` (µg/m³), ``<pollutant>_index``, ``index``
(1–10), ``band``, ``indicative`` (low-cost sensor).

``footfall_counts`` — per public footfall device (``level=device``) and per
site (``level=site``, devices summed), tag ``period`` = ``hour`` (UTC hour
start) or ``day`` (London midnight), only for hours and days in which the
device (or a device of the site) sent readings. Fields: ``people_in``,
``people_out``, ``net``, ``week_ago_in``, ``week_ago_out`` (same local
time/weekday 7 days earlier, when that period had readings; for a day still running,
the same stretch of last week's day, and ``hours_so_far``), the per-reading
flags ``wraps``, ``resets``, ``gaps``, ``glitches``, ``suspicious``,
``reordered``, ``period_mismatches`` (``insights.footfall``), and ``hours`` on
days. A device whose model declares no ``Counter`` for people_in and
people_out is not counted (``RunReport.footfall_undeclared``).

Every point's timestamp is the start of its period, so a rerun overwrites the
same points instead of adding new ones (idempotent backfills). Every statistic
of an hour depends only on the readings in its own window (docs/insights/), so
a backfill and the scheduled run write the same points for the same hours.
"""

from __future__ import annotations

import logging
import math
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Final, Protocol
from zoneinfo import ZoneInfo

import numpy as np

from core.errors import (
    DecodeError,
    DeleteUnsupportedError,
    PermanentSinkError,
    PlatformError,
    RetryableSinkError,
)
from core.settings import InfluxSettings, InsightsSettings
from decoders import get_spec
from decoders.spec import Counter
from insights import daqi, footfall
from insights.alerts import AlertStore
from insights.damp import DampSeries, RiskLevel, assess
from insights.rollups import RollupJob
from storage import schema
from storage.batcher import BatchWriter
from storage.influx import make_sink
from storage.metrics import WriterMetrics
from storage.points import FieldValue, Point, make_point
from storage.query import InfluxQL
from storage.registry import open_registry
from storage.retention import expire_home
from storage.state import DeviceState
from storage.tenancy import Tenancies

log = logging.getLogger(__name__)

HOUR = timedelta(hours=1)
HOUR_NS = 3_600_000_000_000

#: The counting fields of ``footfall_counts``, and the device's own per-period count of each.
FOOTFALL_DIRECTIONS: tuple[str, str] = ("people_in", "people_out")
FOOTFALL_PERIOD: dict[str, str] = {"people_in": "period_in", "people_out": "period_out"}
#: Per-reading flags summed per hour and day (footfall module docstring).
FOOTFALL_FLAGS: tuple[str, ...] = (
    "wraps",
    "resets",
    "gaps",
    "glitches",
    "suspicious",
    "reordered",
    "period_mismatches",
)

#: (stage, done, total): called after each device of each stage.
Progress = Callable[[str, int, int], None]


class SeriesLike(Protocol):
    """``storage.query.Series``-shaped (read-only, as that frozen dataclass is)."""

    @property
    def tags(self) -> dict[str, str]: ...

    @property
    def columns(self) -> list[str]: ...

    @property
    def values(self) -> list[list[Any]]: ...


class QueryRunner(Protocol):
    """``storage.query.InfluxQL``-shaped: InfluxQL with bound ``$params``, epoch=ns rows."""

    def query(self, q: str, params: dict[str, Any] | None = None) -> Sequence[SeriesLike]: ...


class Sink(Protocol):
    """``storage.influx.make_sink``-shaped: line protocol in, typed sink errors out."""

    def write(self, body: bytes) -> None: ...

    def ping(self) -> bool: ...


#: How long one stage waits for InfluxDB to take its points before the stage fails.
WRITE_TIMEOUT = 120.0


@dataclass
class RunReport:
    """What one run did, for logs and the CLI."""

    since: datetime
    until: datetime
    damp_homes: int = 0
    damp_points: int = 0
    alerts_opened: list[int] = field(default_factory=list)
    daqi_devices: int = 0
    daqi_points: int = 0
    footfall_devices: int = 0
    footfall_points: int = 0
    #: Footfall devices skipped because a counting field declares no ``Counter``.
    footfall_undeclared: list[str] = field(default_factory=list)
    footfall_duplicates: int = 0
    footfall_without_fcnt: int = 0
    #: Rollup points written (``insights.rollups``; 0 when the jobs have no device state).
    rollup_points: int = 0
    errors: list[str] = field(default_factory=list)


def floor_hour(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def _ns(moment: datetime) -> int:
    return int(moment.timestamp()) * 1_000_000_000


def _time_clause(start: datetime, end: datetime) -> str:
    # Integers we computed ourselves: safe to inline (user text only ever goes in $params).
    return f"time >= {_ns(start)} AND time < {_ns(end)}"


def _float(value: Any) -> float:
    return math.nan if value is None else float(value)


def _hourly_grid(
    series: SeriesLike, columns: Iterable[str], start_ns: int, n_hours: int
) -> dict[str, np.ndarray]:
    """Hourly GROUP BY rows placed on a dense grid, NaN where an hour has no row."""
    grid = {c: np.full(n_hours, np.nan) for c in columns}
    index = {c: i for i, c in enumerate(series.columns)}
    for row in series.values:
        slot = (int(row[0]) - start_ns) // HOUR_NS
        if 0 <= slot < n_hours:
            for c in grid:
                if c in index:
                    grid[c][slot] = _float(row[index[c]])
    return grid


def _finite(fields: dict[str, Any]) -> dict[str, FieldValue]:
    out: dict[str, FieldValue] = {}
    for key, value in fields.items():
        if isinstance(value, (bool, np.bool_)):
            out[key] = bool(value)
        elif isinstance(value, (int, np.integer)):
            out[key] = int(value)
        elif isinstance(value, (float, np.floating)):
            if math.isfinite(value):
                out[key] = round(float(value), 6)
        elif value is not None:
            out[key] = value
    return out


class InsightsJobs:
    """One run over a time window: damp risk (+ alerts), DAQI, footfall counts."""

    def __init__(
        self,
        settings: InsightsSettings,
        query: QueryRunner,
        sink: Sink,
        alerts: AlertStore | None = None,
        batch_size: int = 5000,
        max_rate: float = footfall.MAX_RATE_PER_S,
        tenancies: Tenancies | None = None,
        metrics: WriterMetrics | None = None,
        max_retry_delay: float = 30.0,
        rollups: Callable[[InsightsJobs], RollupJob] | None = None,
    ) -> None:
        """``tenancies``: where a home's history is cut (device moves, new tenancies);
        ``rollups``: builds the rollup job on this object's writer (None: no rollups)."""
        self.rollups = rollups(self) if rollups is not None else None
        self.settings = settings
        self.tenancies = tenancies
        self.metrics = metrics
        self.max_retry_delay = max_retry_delay
        self._writer: BatchWriter | None = None
        self.max_rate = max_rate
        self.query = query
        self.sink = sink
        self.alerts = alerts
        self.batch_size = batch_size

    def _gas_unit(self, model: str, gas: str) -> str:
        """The unit a model reports ``gas`` in: the setting's override, else its decoder's spec."""
        override = self.settings.gas_units.get(model)
        if override:
            return override
        try:
            declared = get_spec(model).field_map().get(gas)
        except DecodeError:
            return "ugm3"
        unit = declared.unit.split()[0].lower() if declared else ""
        return unit if unit in ("ppb", "ppm") else "ugm3"

    def run(self, since: datetime, until: datetime, progress: Progress | None = None) -> RunReport:
        """Compute every complete hour in [since, until) (both floored to the hour)."""
        since, until = floor_hour(since), floor_hour(until)
        report = RunReport(since, until)
        # The bridge's writer: the same retries, bisection around refused points and metrics.
        self._writer = BatchWriter(
            self.sink,
            batch_size=self.batch_size,
            flush_interval=0.05,
            max_retry_delay=self.max_retry_delay,
            metrics=self.metrics,
        )
        try:
            for stage in (self._damp, self._daqi, self._footfall, self._rollups):
                try:
                    stage(since, until, report, progress)
                except PlatformError as exc:
                    log.warning("insights stage=%s error=%s code=%s", stage.__name__, exc, exc.code)
                    report.errors.append(f"{stage.__name__.strip('_')}: {exc}")
        finally:
            self._writer.close(timeout=1.0)
            self._writer = None
        return report

    def _rollups(
        self, since: datetime, until: datetime, report: RunReport, progress: Progress | None
    ) -> None:
        if self.rollups is not None:
            # ``until`` is floored to the hour: the hour now running is rolled up so far too.
            report.rollup_points = self.rollups.run(since, until + HOUR).points

    def write(self, points: list[Point]) -> None:
        """Write through the batch writer; raise if InfluxDB refused a point or never answered.

        Refused points are isolated by bisection, so the others are stored.
        """
        assert self._writer is not None, "write runs inside run()"
        refused: list[PermanentSinkError] = []
        self._writer.submit(points, lambda error: refused.append(error) if error else None)
        if not self._writer.flush(WRITE_TIMEOUT):
            raise RetryableSinkError(
                f"InfluxDB did not take {len(points)} points within {WRITE_TIMEOUT:.0f} s"
            )
        if refused:
            raise refused[0]

    # -- damp ---------------------------------------------------------------------------

    def _outdoor(self, start: datetime, n_hours: int) -> np.ndarray:
        default = np.full(n_hours, self.settings.outdoor_temperature)
        if not self.settings.outdoor_dev_eui:
            return default
        series = self.query.query(
            f'SELECT mean("temperature") AS "t" FROM "{schema.CLIMATE}" WHERE "dev_eui" = $dev AND '
            + _time_clause(start, start + n_hours * HOUR)
            + " GROUP BY time(1h) fill(none)",
            {"dev": self.settings.outdoor_dev_eui},
        )
        if not series:
            return default
        measured = _hourly_grid(series[0], ["t"], _ns(start), n_hours)["t"]
        return np.where(np.isnan(measured), default, measured)

    def _damp(
        self, since: datetime, until: datetime, report: RunReport, progress: Progress | None
    ) -> None:
        start = since - timedelta(days=self.settings.mould_lookback_days)
        n_hours = int((until - start) / HOUR)
        if n_hours <= 0:
            return
        homes = self.query.query(
            'SELECT mean("temperature") AS "t", mean("relative_humidity") AS "rh"'
            f' FROM "{schema.CLIMATE}"'
            ' WHERE "privacy" = $privacy AND '
            + _time_clause(start, until)
            + ' GROUP BY time(1h), "dev_eui", "site", "model" fill(none)',
            {"privacy": schema.PRIVACY_HOME},
        )
        outdoor = self._outdoor(start, n_hours)
        first = int((since - start) / HOUR)
        for done, home in enumerate(homes, start=1):
            grid = _hourly_grid(home, ["t", "rh"], _ns(start), n_hours)
            if np.isnan(grid["t"]).all() or np.isnan(grid["rh"]).all():
                continue
            tags = schema.device_tags(
                home.tags.get("dev_eui", ""),
                home.tags.get("model", ""),
                home.tags.get("site", ""),
                schema.PRIVACY_HOME,
                schema.NEED_DAMP,
            )
            points: list[Point] = []
            for lo, hi in self._stretches(tags["dev_eui"], start, until, n_hours):
                if hi > first:
                    points.extend(
                        self._damp_stretch(tags, grid, outdoor, start, lo, first, hi, report)
                    )
            self.write(points)
            report.damp_homes += 1
            report.damp_points += len(points)
            if progress:
                progress("damp", done, len(homes))

    def _stretches(
        self, dev_eui: str, start: datetime, until: datetime, n_hours: int
    ) -> list[tuple[int, int]]:
        """Hour slots [lo, hi) of the grid with one attribution each: a home's history is
        cut wherever its device moved or a tenancy began or ended, and an hour that
        straddles such an edge belongs to neither side."""
        if self.tenancies is None:
            return [(0, n_hours)]
        out = []
        for segment in self.tenancies.segments(dev_eui, start, until):
            lo = math.ceil((segment.start - start) / HOUR)
            hi = math.floor((segment.end - start) / HOUR)
            if hi > lo:
                out.append((lo, hi))
        return out

    def _damp_stretch(
        self,
        tags: dict[str, str],
        grid: dict[str, np.ndarray],
        outdoor: np.ndarray,
        start: datetime,
        lo: int,
        first: int,
        hi: int,
        report: RunReport,
    ) -> list[Point]:
        """Assess hours [max(lo, first), hi) from the readings of hours [lo, hi) only (the
        stretch's own history); points for its hours with data, alerts from them."""
        t, rh = np.full_like(grid["t"], np.nan), np.full_like(grid["rh"], np.nan)
        t[lo:hi] = grid["t"][lo:hi]
        rh[lo:hi] = grid["rh"][lo:hi]
        first = max(first, lo)
        result = assess(
            t,
            rh,
            outdoor,
            self.settings.f_rsi,
            mould_window=self.settings.mould_lookback_days * 24,
            first=first,
        )
        with_data = [
            i
            for i in range(first, hi)
            if not (math.isnan(result.temperature[i]) or math.isnan(result.relative_humidity[i]))
        ]
        points = [
            make_point(
                schema.DAMP_RISK, tags, _finite(self._damp_fields(result, i)), _ns(start + i * HOUR)
            )
            for i in with_data
        ]
        if self.alerts is not None:
            for i in self._alert_hours(result.risk, with_data):
                opened = self.alerts.raise_level(
                    tags["dev_eui"],
                    tags["site"],
                    RiskLevel(int(result.risk[i])),
                    start + (i + 1) * HOUR,
                    {
                        "hour": (start + i * HOUR).isoformat(),
                        **_finite(self._damp_fields(result, i)),
                    },
                )
                if opened is not None:
                    report.alerts_opened.append(opened.id)
        return points

    @staticmethod
    def _alert_hours(risk: np.ndarray, hours: list[int]) -> list[int]:
        """Hours worth offering to the alert store: the first at high or above, every rise
        (high -> severe), and the newest (a home still damp after its alert was closed).
        The store itself decides; this only spares it one transaction per damp hour."""
        chosen: list[int] = []
        previous = RiskLevel.LOW
        for i in hours:
            level = RiskLevel(int(risk[i]))
            if level >= RiskLevel.HIGH and (not chosen or level > previous):
                chosen.append(i)
            previous = level
        if hours and risk[hours[-1]] >= RiskLevel.HIGH and hours[-1] not in chosen:
            chosen.append(hours[-1])
        return chosen

    @staticmethod
    def _damp_fields(result: DampSeries, i: int) -> dict[str, Any]:
        level = RiskLevel(int(result.risk[i]))
        return {
            "temperature": result.temperature[i],
            "relative_humidity": result.relative_humidity[i],
            "outdoor_temperature": result.outdoor_temperature[i],
            "dew_point": result.dew_point[i],
            "surface_temperature": result.surface_temperature[i],
            "surface_rh": result.surface_rh[i],
            "rh70_7d": result.rh70_7d[i],
            "rh80_7d": result.rh80_7d[i],
            "rh70_28d": result.rh70_28d[i],
            "rh80_28d": result.rh80_28d[i],
            "surface80_7d": result.surface80_7d[i],
            "surface80_28d": result.surface80_28d[i],
            "mould_index": result.mould_index[i],
            "risk_level": int(level),
            "risk": level.label,
            "cold_home": bool(result.cold_home[i]),
        }

    # -- DAQI ---------------------------------------------------------------------------

    def _daqi(
        self, since: datetime, until: datetime, report: RunReport, progress: Progress | None
    ) -> None:
        start = since - timedelta(hours=24)
        n_hours = int((until - start) / HOUR)
        if n_hours <= 0:
            return
        pollutants = list(daqi.AVERAGING_HOURS)
        selects = ", ".join(f'mean("{p}") AS "{p}"' for p in pollutants)
        devices = self.query.query(
            f'SELECT {selects} FROM "{schema.AIR_QUALITY}" WHERE "privacy" = $privacy AND '
            + _time_clause(start, until)
            + ' GROUP BY time(1h), "dev_eui", "site", "model" fill(none)',
            {"privacy": schema.PRIVACY_PUBLIC},
        )
        first = int((since - start) / HOUR)
        points: list[Point] = []
        by_site: dict[str, list[tuple[dict[str, np.ndarray], dict[str, np.ndarray], bool]]] = (
            defaultdict(list)
        )
        for done, device in enumerate(devices, start=1):
            grid = _hourly_grid(device, pollutants, _ns(start), n_hours)
            model = device.tags.get("model", "")
            for gas in ("no2", "o3"):
                unit = self._gas_unit(model, gas)
                if unit == "ppb":
                    grid[gas] = grid[gas] * daqi.PPB_TO_UGM3[gas]
                elif unit == "ppm":
                    grid[gas] = grid[gas] * 1000 * daqi.PPB_TO_UGM3[gas]
            present = {p: v for p, v in grid.items() if not np.isnan(v).all()}
            if not present:
                continue
            windows = daqi.pollutant_means(present)
            means = {p: w.mean for p, w in windows.items()}
            indices = {p: w.index(p) for p, w in windows.items()}
            indicative = model not in self.settings.reference_models
            site = device.tags.get("site", "")
            by_site[site].append((means, indices, indicative))
            tags = {
                schema.LEVEL_TAG: schema.LEVEL_DEVICE,
                **schema.device_tags(
                    device.tags.get("dev_eui", ""),
                    model,
                    site,
                    schema.PRIVACY_PUBLIC,
                    schema.NEED_AIR_QUALITY,
                ),
            }
            points.extend(
                self._daqi_points(tags, start, first, n_hours, means, indices, indicative)
            )
            report.daqi_devices += 1
            if progress:
                progress("daqi", done, len(devices))
        for site, members in by_site.items():
            tags = schema.site_tags(site, schema.PRIVACY_PUBLIC, schema.NEED_AIR_QUALITY)
            # The site shows the worst device: per pollutant, the highest running mean and
            # so (the index being monotonic in the mean) the highest index.
            site_means: dict[str, np.ndarray] = {}
            site_indices: dict[str, np.ndarray] = {}
            for means, indices, _ in members:
                for p in means:
                    if p in site_means:
                        site_means[p] = np.fmax(site_means[p], means[p])
                        site_indices[p] = np.maximum(site_indices[p], indices[p])
                    else:
                        site_means[p], site_indices[p] = means[p], indices[p]
            indicative = any(ind for _, _, ind in members)
            points.extend(
                self._daqi_points(tags, start, first, n_hours, site_means, site_indices, indicative)
            )
        self.write(points)
        report.daqi_points += len(points)

    @staticmethod
    def _daqi_points(
        tags: dict[str, str],
        start: datetime,
        first: int,
        n_hours: int,
        means: dict[str, np.ndarray],
        indices: dict[str, np.ndarray],
        indicative: bool,
    ) -> list[Point]:
        names = {"pm2_5": "pm2_5_24h", "pm10": "pm10_24h", "no2": "no2_1h", "o3": "o3_8h"}
        overall = daqi.overall_index(indices)
        points = []
        for i in range(first, n_hours):
            if overall[i] == 0:
                continue
            fields: dict[str, Any] = {names[p]: m[i] for p, m in means.items()}
            fields.update({f"{p}_index": int(ix[i]) for p, ix in indices.items() if ix[i] > 0})
            fields.update(
                index=int(overall[i]), band=daqi.band(int(overall[i])), indicative=indicative
            )
            points.append(make_point(schema.DAQI, tags, _finite(fields), _ns(start + i * HOUR)))
        return points

    # -- footfall -----------------------------------------------------------------------

    def _counters(self, model: str) -> dict[str, Counter] | None:
        """The declared ``Counter`` of people_in and people_out, or None if either has none."""
        try:
            fields = get_spec(model).field_map()
        except DecodeError:
            return None
        declared = {d: fields[d].counter for d in FOOTFALL_DIRECTIONS if d in fields}
        if any(declared.get(d) is None for d in FOOTFALL_DIRECTIONS):
            return None
        return {d: c for d, c in declared.items() if c is not None}

    def _footfall(
        self, since: datetime, until: datetime, report: RunReport, progress: Progress | None
    ) -> None:
        zone = ZoneInfo(self.settings.timezone)
        # A week for the week-on-week comparison, plus a day for the counters' baseline.
        start = since - timedelta(days=8)
        readings = self.query.query(
            'SELECT "people_in", "people_out", "period_in", "period_out"'
            f' FROM "{schema.FOOTFALL}"'
            ' WHERE "privacy" = $privacy AND '
            + _time_clause(start, until)
            + ' GROUP BY "dev_eui", "site", "model"',
            {"privacy": schema.PRIVACY_PUBLIC},
        )
        counters = self.query.query(
            f'SELECT "f_cnt" FROM "{schema.UPLINK}" WHERE "privacy" = $privacy AND "need" = $need AND '
            + _time_clause(start, until)
            + ' GROUP BY "dev_eui"',
            {"privacy": schema.PRIVACY_PUBLIC, "need": schema.NEED_FOOTFALL},
        )
        f_cnt_by_dev = {
            s.tags.get("dev_eui", ""): {int(r[0]): r[1] for r in s.values if r[1] is not None}
            for s in counters
        }
        grid_start = floor_hour(start)
        grid_ns, until_ns = _ns(grid_start), _ns(until)
        first_day = since.astimezone(zone).date()
        last_day = (until - timedelta(microseconds=1)).astimezone(zone).date()
        site_hours: dict[str, dict[str, np.ndarray]] = {}
        points: list[Point] = []
        for done, device in enumerate(readings, start=1):
            dev = device.tags.get("dev_eui", "")
            model = device.tags.get("model", "")
            declared = self._counters(model)
            if declared is None:
                # Not guessed at: a counter of unknown width or kind gives wrong numbers.
                log.warning(
                    "footfall device=%s model=%s counters not declared: skipped", dev, model
                )
                report.footfall_undeclared.append(f"{dev} ({model})")
                continue
            hours = self._device_hours(
                device, f_cnt_by_dev.get(dev, {}), declared, report, grid_ns, until_ns
            )
            if hours is None:
                continue
            tags = {
                schema.LEVEL_TAG: schema.LEVEL_DEVICE,
                **schema.device_tags(
                    dev,
                    model,
                    device.tags.get("site", ""),
                    schema.PRIVACY_PUBLIC,
                    schema.NEED_FOOTFALL,
                ),
            }
            points.extend(
                self._footfall_points(
                    tags, grid_start, since, until, hours, first_day, last_day, zone
                )
            )
            site = tags["site"]
            if site in site_hours:
                prev = site_hours[site]
                site_hours[site] = {k: prev[k] + v for k, v in hours.items()}
            else:
                site_hours[site] = hours
            report.footfall_devices += 1
            if progress:
                progress("footfall", done, len(readings))
        for site, hours in site_hours.items():
            tags = schema.site_tags(site, schema.PRIVACY_PUBLIC, schema.NEED_FOOTFALL)
            points.extend(
                self._footfall_points(
                    tags, grid_start, since, until, hours, first_day, last_day, zone
                )
            )
        self.write(points)
        report.footfall_points += len(points)

    def _device_hours(
        self,
        device: SeriesLike,
        f_cnt_at: dict[int, Any],
        declared: dict[str, Counter],
        report: RunReport,
        grid_ns: int,
        end_ns: int,
    ) -> dict[str, np.ndarray] | None:
        """One device's counts and flags per hour of the grid, plus ``reported`` (readings
        that hour: hours without any are missing, not zero). None without usable rows."""
        columns = {c: i for i, c in enumerate(device.columns)}

        def column(name: str, rows: list[list[Any]]) -> np.ndarray:
            i = columns.get(name)
            return np.array([_float(r[i]) if i is not None else math.nan for r in rows])

        rows = [
            r
            for r in device.values
            if any(r[columns[d]] is not None for d in FOOTFALL_DIRECTIONS if d in columns)
        ]
        # The frame counter orders the readings; a reading without one cannot be placed
        # (the next reading's cumulative difference covers it).
        placed = [r for r in rows if int(r[0]) in f_cnt_at]
        report.footfall_without_fcnt += len(rows) - len(placed)
        if not placed:
            return None
        times = np.array([int(r[0]) for r in placed], dtype=np.int64)
        f_cnt = np.array([int(f_cnt_at[int(r[0])]) for r in placed], dtype=np.int64)
        n_hours = max((end_ns - grid_ns) // HOUR_NS, 0)
        hours = {k: np.zeros(n_hours, dtype=np.int64) for k in FOOTFALL_FLAGS}
        reported = np.zeros(n_hours, dtype=np.int64)
        for direction in FOOTFALL_DIRECTIONS:
            counter = declared[direction]
            d = footfall.interval_counts(
                times,
                f_cnt,
                column(direction, placed),
                counter.bits,
                counter.kind,
                max_rate=self.max_rate,
            )
            report.footfall_duplicates += d.duplicates
            hours[direction] = footfall.hourly(d.time_ns, d.delta, grid_ns, end_ns)
            period = column(FOOTFALL_PERIOD[direction], placed)
            flags = {
                "wraps": d.wrapped,
                "resets": d.reset,
                "gaps": d.gap,
                "glitches": d.glitch,
                "suspicious": d.suspicious,
                "reordered": d.reordered,
                "period_mismatches": footfall.period_mismatches(d, period)
                if counter.kind == "cumulative"
                else np.zeros(d.delta.size, dtype=bool),
            }
            for name, flag in flags.items():
                hours[name] += footfall.hourly(d.time_ns, flag.astype(np.int64), grid_ns, end_ns)
            reported += footfall.hourly(
                d.time_ns, np.ones(d.delta.size, dtype=np.int64), grid_ns, end_ns
            )
        hours["reported"] = (reported > 0).astype(np.int64)
        return hours

    @staticmethod
    def _footfall_points(
        tags: dict[str, str],
        grid_start: datetime,
        since: datetime,
        until: datetime,
        hours: dict[str, np.ndarray],
        first_day: date,
        last_day: date,
        zone: ZoneInfo,
    ) -> list[Point]:
        """Hour points for the hours with readings, day points for the days with any, each with
        last week's figures when that hour or day had readings too."""
        points = []
        base_ns = _ns(grid_start)
        n_hours = hours["people_in"].size
        reported = hours["reported"] > 0

        def slot_of(moment: datetime) -> int:
            return int((moment - grid_start) / HOUR)

        def counts(source: dict[str, Any]) -> dict[str, Any]:
            fields = {k: int(source[k]) for k in ("people_in", "people_out")}
            fields["net"] = fields["people_in"] - fields["people_out"]
            fields.update({k: int(source[k]) for k in FOOTFALL_FLAGS})
            return fields

        for i in range(max(slot_of(since), 0), n_hours):
            if not reported[i]:
                continue
            moment = grid_start + i * HOUR
            fields = counts({k: v[i] for k, v in hours.items()})
            ago = slot_of(footfall.week_ago_local(moment, str(zone)))
            if 0 <= ago < n_hours and reported[ago]:
                fields["week_ago_in"] = int(hours["people_in"][ago])
                fields["week_ago_out"] = int(hours["people_out"][ago])
            points.append(
                make_point(
                    schema.FOOTFALL_COUNTS,
                    {**tags, "period": "hour"},
                    fields,
                    base_ns + i * HOUR_NS,
                )
            )
        # Days: sums of the hours, London calendar days (23/25 hours at clock changes).
        hour_times = base_ns + np.arange(n_hours, dtype=np.int64) * HOUR_NS
        week_first = first_day - timedelta(days=7)
        sums: dict[str, dict[date, int]] = {}
        lengths: list[int] = []
        days: list[date] = []
        for key in ("people_in", "people_out", "reported", *FOOTFALL_FLAGS):
            days, s, lengths = footfall.daily(
                hour_times, hours[key], week_first, last_day, str(zone)
            )
            sums[key] = dict(zip(days, s.tolist(), strict=True))
        length_by_day = dict(zip(days, lengths, strict=True))
        for day in days:
            if day < first_day or sums["reported"][day] == 0:
                continue
            midnight, next_midnight = footfall.day_starts(day, day, str(zone))
            if midnight >= until:
                continue
            fields = counts({k: v[day] for k, v in sums.items()})
            fields["hours"] = length_by_day[day]
            before = day - timedelta(days=7)
            if next_midnight > until:
                # A day still running is compared with the same hours of last week's day (the
                # current hour included), not its whole: 18:26 today against 00:00-19:00.
                first = slot_of(footfall.week_ago_local(midnight, str(zone)))
                last = slot_of(footfall.week_ago_local(floor_hour(until), str(zone))) + 1
                fields["hours_so_far"] = int((floor_hour(until) - midnight) / HOUR) + 1
                if 0 <= first < last <= n_hours and reported[first:last].any():
                    fields["week_ago_in"] = int(hours["people_in"][first:last].sum())
                    fields["week_ago_out"] = int(hours["people_out"][first:last].sum())
            elif sums["reported"].get(before, 0):
                fields["week_ago_in"] = sums["people_in"][before]
                fields["week_ago_out"] = sums["people_out"][before]
            points.append(
                make_point(
                    schema.FOOTFALL_COUNTS,
                    {**tags, "period": "day"},
                    fields,
                    footfall.to_ns(midnight),
                )
            )
        return points


#: How often the scheduler deletes home data past their retention (``expire``): under a day,
#: so that with the tick it runs on, home data never outlive their limit by a day.
EXPIRY_EVERY: Final = timedelta(hours=23)


class InsightsScheduler:
    """Runs the jobs every ``settings.interval`` seconds until ``stop_event`` is set.

    Each run recomputes the last ``settings.recompute_hours`` complete hours,
    so late or replayed uplinks are folded in; points overwrite themselves.
    Errors are logged and retried on the next tick, never fatal. ``expire`` (given
    the time, deletes home data past their retention: ``storage.retention.expire_home``)
    runs at the first tick and then once every ``EXPIRY_EVERY``; a failed one is tried
    again at the next tick, and a store that says it cannot delete (InfluxDB 3, or a
    proxy's 404 that looks the same) again after ``EXPIRY_EVERY``, logged at ERROR each time.
    """

    def __init__(
        self,
        settings: InsightsSettings,
        stop_event: threading.Event,
        *,
        jobs: InsightsJobs,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        expire: Callable[[datetime], int | None] | None = None,
    ) -> None:
        self.settings = settings
        self.stop_event = stop_event
        self.jobs = jobs
        self.clock = clock
        self.expire = expire
        #: When ``expire`` last succeeded.
        self.last_expiry: datetime | None = None
        self.last_report: RunReport | None = None
        #: Runs that raised (each logged; the next tick runs as usual).
        self.failed_runs = 0

    def tick(self) -> RunReport:
        now = self.clock()
        if self.expire is not None and (
            self.last_expiry is None or now - self.last_expiry >= EXPIRY_EVERY
        ):
            self._expire(now)
        report = self.jobs.run(now - timedelta(hours=self.settings.recompute_hours), now)
        log.info(
            "insights run since=%s until=%s damp_points=%d alerts_opened=%d daqi_points=%d"
            " footfall_points=%d footfall_undeclared=%d errors=%d",
            report.since.isoformat(),
            report.until.isoformat(),
            report.damp_points,
            len(report.alerts_opened),
            report.daqi_points,
            report.footfall_points,
            len(report.footfall_undeclared),
            len(report.errors),
        )
        self.last_report = report
        return report

    def _expire(self, now: datetime) -> None:
        assert self.expire is not None
        try:
            cutoff = self.expire(now)
        except DeleteUnsupportedError as exc:
            # InfluxDB 3 (no delete API: its own retention period must hold the limit), or a
            # 404 from a proxy while InfluxDB restarts: asked again, not given up for good.
            log.error("event=home_expiry_unsupported error=%s", exc)
            self.last_expiry = now
            return
        except PlatformError as exc:
            log.warning("event=home_expiry_failed error=%s code=%s", exc, exc.code)
            return
        self.last_expiry = now
        if cutoff is not None:
            log.info("event=home_expired before_ns=%d", cutoff)

    def run_forever(self) -> None:
        while not self.stop_event.is_set():
            try:
                self.tick()
            except PlatformError as exc:
                self.failed_runs += 1
                log.warning("insights run failed error=%s code=%s", exc, exc.code)
            except Exception:
                # A bug or a record it cannot read must not end damp risk and Awaab alerts
                # for every home: the next tick tries again.
                self.failed_runs += 1
                log.exception("event=insights_run_failed")
            self.stop_event.wait(self.settings.interval)


@contextmanager
def open_jobs(
    settings: InsightsSettings, influx: InfluxSettings, registry: Path
) -> Iterator[InsightsJobs]:
    """Jobs wired to the real InfluxDB (query + sink) and the alert registry; closed on exit."""
    sink = make_sink(influx)
    query = InfluxQL(influx)
    conn = open_registry(registry)
    try:
        sink.ensure_database()
        yield InsightsJobs(
            settings,
            query,
            sink,
            AlertStore(conn),
            batch_size=influx.batch_size,
            tenancies=Tenancies(conn),
            rollups=lambda jobs: RollupJob(
                query, jobs.write, DeviceState(conn), (influx.database, influx.home_db)
            ),
        )
    finally:
        conn.close()
        query.close()
        sink.close()


def run_scheduler(
    settings: InsightsSettings,
    influx: InfluxSettings,
    registry: Path,
    stop_event: threading.Event,
) -> None:
    """What ``leedswin up`` runs in a thread: the scheduler until ``stop_event`` is set."""
    with open_jobs(settings, influx, registry) as jobs:
        InsightsScheduler(
            settings, stop_event, jobs=jobs, expire=lambda now: expire_home(influx, now)
        ).run_forever()

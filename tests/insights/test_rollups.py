"""Rollups on the real InfluxDB: the API's aggregates read from them equal the raw answers.

Uplinks of every model (public and home) go through the pipeline into InfluxDB, device state
observes them, the rollup job runs; then each aggregate is asked twice, of a ``ScopedReadings``
with device state (rollups where they answer) and of one without (raw points only).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from api.scoped import AggregateRow, Principal, ScopedReadings
from core.settings import InfluxSettings
from firmware_sim.publisher import SimOptions, simulate
from gateway_bridge.pipeline import Pipeline
from gateway_bridge.resolve import Resolver
from insights.lifecycle import forget_derived
from insights.rollups import RollupJob
from leedswin.commands.devices import _move_state
from leedswin.services import LocalInfluxDB
from storage.erasure import DeviceRange, databases, delete_points, measurements
from storage.influx import make_sink
from storage.points import Point, encode, make_point
from storage.query import InfluxQL, Series, time_ns
from storage.reclassify import move_device
from storage.registry import Registry, Scope, open_registry
from storage.state import DeviceState, rows_from_raw
from storage.tenancy import Tenancies

pytestmark = pytest.mark.integration

HOUSING = Principal("h", "housing", Scope.HOUSING)
PUBLIC = Principal("p", "public", Scope.PUBLIC)
DAYS = 3


@dataclass
class Rolled:
    settings: InfluxSettings
    state: DeviceState
    job: RollupJob
    points: list[Point]
    end: datetime
    clients: dict[bool, InfluxQL]
    registry: Registry

    def scoped(
        self, principal: Principal, rollups: bool, asked: list[str] | None = None
    ) -> ScopedReadings:
        client = self.clients[principal.sees_home]

        class Recording:
            def query(self, q: str, params: dict[str, Any] | None = None) -> list[Series]:
                if asked is not None:
                    asked.append(q)
                return client.query(q, params)

        return ScopedReadings(
            Recording(), principal, timedelta(days=30), state=self.state if rollups else None
        )

    def write(self, points: list[Point]) -> None:
        sink = make_sink(self.settings)
        sink.write(encode(points))
        sink.close()
        self.state.observe(points)
        self.state.commit()


@pytest.fixture(scope="module")
def rolled(tmp_path_factory: pytest.TempPathFactory, influxdb: LocalInfluxDB) -> Iterator[Rolled]:
    stamp = time.time_ns()
    settings = InfluxSettings(
        url=influxdb.url, database=f"roll_{stamp}", home_database=f"roll_home_{stamp}"
    )
    end = datetime.now(UTC)
    options = SimOptions(devices=30, uplinks=DAYS * 72, seed=11, interval=1200.0, start=None)
    pipeline = Pipeline(Resolver())
    points = [p for t, body, _ in simulate(options) for p in pipeline.process(t, body).points]
    sink = make_sink(settings)
    sink.ensure_database()
    for i in range(0, len(points), 5000):
        sink.write(encode(points[i : i + 5000]))
    sink.close()
    registry = open_registry(tmp_path_factory.mktemp("rollups") / "r.sqlite3")
    state = DeviceState(registry)
    state.observe(points)
    state.commit()
    client = InfluxQL(settings)
    routed = make_sink(settings)
    job = RollupJob(
        client,
        lambda batch: routed.write(encode(batch)),
        state,
        (settings.database, settings.home_db),
    )
    job.run(end - timedelta(days=DAYS + 1), end)
    clients = {True: client, False: InfluxQL(settings.public(), include_home=False)}
    yield Rolled(settings, state, job, points, end, clients, registry)
    clients[False].close()
    routed.close()
    client.close()
    registry.close()


def _same(rolled: list[AggregateRow], raw: list[AggregateRow]) -> None:
    assert [r.group for r in rolled] == [r.group for r in raw]
    for a, b in zip(rolled, raw, strict=True):
        assert [t for t, _ in a.points] == [t for t, _ in b.points], a.group
        for (_, x), (_, y) in zip(a.points, b.points, strict=True):
            assert math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-9), (a.group, x, y)


CASES = [
    ("temperature", "mean", "1h", "site"),
    ("temperature", "mean", "1d", "device"),
    ("temperature", "mean", "1h", "device"),
    ("temperature", "max", "6h", "site"),
    ("temperature", "min", "1d", "site"),
    ("relative_humidity", "count", "1d", "site"),
    ("co2", "p95", "1h", "site"),
    ("temperature", "median", "1h", "site"),
    ("temperature", "median", "1h", "device"),
    ("pm2_5", "mean", "1d", "site"),
    ("relative_humidity", "p95", "1h", "device"),
    ("battery_percent", "mean", "1d", "device"),
]


@pytest.mark.parametrize("principal", [PUBLIC, HOUSING], ids=["public", "housing"])
@pytest.mark.parametrize(("quantity", "fn", "every", "group_by"), CASES)
def test_rollup_answers_equal_raw_answers(
    rolled: Rolled, principal: Principal, quantity: str, fn: str, every: str, group_by: str
) -> None:
    # Unaligned ends: the partial hours at either end come from raw points.
    start = rolled.end - timedelta(days=DAYS, minutes=17)
    end = rolled.end - timedelta(minutes=7)
    args = (
        quantity,
        fn,
        every,
        start,
        end,
        group_by,
        {"site": None, "dev_eui": None, "need": None},
    )
    asked: list[str] = []
    with_rollups = rolled.scoped(principal, True, asked).aggregate(*args)  # type: ignore[arg-type]
    raw = rolled.scoped(principal, False).aggregate(*args)  # type: ignore[arg-type]
    assert raw and sum(len(r.points) for r in raw) > 10
    _same(with_rollups, raw)
    # Rollups answer public sites' whole hours and anyone's whole days; the rest is raw.
    expected = (
        every.endswith("d")
        or (group_by == "site" and not principal.sees_home)
        or (group_by == "device" and every == "1h" and fn not in ("median", "p95"))
    )
    assert any("_1h" in q or "_1d" in q for q in asked) == expected, asked


def test_a_run_after_a_pause_catches_up(rolled: Rolled) -> None:
    """Rollups held up to some hour and a run asked only for the last hour: it starts where
    the held span ends, so the span stays whole."""
    held = rolled.state.rolled("climate")
    assert held is not None
    rolled.registry.execute(
        "UPDATE rollup_progress SET until_ns = ? WHERE measurement = 'climate'",
        (held[0] + 3_600_000_000_000,),
    )
    report = rolled.job.run(rolled.end - timedelta(hours=1), rolled.end)
    assert report.spans["climate"][0] == held[0] + 3_600_000_000_000
    assert rolled.state.rolled("climate") == held


def test_public_rollups_hold_no_home_device(rolled: Rolled) -> None:
    scoped = rolled.scoped(PUBLIC, True)
    rows = scoped.aggregate(
        "temperature",
        "mean",
        "1d",
        rolled.end - timedelta(days=DAYS),
        rolled.end,
        "device",
        {"site": None, "dev_eui": None, "need": None},
    )
    home = {dict(p.tags)["dev_eui"] for p in rolled.points if dict(p.tags)["privacy"] == "home"}
    assert home and rows and not ({r.group for r in rows} & home)


def test_late_data_is_folded_in_on_the_next_run(rolled: Rolled) -> None:
    """A history frame two days back marks its hour; the next run (over the last hour only)
    recomputes it, and the answer again equals the raw one."""
    source = next(
        p for p in rolled.points if p.measurement == "climate" and "temperature" in p.fields
    )
    late_ns = time.time_ns() - 2 * 86_400 * 10**9
    late = make_point("climate", dict(source.tags), {"temperature": 1000.0}, late_ns)
    rolled.write([late])
    rolled.job.run(rolled.end - timedelta(hours=1), rolled.end)
    start = rolled.end - timedelta(days=DAYS)
    args = (
        "temperature",
        "max",
        "1d",
        start,
        rolled.end,
        "device",
        {"site": None, "dev_eui": dict(source.tags)["dev_eui"], "need": None},
    )
    with_rollups = rolled.scoped(HOUSING, True).aggregate(*args)  # type: ignore[arg-type]
    assert any(v == 1000.0 for row in with_rollups for _, v in row.points)
    _same(with_rollups, rolled.scoped(HOUSING, False).aggregate(*args))  # type: ignore[arg-type]


HOUR_NS = 3_600_000_000_000


def _compare(rolled: Rolled, start: datetime, cases: list[tuple[str, str, str, str]]) -> None:
    """Each (quantity, fn, every, group_by) from ``start`` to the end, for both keys: equal to
    the raw answer, and read from rollups where they answer whole days."""
    filters: dict[str, str | None] = {"site": None, "dev_eui": None, "need": None}
    for principal in (PUBLIC, HOUSING):
        for quantity, fn, every, group_by in cases:
            args = (quantity, fn, every, start, rolled.end, group_by, filters)
            asked: list[str] = []
            with_rollups = rolled.scoped(principal, True, asked).aggregate(*args)  # type: ignore[arg-type]
            _same(with_rollups, rolled.scoped(principal, False).aggregate(*args))  # type: ignore[arg-type]
            assert with_rollups
            if every == "1d":
                assert any("_1d" in q for q in asked), asked


def test_a_backfill_before_the_held_span_extends_it(rolled: Rolled) -> None:
    """Every climate device's readings 16 days back, before the hours the rollups hold: the
    next run (over the last hour) recomputes from their first hour up to the held span, which
    grows to start there; rollup answers over the 17 days equal the raw ones."""
    held = rolled.state.rolled("climate")
    assert held is not None
    sources = {
        dict(p.tags)["dev_eui"]: p
        for p in rolled.points
        if p.measurement == "climate" and "temperature" in p.fields
    }
    first = time_ns(rolled.end - timedelta(days=16))
    backfill = [
        make_point(
            "climate",
            dict(p.tags),
            {"temperature": i % 7 + 0.25 * j, "relative_humidity": 50.0 + j},
            first + j * 1_200_000_000_000 + i * 1_000_000_000,
        )
        for i, p in enumerate(sources.values())
        for j in range(6)
    ]
    rolled.write(backfill)
    report = rolled.job.run(rolled.end - timedelta(hours=1), rolled.end)
    hour = first - first % HOUR_NS
    assert report.late["climate"] == [(hour, held[0])]
    assert report.spans["climate"][0] >= time_ns(rolled.end) - 2 * HOUR_NS
    assert rolled.state.rolled("climate") == (hour, held[1])
    _compare(
        rolled,
        rolled.end - timedelta(days=17),
        [
            ("temperature", "mean", "1d", "device"),
            ("temperature", "max", "1d", "site"),
            ("relative_humidity", "count", "1d", "site"),
            ("temperature", "mean", "1h", "site"),
        ],
    )


def test_a_late_point_two_weeks_back_recomputes_its_hour_and_day_only(rolled: Rolled) -> None:
    """After the backfill the rollups hold 16 days: a device's point two weeks back makes the
    next run recompute that hour and its day, not the two weeks between it and now."""
    held = rolled.state.rolled("climate")
    assert held is not None
    source = next(
        p for p in rolled.points if p.measurement == "climate" and "temperature" in p.fields
    )
    late_ns = time_ns(rolled.end - timedelta(days=14))
    rolled.write([make_point("climate", dict(source.tags), {"temperature": -40.0}, late_ns)])
    report = rolled.job.run(rolled.end - timedelta(hours=1), rolled.end)
    hour = late_ns - late_ns % HOUR_NS
    assert report.late["climate"] == [(hour, hour + HOUR_NS)]
    assert report.spans["climate"][0] >= time_ns(rolled.end) - 2 * HOUR_NS
    assert rolled.state.rolled("climate") == held
    args = (
        "temperature",
        "min",
        "1d",
        rolled.end - timedelta(days=17),
        rolled.end,
        "device",
        {"site": None, "dev_eui": dict(source.tags)["dev_eui"], "need": None},
    )
    with_rollups = rolled.scoped(HOUSING, True).aggregate(*args)  # type: ignore[arg-type]
    assert any(v == -40.0 for row in with_rollups for _, v in row.points)
    _same(with_rollups, rolled.scoped(HOUSING, False).aggregate(*args))  # type: ignore[arg-type]
    _compare(rolled, rolled.end - timedelta(days=17), [("temperature", "mean", "1d", "site")])


def test_erasure_leaves_no_trace_in_rollups_or_state(rolled: Rolled) -> None:
    """Erase a home device's points over a range with unaligned ends: after the rollup job's
    next run every answer (by device and site quantiles) again equals the raw one, and its
    state equals ``last()`` of what remains. Runs last: it changes the module's data."""
    home = next(p for p in rolled.points if dict(p.tags)["privacy"] == "home")
    dev_eui = dict(home.tags)["dev_eui"]
    span = DeviceRange(
        dev_eui,
        time_ns(rolled.end - timedelta(days=1, minutes=23)),
        time_ns(rolled.end + timedelta(hours=1)),
    )
    with InfluxQL(rolled.settings, include_home=False) as client:
        for database in databases(rolled.settings):
            for measurement in measurements(client, database, dev_eui):
                delete_points(client, database, measurement, span)
    forget_derived(Tenancies(rolled.registry), rolled.settings, [span])
    rolled.job.run(rolled.end - timedelta(hours=1), rolled.end)
    start = rolled.end - timedelta(days=DAYS)
    filters: dict[str, str | None] = {"site": None, "dev_eui": None, "need": None}
    for fn, every, group_by in (("mean", "1d", "device"), ("p95", "1h", "site")):
        args = ("temperature", fn, every, start, rolled.end, group_by, filters)
        _same(
            rolled.scoped(HOUSING, True).aggregate(*args),  # type: ignore[arg-type]
            rolled.scoped(HOUSING, False).aggregate(*args),  # type: ignore[arg-type]
        )
    mine = [f for f in rolled.state.fields() if f.dev_eui == dev_eui]
    assert mine and all(f.time_ns < span.start_ns for f in mine)
    with InfluxQL(rolled.settings) as client:
        assert mine == rows_from_raw(client, databases(rolled.settings), 0, dev_eui)


def test_a_device_reclassified_home_leaves_no_public_site_figure(rolled: Rolled) -> None:
    """Review: a reclassified device's readings stayed in its site's daily rollup rows, which
    a public key read with ``every=1d``. Public site answers equal the raw ones at once
    (before the job runs again: the held span ends where the device's points began) and
    after the next run. Runs after the erasure test: it changes the module's data too."""
    public = next(
        p
        for p in rolled.points
        if dict(p.tags)["privacy"] == "public"
        and p.measurement == "climate"
        and "temperature" in p.fields
    )
    dev_eui, site = dict(public.tags)["dev_eui"], dict(public.tags)["site"]
    report = move_device(rolled.settings, dev_eui, "home")
    assert report.first_ns is not None
    _move_state(rolled.registry.path, rolled.settings, dev_eui, "home", report)
    start = rolled.end - timedelta(days=DAYS)
    filters: dict[str, str | None] = {"site": site, "dev_eui": None, "need": None}
    for _ in range(2):
        for fn in ("count", "mean"):
            args = ("temperature", fn, "1d", start, rolled.end, "site", filters)
            _same(
                rolled.scoped(PUBLIC, True).aggregate(*args),  # type: ignore[arg-type]
                rolled.scoped(PUBLIC, False).aggregate(*args),  # type: ignore[arg-type]
            )
        rolled.job.run(rolled.end - timedelta(hours=1), rolled.end)

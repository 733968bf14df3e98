"""Aggregates whose ranges differ by seconds share their reads, and still equal raw answers.

The whole hours come from rollup rows kept in the span cache, the partial hours at either
end from an hour of raw points kept per hour (``ScopedReadings._hour_points``); the medians
and 95th percentiles of those partial hours are computed as InfluxDB 1.x computes them,
checked here against InfluxDB itself.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import numpy as np
import pytest

from api.cache import SPAN_TTL, Coalescer
from api.scoped import ScopedReadings
from core.settings import InfluxSettings
from insights import lifecycle
from insights.lifecycle import forget_derived
from leedswin.services import LocalInfluxDB
from storage.erasure import DeviceRange, databases, delete_points, measurements
from storage.influx import make_sink
from storage.points import encode, make_point
from storage.query import InfluxQL, Series, time_ns
from storage.stats import quantile
from storage.tenancy import Tenancies
from tests.insights.test_rollups import DAYS, HOUSING, PUBLIC, Rolled, _same, rolled

pytestmark = pytest.mark.integration

__all__ = ["rolled"]  # the fixture, shared with the rollup tests

FILTERS: dict[str, str | None] = {"site": None, "dev_eui": None, "need": None}


def _cached(
    rolled: Rolled, principal: Any, asked: list[str], spans: Coalescer, answers: Coalescer
) -> ScopedReadings:
    client = rolled.clients[principal.sees_home]

    class Recording:
        def query(self, q: str, params: dict[str, Any] | None = None) -> list[Series]:
            asked.append(q)
            return client.query(q, params)

    return ScopedReadings(
        Recording(),
        principal,
        timedelta(days=30),
        state=rolled.state,
        cache=answers,
        spans=spans,
    )


@pytest.mark.parametrize(
    ("fn", "every", "group_by"),
    [("mean", "1h", "site"), ("p95", "1h", "site"), ("max", "1d", "device")],
)
def test_ranges_seconds_apart_read_the_rollups_once_and_equal_raw_answers(
    rolled: Rolled, fn: str, every: str, group_by: str
) -> None:
    spans, answers = Coalescer(SPAN_TTL, 8), Coalescer(60.0)
    start = rolled.end - timedelta(days=DAYS, minutes=17)
    asks: list[list[str]] = []
    for shift in range(3):
        asked: list[str] = []
        end = rolled.end - timedelta(minutes=7, seconds=shift)
        args = ("temperature", fn, every, start, end, group_by, FILTERS)
        scoped = _cached(rolled, PUBLIC, asked, spans, answers)
        _same(
            scoped.aggregate(*args),  # type: ignore[arg-type]
            rolled.scoped(PUBLIC, False).aggregate(*args),  # type: ignore[arg-type]
        )
        asks.append(asked)
    first, *later = asks
    assert any("_1h" in q or "_1d" in q for q in first)
    # The first ask read the rollups and each end's partial hour; the others read nothing.
    assert later == [[], []], later


def test_a_marked_span_is_not_served_from_the_cache(rolled: Rolled) -> None:
    """Erasure and reclassification end the span the rollups hold (``DeviceState.mark``):
    the rows kept for the longer span are not read again."""
    spans, answers = Coalescer(SPAN_TTL, 8), Coalescer(0.0)
    asked: list[str] = []
    args = (
        "temperature",
        "mean",
        "1h",
        rolled.end - timedelta(days=DAYS),
        rolled.end,
        "site",
        FILTERS,
    )
    before = _cached(rolled, PUBLIC, asked, spans, answers).aggregate(*args)  # type: ignore[arg-type]
    held = rolled.state.rolled("climate")
    assert held is not None
    mark = held[1] - 6 * 3_600_000_000_000
    try:
        rolled.state.mark("climate", mark)
        asked.clear()
        after = _cached(rolled, PUBLIC, asked, spans, answers).aggregate(*args)  # type: ignore[arg-type]
        assert any("_1h" in q for q in asked), "a new span is read, not the cached one"
        _same(after, before)
    finally:
        rolled.state.record_rolled("climate", *held)
        rolled.state.claim_touched()


@pytest.fixture(scope="module")
def quantile_db(influxdb: LocalInfluxDB) -> Iterator[InfluxQL]:
    settings = InfluxSettings(url=influxdb.url, database=f"quantiles_{time.time_ns()}")
    rng = random.Random(5)
    points = []
    base = 1_700_000_000 * 10**9
    for n in (*range(1, 26), 40, 41, 100, 101):
        for i in range(n):
            # Ties and integers as well as spread floats: the rank rules matter for them.
            value = rng.choice([rng.uniform(-5, 30), float(rng.randint(0, 4))])
            tags = {"n": str(n), "d": str(i)}  # one series per point, as a site's devices
            points.append(make_point("q", tags, {"v": value}, base + i * 10**9))
    sink = make_sink(settings)
    sink.ensure_database()
    sink.write(encode(points))
    sink.close()
    with InfluxQL(settings) as client:
        yield client


@pytest.mark.parametrize(("fn", "sql"), [("median", 'MEDIAN("v")'), ("p95", 'PERCENTILE("v", 95)')])
def test_partial_hour_quantiles_are_influxdbs_own(quantile_db: InfluxQL, fn: str, sql: str) -> None:
    ours = {
        s.tags["n"]: quantile(fn, np.array([v for _, v in s.values], dtype=np.float64))  # type: ignore[arg-type]
        for s in quantile_db.query('SELECT "v" FROM "q" GROUP BY "n"')
    }
    theirs = {
        s.tags["n"]: s.values[0][1]
        for s in quantile_db.query(f'SELECT {sql} FROM "q" GROUP BY "n"')
    }
    assert len(ours) == 29
    assert ours == theirs


def test_no_values_have_noquantile() -> None:
    assert quantile("median", np.array([])) is None
    assert quantile("p95", np.array([])) is None


def test_housing_answers_equal_raw_with_caches(rolled: Rolled) -> None:
    spans, answers = Coalescer(SPAN_TTL, 8), Coalescer(60.0)
    args = (
        "temperature",
        "mean",
        "1d",
        rolled.end - timedelta(days=DAYS, minutes=3),
        rolled.end - timedelta(minutes=1),
        "device",
        FILTERS,
    )
    _same(
        _cached(rolled, HOUSING, [], spans, answers).aggregate(*args),  # type: ignore[arg-type]
        rolled.scoped(HOUSING, False).aggregate(*args),  # type: ignore[arg-type]
    )


def test_erased_points_are_not_served_from_the_caches(rolled: Rolled) -> None:
    """Review: after an erasure, a housing key's aggregate came from rows kept before it, at
    the partial hours (raw points of a finished hour) and, once the rollup job had run and
    the held span had grown back the same, from the span cache. Both are keyed by the marks
    now. Changes the module's data: runs after the other tests here."""
    spans, answers = Coalescer(SPAN_TTL, 64), Coalescer(0.0)
    home = next(
        p
        for p in reversed(rolled.points)
        if dict(p.tags)["privacy"] == "home"
        and p.measurement == "climate"
        and "temperature" in p.fields
    )
    dev_eui = dict(home.tags)["dev_eui"]
    end = rolled.end - timedelta(hours=2, minutes=7)
    args = (
        "temperature",
        "mean",
        "1h",
        end - timedelta(days=1, minutes=10),
        end,
        "device",
        {"site": None, "dev_eui": dev_eui, "need": None},
    )
    before = _cached(rolled, HOUSING, [], spans, answers).aggregate(*args)  # type: ignore[arg-type]
    assert before and before[0].points
    span = DeviceRange(
        dev_eui, time_ns(end - timedelta(hours=5)), time_ns(rolled.end + timedelta(hours=1))
    )
    with InfluxQL(rolled.settings, include_home=False) as client:
        for database in databases(rolled.settings):
            for measurement in measurements(client, database, dev_eui):
                delete_points(client, database, measurement, span)
    forget_derived(Tenancies(rolled.registry), rolled.settings, [span])
    raw = rolled.scoped(HOUSING, False).aggregate(*args)  # type: ignore[arg-type]
    assert sum(len(r.points) for r in raw) < sum(len(r.points) for r in before)
    _same(_cached(rolled, HOUSING, [], spans, answers).aggregate(*args), raw)  # type: ignore[arg-type]
    rolled.job.run(rolled.end - timedelta(hours=1), rolled.end)
    _same(_cached(rolled, HOUSING, [], spans, answers).aggregate(*args), raw)  # type: ignore[arg-type]


def test_a_rollup_run_between_an_erasures_marks_and_its_deletes_is_mended(
    rolled: Rolled, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Review: the job ran after the first mark and before the rollup deletes, which then
    removed every site's rows it had recomputed, and nothing marked them again: public site
    answers stayed short of the raw ones for good. The hours are marked after the deletes
    too. Changes the module's data."""
    public = next(p for p in rolled.points if dict(p.tags)["privacy"] == "public")
    dev_eui = dict(public.tags)["dev_eui"]
    span = DeviceRange(
        dev_eui,
        time_ns(rolled.end - timedelta(hours=10, minutes=23)),
        time_ns(rolled.end + timedelta(hours=1)),
    )
    with InfluxQL(rolled.settings, include_home=False) as client:
        for database in databases(rolled.settings):
            for measurement in measurements(client, database, dev_eui):
                delete_points(client, database, measurement, span)
    real_drop = lifecycle.drop_rollups

    def job_runs_first(*args: Any, **kwargs: Any) -> None:
        rolled.job.run(rolled.end - timedelta(hours=1), rolled.end)
        real_drop(*args, **kwargs)

    monkeypatch.setattr(lifecycle, "drop_rollups", job_runs_first)
    forget_derived(Tenancies(rolled.registry), rolled.settings, [span])
    rolled.job.run(rolled.end - timedelta(hours=1), rolled.end)
    for fn, every in (("mean", "1h"), ("count", "1d")):
        args = ("temperature", fn, every, rolled.end - timedelta(days=DAYS), rolled.end, "site")
        _same(
            rolled.scoped(PUBLIC, True).aggregate(*args, FILTERS),  # type: ignore[arg-type]
            rolled.scoped(PUBLIC, False).aggregate(*args, FILTERS),  # type: ignore[arg-type]
        )

"""Which hours a rollup run reads (a fake query runner that records them; values are checked
on the real InfluxDB in test_rollups.py): touched hours only, the held span kept contiguous,
marks, pauses, the lookback, and a failed run giving its claim back."""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from core.errors import QueryError, QueryTimeoutError
from insights.rollups import RollupJob
from storage.points import Point
from storage.query import Series
from storage.registry import open_registry
from storage.schema import rollup_fields
from storage.state import HOUR_NS, DeviceState, Touched

DAY_NS = 24 * HOUR_NS
#: A run's "now": whole hours, in the past so every hour before it counts as complete.
END = datetime(2026, 3, 1, 12, tzinfo=UTC)
END_NS = int(END.timestamp()) * 10**9
RANGE = re.compile(r'FROM "(\w+)".* time >= (\d+) AND time < (\d+)')


class Recorder:
    """Answers ``SHOW FIELD KEYS`` with every rolled-up field, every SELECT with nothing, and
    keeps the [from, until) of each raw read per measurement; ``fail_on`` raises instead."""

    def __init__(self, fail_on: str | None = None) -> None:
        self.reads: dict[str, list[tuple[int, int]]] = {}
        self.fail_on = fail_on

    def query(
        self, q: str, params: dict[str, Any] | None = None, *, database: str | None = None
    ) -> list[Series]:
        if q.startswith("SHOW FIELD KEYS"):
            measurement = q.split('"')[1]
            keys = [[name, "float"] for name in rollup_fields(measurement)]
            return [Series(measurement, {}, ["fieldKey", "fieldType"], keys)]
        found = RANGE.search(q)
        assert found, q
        measurement, a, b = found.group(1), int(found.group(2)), int(found.group(3))
        if measurement == self.fail_on:
            raise QueryError("boom")
        self.reads.setdefault(measurement, []).append((a, b))
        return []

    def hours(self, measurement: str) -> set[int]:
        """Every hour a raw read of ``measurement`` covered."""
        return {h for a, b in self.reads.get(measurement, []) for h in range(a, b, HOUR_NS)}


def _job(tmp_path: Path, runner: Recorder) -> RollupJob:
    state = DeviceState(open_registry(tmp_path / "r.sqlite3"))
    written: list[Point] = []
    return RollupJob(runner, written.extend, state, ("db",))


def _touch(state: DeviceState, measurement: str, *times: int) -> None:
    claim = Touched({measurement: frozenset(t - t % HOUR_NS for t in times)}, {})
    state.give_back(claim)


def test_a_late_point_inside_the_held_span_costs_its_hour_and_day(tmp_path: Path) -> None:
    runner = Recorder()
    job = _job(tmp_path, runner)
    job.state.record_rolled("climate", END_NS - 30 * DAY_NS, END_NS)
    late = END_NS - 14 * DAY_NS + 25 * 60 * 10**9  # two weeks back, 25 minutes into the hour
    _touch(job.state, "climate", late)
    report = job.run(END - timedelta(hours=1), END)
    hour = late - late % HOUR_NS
    assert report.spans["climate"] == (END_NS - HOUR_NS, END_NS)
    assert report.late["climate"] == [(hour, hour + HOUR_NS)]
    assert runner.hours("climate") == {END_NS - HOUR_NS, hour}
    day = hour - hour % DAY_NS
    today = END_NS - END_NS % DAY_NS
    assert set(runner.reads["climate_1h"]) == {(day, day + DAY_NS), (today, today + DAY_NS)}
    assert job.state.rolled("climate") == (END_NS - 30 * DAY_NS, END_NS)
    assert "climate" not in job.run(END - timedelta(hours=1), END).late  # claimed once


def test_a_backfill_before_the_held_span_extends_it_contiguously(tmp_path: Path) -> None:
    runner = Recorder()
    job = _job(tmp_path, runner)
    held = (END_NS - 7 * DAY_NS, END_NS)
    job.state.record_rolled("uplink", *held)
    old = [END_NS - 300 * DAY_NS, END_NS - 200 * DAY_NS, END_NS - 3 * DAY_NS]
    _touch(job.state, "uplink", *old)
    report = job.run(END - timedelta(hours=1), END)
    first = old[0] - old[0] % HOUR_NS
    inside = old[2] - old[2] % HOUR_NS
    assert report.late["uplink"] == [(first, held[0]), (inside, inside + HOUR_NS)]
    assert job.state.rolled("uplink") == (first, END_NS)


def test_touched_hours_in_runs_and_beyond_the_lookback(tmp_path: Path) -> None:
    runner = Recorder()
    job = _job(tmp_path, runner)
    job.state.record_rolled("footfall", END_NS - 400 * DAY_NS, END_NS)
    base = END_NS - 10 * DAY_NS
    _touch(
        job.state,
        "footfall",
        base,
        base + HOUR_NS,
        base + 2 * HOUR_NS + 5,
        base + 5 * HOUR_NS,
        END_NS - 390 * DAY_NS,  # beyond max_lookback (366 days): not recomputed
    )
    report = job.run(END - timedelta(hours=1), END)
    assert report.late["footfall"] == [
        (base, base + 3 * HOUR_NS),
        (base + 5 * HOUR_NS, base + 6 * HOUR_NS),
    ]
    assert min(runner.hours("footfall")) == base
    # Review: that hour was dropped silently while the held span still covered it; the span
    # now starts after it, so the API answers there from raw points.
    old = END_NS - 390 * DAY_NS
    assert job.state.rolled("footfall") == (old + HOUR_NS, END_NS)


def test_a_mark_truncates_the_held_span_and_is_recomputed_from(tmp_path: Path) -> None:
    runner = Recorder()
    job = _job(tmp_path, runner)
    job.state.record_rolled("climate", END_NS - 30 * DAY_NS, END_NS)
    job.state.record_rolled("uplink", END_NS - 30 * DAY_NS, END_NS)
    marked = END_NS - 5 * DAY_NS + 17
    job.state.mark("climate", marked)
    job.state.mark("uplink", END_NS - 40 * DAY_NS)  # before the span: nothing held any more
    hour = marked - 17
    assert job.state.rolled("climate") == (END_NS - 30 * DAY_NS, hour)
    assert job.state.rolled("uplink") is None
    report = job.run(END - timedelta(hours=1), END)
    assert report.spans["climate"] == (hour, END_NS)
    assert report.spans["uplink"] == (END_NS - 40 * DAY_NS, END_NS)
    assert job.state.rolled("climate") == (END_NS - 30 * DAY_NS, END_NS)
    assert job.state.rolled("uplink") == (END_NS - 40 * DAY_NS, END_NS)


def test_a_failed_run_gives_back_what_it_claimed(tmp_path: Path) -> None:
    runner = Recorder(fail_on="air_quality")
    job = _job(tmp_path, runner)
    job.state.record_rolled("air_quality", END_NS - 30 * DAY_NS, END_NS - 2 * HOUR_NS)
    late = END_NS - 14 * DAY_NS
    _touch(job.state, "climate", late)
    _touch(job.state, "air_quality", late, late + HOUR_NS)
    job.state.mark("air_quality", END_NS - 3 * DAY_NS)
    with pytest.raises(QueryError):
        job.run(END - timedelta(hours=1), END)
    # climate ran before air quality (``ROLLUP_SOURCES``' order) and is done; the rest is back.
    assert job.state.claim_touched() == Touched(
        {"air_quality": frozenset({late, late + HOUR_NS})},
        {"air_quality": END_NS - 3 * DAY_NS},
    )
    assert job.state.rolled("air_quality") == (END_NS - 30 * DAY_NS, END_NS - 3 * DAY_NS)


class SlowServer(Recorder):
    """Times out on raw reads longer than ``longest`` (a busy server, a dense fleet)."""

    def __init__(self, longest: int) -> None:
        super().__init__()
        self.longest = longest

    def query(
        self, q: str, params: dict[str, Any] | None = None, *, database: str | None = None
    ) -> list[Series]:
        found = RANGE.search(q)
        if found and not found.group(1).endswith(("_1h", "_1d")):
            if int(found.group(3)) - int(found.group(2)) > self.longest:
                raise QueryTimeoutError("ReadTimeout: timed out")
        return super().query(q, params, database=database)


def test_a_timed_out_day_is_read_again_in_halves_down_to_an_hour(tmp_path: Path) -> None:
    runner = SlowServer(longest=3 * HOUR_NS)
    job = _job(tmp_path, runner)
    job.run(END - timedelta(days=1), END)
    assert runner.hours("climate") == set(range(END_NS - DAY_NS, END_NS, HOUR_NS))
    assert all(b - a <= 3 * HOUR_NS for a, b in runner.reads["climate"])
    assert job.state.rolled("climate") == (END_NS - DAY_NS, END_NS)


def test_an_hour_that_still_times_out_fails_the_run_and_gives_its_claim_back(
    tmp_path: Path,
) -> None:
    runner = SlowServer(longest=0)
    job = _job(tmp_path, runner)
    _touch(job.state, "climate", END_NS - 2 * DAY_NS)
    with pytest.raises(QueryTimeoutError):
        job.run(END - timedelta(hours=2), END)
    assert job.state.claim_touched().hours["climate"] == frozenset({END_NS - 2 * DAY_NS})


def test_sparse_hours_are_read_in_chunks_sized_by_what_the_last_gave(tmp_path: Path) -> None:
    """A backfill of 100 days that gives few rows (here none) is read a day at a time only
    until the first answers, then in chunks of up to 7 days: every hour still read once."""
    runner = Recorder()
    job = _job(tmp_path, runner)
    job.state.record_rolled("climate", END_NS - DAY_NS, END_NS)
    _touch(job.state, "climate", END_NS - 101 * DAY_NS)
    job.run(END - timedelta(hours=1), END)
    reads = sorted(runner.reads["climate"])
    span = set(range(END_NS - 101 * DAY_NS, END_NS - DAY_NS, HOUR_NS))
    assert span <= runner.hours("climate")
    # Each hour once: one raw read gives the devices' and the sites' rows.
    hours = Counter(h for a, b in reads for h in range(a, b, HOUR_NS))
    assert set(hours.values()) == {1}
    assert max(b - a for a, b in reads) == 7 * DAY_NS
    assert len(reads) <= 17  # 1 + 1 + 14 × 7 days, and the run's own hour

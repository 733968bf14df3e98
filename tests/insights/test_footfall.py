"""Counters -> interval counts: fCnt order, sessions, wraps, resets, glitches, gaps, DST."""

from __future__ import annotations

import math
import random
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

import decoders
from insights import footfall

H = footfall.HOUR_NS


def test_plain_increase_and_first_reading_is_baseline() -> None:
    d = footfall.interval_counts([0, H, 2 * H], [1, 2, 3], [100, 105, 112], bits=16)
    assert d.delta.tolist() == [0, 5, 7]


def test_baseline_counts_first_reading() -> None:
    d = footfall.interval_counts([0, H], [1, 2], [100, 105], bits=16, baseline=90)
    assert d.delta.tolist() == [10, 5]


def test_16_bit_wrap() -> None:
    d = footfall.interval_counts([0, H], [1, 2], [65530, 4], bits=16)
    assert d.delta.tolist() == [0, 10]
    assert d.wrapped.tolist() == [False, True]


def test_32_bit_wrap() -> None:
    d = footfall.interval_counts([0, H, 2 * H], [1, 2, 3], [2**32 - 900, 2**32 - 3, 7], bits=32)
    assert d.delta.tolist() == [0, 897, 10]
    assert d.wrapped.tolist() == [False, False, True]


def test_reset_counts_new_total_as_lower_bound() -> None:
    d = footfall.interval_counts([0, H, 2 * H], [10, 0, 1], [5000, 3, 9], bits=16)
    assert d.delta.tolist() == [0, 3, 6]
    assert d.reset.tolist() == [False, True, False]


def test_duplicates_and_out_of_order_delivery() -> None:
    times = [2 * H, 0, H, H, 3 * H]
    f_cnt = [3, 1, 2, 2, 3]
    totals = [20, 10, 15, 15, 20]  # fCnt 3 redelivered with a later receive time
    d = footfall.interval_counts(times, f_cnt, totals, bits=16)
    assert d.time_ns.tolist() == [0, H, 2 * H]
    assert d.delta.tolist() == [0, 5, 5]
    assert d.duplicates == 2


def test_gap_is_flagged_and_covered_by_the_difference() -> None:
    d = footfall.interval_counts([0, 3 * H], [1, 4], [10, 40], bits=16)
    assert d.delta.tolist() == [0, 30]
    assert d.gap.tolist() == [False, True]


@given(
    st.lists(st.integers(min_value=0, max_value=50), min_size=1, max_size=60), st.integers(0, 65535)
)
def test_wrapping_counter_total_is_exact(increments: list[int], start: int) -> None:
    totals = (start + np.cumsum(increments)) % 65536
    n = len(increments)
    d = footfall.interval_counts(np.arange(n) * H, np.arange(n), totals, bits=16, baseline=start)
    assert int(d.delta.sum()) == sum(increments)
    assert not d.reset.any()  # a counter that only increases never resets


def test_hourly_bins() -> None:
    counts = footfall.hourly(np.array([0, H - 1, H, 5 * H]), np.array([1, 2, 3, 4]), 0, 3 * H)
    assert counts.tolist() == [3, 3, 0]


def test_daily_bins_have_23_and_25_hour_clock_change_days() -> None:
    _, _, lengths = footfall.daily(
        np.array([], dtype=np.int64),
        np.array([], dtype=np.int64),
        date(2026, 3, 29),
        date(2026, 3, 29),
        "Europe/London",
    )
    assert lengths == [23]
    _, _, lengths = footfall.daily(
        np.array([], dtype=np.int64),
        np.array([], dtype=np.int64),
        date(2026, 10, 25),
        date(2026, 10, 25),
        "Europe/London",
    )
    assert lengths == [25]


def test_daily_bins_follow_london_midnight() -> None:
    # 23:30 UTC on 1 July is 00:30 BST on 2 July.
    t = footfall.to_ns(datetime(2026, 7, 1, 23, 30, tzinfo=UTC))
    days, sums, _ = footfall.daily(
        np.array([t]), np.array([7]), date(2026, 7, 1), date(2026, 7, 2), "Europe/London"
    )
    assert dict(zip(days, sums.tolist(), strict=True)) == {date(2026, 7, 1): 0, date(2026, 7, 2): 7}


def test_week_ago_keeps_local_wall_clock_across_clock_change() -> None:
    after = datetime(2026, 3, 30, 8, 0, tzinfo=UTC)  # 09:00 BST Monday
    assert footfall.week_ago_local(after, "Europe/London") == datetime(
        2026, 3, 23, 9, 0, tzinfo=UTC
    )


@given(
    st.lists(st.tuples(st.integers(0, 30), st.booleans()), min_size=2, max_size=80),
    st.randoms(use_true_random=False),
)
def test_resets_and_shuffled_delivery_still_count_exactly(
    steps: list[tuple[int, bool]], rng: random.Random
) -> None:
    """A device that resets to zero and then counts: every person is counted once,
    whatever order the readings arrive in (as long as resets are seen as drops)."""
    total, f_cnt = 1000, 0
    times, counters, totals, expected = [], [], [], 0
    zeros: set[int] = set()  # totals at fCnt 0 in the current session
    for k, (increment, reset) in enumerate(steps):
        # A reset is only visible as a drop of the total (an fCnt drop alone may be a
        # rejoin with the counter kept); a reset landing on the fCnt and total of a
        # reading still in the session looks exactly like a redelivery.
        if reset and k > 0 and f_cnt > 0 and 0 < increment < total and increment not in zeros:
            total, f_cnt = increment, 0
            zeros = {increment}
        else:
            total += increment
            f_cnt += 1
        if k > 0:
            expected += increment
        times.append(k * H)
        counters.append(f_cnt)
        totals.append(total)
    order = list(range(len(times)))
    rng.shuffle(order)
    d = footfall.interval_counts(
        [times[i] for i in order],
        [counters[i] for i in order],
        [totals[i] for i in order],
        bits=32,
    )
    assert d.time_ns.tolist() == times
    assert int(d.delta.sum()) == expected


MIN = 60 * 1_000_000_000


def test_skewed_clock_does_not_reorder_a_session() -> None:
    """Issue 17.3: after a total of 495, fCnt 100, 101, 102 with totals 500, 505, 512, where
    101 is stamped 120 s early. Event-time order made a false reset and 522 people."""
    times = [99 * MIN, 100 * MIN, 101 * MIN - 120 * 1_000_000_000, 102 * MIN]
    d = footfall.interval_counts(times, [99, 100, 101, 102], [495, 500, 505, 512], bits=16)
    assert d.f_cnt.tolist() == [99, 100, 101, 102]
    assert d.delta.tolist() == [0, 5, 5, 7] and int(d.delta.sum()) == 17
    assert d.reordered.tolist() == [False, False, True, False]
    assert not d.reset.any()
    assert np.all(np.diff(d.time_ns) >= 0)  # binning times follow the fCnt order


def test_rejoin_restarts_fcnt_and_keeps_counting() -> None:
    """A rejoin (new session) restarts fCnt at 0; the counter carries on: no reset, no loss."""
    times = [0, 10 * MIN, 20 * MIN, 30 * MIN, 40 * MIN]
    d = footfall.interval_counts(times, [700, 701, 0, 1, 2], [100, 110, 115, 121, 130], bits=32)
    assert d.session.tolist() == [0, 0, 1, 1, 1]
    assert d.delta.tolist() == [0, 10, 5, 6, 9]
    assert not d.reset.any() and not d.gap.any()


def test_rejoin_early_in_a_session_is_a_new_session() -> None:
    """fCnt 0 again (with another total) is a new session, even after only a few frames."""
    times = [0, 10 * MIN, 20 * MIN, 30 * MIN]
    d = footfall.interval_counts(times, [0, 1, 0, 1], [5, 9, 12, 20], bits=16)
    assert d.session.tolist() == [0, 0, 1, 1]
    assert d.delta.tolist() == [0, 4, 3, 8]


def test_one_uplink_drop_to_zero_is_a_glitch_not_a_reset() -> None:
    """Issue 17.4: 800 → 0 → 806 counts 6 (not 806); the zero reading is kept out, flagged."""
    d = footfall.interval_counts([0, 5 * MIN, 10 * MIN], [1, 2, 3], [800, 0, 806], bits=16)
    assert d.delta.tolist() == [0, 0, 6]
    assert d.glitch.tolist() == [False, True, False]
    assert not d.reset.any()


def test_one_uplink_spike_is_a_glitch() -> None:
    d = footfall.interval_counts([0, 5 * MIN, 10 * MIN], [1, 2, 3], [800, 50_000, 806], bits=32)
    assert d.delta.tolist() == [0, 0, 6]
    assert d.glitch.tolist() == [False, True, False]


def test_increase_above_the_declared_rate_is_suspicious_and_not_counted() -> None:
    """10 minutes at 5 people/s is at most 3,000: a jump of 899,200 that stays is kept out."""
    times = [0, 10 * MIN, 20 * MIN]
    d = footfall.interval_counts(times, [1, 2, 3], [800, 900_000, 900_010], bits=32)
    assert d.delta.tolist() == [0, 0, 10]
    assert d.suspicious.tolist() == [False, True, False]
    lower = footfall.interval_counts(times, [1, 2, 3], [800, 900_000, 900_010], 32, max_rate=2000.0)
    assert lower.delta.tolist() == [0, 899_200, 10] and not lower.suspicious.any()


def test_vs133_32_bit_total_reset_counts_the_new_total() -> None:
    """Issue 10.6: a VS133 line total (declared 32-bit cumulative) reset from 50,010 to 12
    counts 12 people, not 15,538 (a 16-bit wrap)."""
    counter = decoders.get_spec("milesight-vs133").field_map()["people_in"].counter
    assert counter is not None and (counter.bits, counter.kind) == (32, "cumulative")
    d = footfall.interval_counts([0, H], [1, 2], [50_010, 12], counter.bits, counter.kind)
    assert d.delta.tolist() == [0, 12] and d.reset.tolist() == [False, True]
    sixteen = footfall.interval_counts([0, H], [1, 2], [50_010, 12], bits=16)
    assert sixteen.delta.tolist() == [0, 15_538]  # what a 16-bit guess made of it


def test_missing_value_is_skipped_not_read_as_zero() -> None:
    """Issue 17.5: a reading without the field is missing; the next difference covers it."""
    d = footfall.interval_counts(
        [0, H, 2 * H, 3 * H], [1, 2, 3, 4], [910, math.nan, 920, 935], bits=16
    )
    assert d.delta.tolist() == [0, 10, 15] and d.missing == 1
    assert not d.reset.any()


def test_per_period_counts_are_summed_as_sent() -> None:
    d = footfall.interval_counts([0, H, 2 * H], [1, 2, 4], [3, 0, 7], 8, "per_period")
    assert d.delta.tolist() == [3, 0, 7]
    assert d.gap.tolist() == [False, False, True]  # fCnt 3 and its count are lost


def test_period_counts_cross_check_the_cumulative_differences() -> None:
    times = [0, 10 * MIN, 20 * MIN, 30 * MIN, 50 * MIN]
    d = footfall.interval_counts(times, [1, 2, 3, 4, 6], [100, 104, 110, 111, 120], bits=32)
    period = [math.nan, 4, 5, 1, 2]  # fCnt 3 says 5 where the totals say 6; 6 follows a gap
    assert footfall.period_mismatches(d, period).tolist() == [False, False, True, False, False]


def _series(increments: list[int], start: int) -> tuple[list[int], list[int], list[int]]:
    totals = (start + np.cumsum(increments)).tolist()
    n = len(increments)
    return [k * 10 * MIN for k in range(n)], [1000 + k for k in range(n)], totals


_increments = st.lists(st.integers(0, 50), min_size=3, max_size=60)


@given(_increments, st.data())
def test_totals_are_invariant_to_skewed_event_times(
    increments: list[int], data: st.DataObject
) -> None:
    """Clocks that move each reading by up to ±30 uplinks reorder event times but not the
    fCnt order: the total and the per-reading counts are unchanged."""
    times, f_cnt, totals = _series(increments, 10_000)
    skew = data.draw(st.lists(st.integers(-300, 300), min_size=len(times), max_size=len(times)))
    skewed = [t + s * MIN for t, s in zip(times, skew, strict=True)]
    straight = footfall.interval_counts(times, f_cnt, totals, bits=32)
    d = footfall.interval_counts(skewed, f_cnt, totals, bits=32)
    assert d.delta.tolist() == straight.delta.tolist()
    assert int(d.delta.sum()) == sum(increments[1:])
    assert np.all(np.diff(d.time_ns) >= 0)


@given(_increments, st.data())
def test_totals_are_invariant_to_duplicated_uplinks(
    increments: list[int], data: st.DataObject
) -> None:
    times, f_cnt, totals = _series(increments, 10_000)
    picks = data.draw(st.lists(st.integers(0, len(times) - 1), max_size=10))
    shift = data.draw(st.integers(-20, 20))
    d = footfall.interval_counts(
        times + [times[i] + shift * MIN for i in picks],
        f_cnt + [f_cnt[i] for i in picks],
        totals + [totals[i] for i in picks],
        bits=32,
    )
    assert int(d.delta.sum()) == sum(increments[1:])
    assert d.duplicates == len(picks)


@given(_increments, st.data())
def test_totals_are_invariant_to_a_one_uplink_glitch(
    increments: list[int], data: st.DataObject
) -> None:
    times, f_cnt, totals = _series(increments, 10_000)
    k = data.draw(st.integers(1, len(totals) - 2))
    bad = data.draw(st.one_of(st.integers(0, 5_000), st.integers(1_000_000, 2**32 - 1)))
    glitched = totals[:k] + [bad] + totals[k + 1 :]
    d = footfall.interval_counts(times, f_cnt, glitched, bits=32)
    assert int(d.delta.sum()) == sum(increments[1:])
    assert d.glitch.tolist() == [i == k for i in range(len(totals))]
    assert not d.reset.any()


def test_a_day_still_running_is_compared_with_the_same_hours_a_week_ago() -> None:
    """At 18:26 today, the week-ago figure covers 00:00-19:00 of last week's day, not all of it."""
    from insights.jobs import FOOTFALL_FLAGS, InsightsJobs

    zone = ZoneInfo("Europe/London")
    grid_start = datetime(2026, 11, 16, tzinfo=UTC)  # a Monday; no clock change in range
    until = datetime(2026, 11, 23, 18, 26, tzinfo=UTC)
    n_hours = int((until - grid_start).total_seconds() // 3600) + 1
    ones = np.ones(n_hours, dtype=np.int64)
    hours = {
        "people_in": 10 * ones,
        "people_out": 4 * ones,
        "reported": ones,
        **dict.fromkeys(FOOTFALL_FLAGS, 0 * ones),
    }
    points = InsightsJobs._footfall_points(
        {"site": "briggate", "level": "site"},
        grid_start,
        datetime(2026, 11, 23, tzinfo=UTC),
        until,
        hours,
        date(2026, 11, 23),
        date(2026, 11, 23),
        zone,
    )
    (today,) = [p for p in points if dict(p.tags)["period"] == "day"]
    fields = dict(today.fields)
    assert fields["people_in"] == 19 * 10  # 00:00-18:26, the current hour counted
    assert fields["hours_so_far"] == 19
    assert fields["week_ago_in"] == 19 * 10  # not the 240 of last week's whole day
    assert fields["week_ago_out"] == 19 * 4

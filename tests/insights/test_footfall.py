"""Cumulative counters -> interval counts: wraps, resets, gaps, duplicates, order, DST."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from insights import footfall

H = footfall.HOUR_NS


def test_plain_increase_and_first_reading_is_baseline() -> None:
    d = footfall.interval_counts([0, H, 2 * H], [1, 2, 3], [100, 105, 112])
    assert d.delta.tolist() == [0, 5, 7]


def test_baseline_counts_first_reading() -> None:
    d = footfall.interval_counts([0, H], [1, 2], [100, 105], baseline=90)
    assert d.delta.tolist() == [10, 5]


def test_16_bit_wrap() -> None:
    d = footfall.interval_counts([0, H], [1, 2], [65530, 4])
    assert d.delta.tolist() == [0, 10]
    assert d.wrapped.tolist() == [False, True]


def test_32_bit_wrap() -> None:
    d = footfall.interval_counts([0, H, 2 * H], [1, 2, 3], [70_000, 2**32 - 3, 7])
    assert d.delta.tolist() == [0, 2**32 - 3 - 70_000, 10]
    assert d.wrapped.tolist() == [False, False, True]


def test_reset_counts_new_total_as_lower_bound() -> None:
    d = footfall.interval_counts([0, H, 2 * H], [10, 0, 1], [5000, 3, 9])
    assert d.delta.tolist() == [0, 3, 6]
    assert d.reset.tolist() == [False, True, False]


def test_duplicates_and_out_of_order_delivery() -> None:
    times = [2 * H, 0, H, H, 3 * H]
    f_cnt = [3, 1, 2, 2, 3]
    totals = [20, 10, 15, 15, 20]  # fCnt 3 redelivered with a later receive time
    d = footfall.interval_counts(times, f_cnt, totals)
    assert d.time_ns.tolist() == [0, H, 2 * H]
    assert d.delta.tolist() == [0, 5, 5]
    assert d.duplicates == 2


def test_gap_is_flagged_and_covered_by_the_difference() -> None:
    d = footfall.interval_counts([0, 3 * H], [1, 4], [10, 40])
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
    for k, (increment, reset) in enumerate(steps):
        # A reset is only visible as a drop of the total (an fCnt drop alone may be a
        # rejoin with the counter kept); two resets to the same fCnt and total look
        # exactly like a redelivery.
        if reset and k > 0 and f_cnt > 0 and 0 < increment < total:
            total, f_cnt = increment, 0
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
        [times[i] for i in order], [counters[i] for i in order], [totals[i] for i in order]
    )
    assert d.time_ns.tolist() == times
    assert int(d.delta.sum()) == expected

"""storage.stats: hourly statistics as GROUP BY time(1h) fill(none) gives them (checked
against InfluxDB itself through the rollups in tests/insights/test_rollups.py)."""

from __future__ import annotations

import numpy as np

from insights.rollups import _columns
from storage.query import Series
from storage.stats import HOUR_NS, hourly, quantile


def test_hours_with_values_only_in_any_order() -> None:
    times = np.array([2 * HOUR_NS + 5, 10, HOUR_NS * 2, 20, 3 * HOUR_NS], dtype=np.int64)
    values = np.array([4.0, 1.0, 3.0, 2.0, np.nan])
    stats = hourly(times, values)
    assert stats.hours.tolist() == [0, 2 * HOUR_NS]
    assert stats.count.tolist() == [2, 2]
    assert stats.total.tolist() == [3.0, 7.0]
    assert stats.minimum.tolist() == [1.0, 3.0] and stats.maximum.tolist() == [2.0, 4.0]
    assert [s.tolist() for s in stats.segments] == [[1.0, 2.0], [3.0, 4.0]]


def test_no_values_no_hours() -> None:
    stats = hourly(np.array([1, 2], dtype=np.int64), np.array([np.nan, np.nan]))
    assert not len(stats.hours) and not stats.segments
    assert quantile("median", np.array([])) is None


def test_a_shard_that_disagrees_on_a_fields_type_gives_no_value_there() -> None:
    """``_fields`` keeps numeric fields, but one shard may hold a string or a boolean."""
    series = Series(
        "m",
        {},
        ["time", "a", "b"],
        [[1, 1.5, "x"], [2, None, 2], [3, 3, True], [4, 4.0, 4.5]],
    )
    times, (a, b) = _columns(series, ["a", "b"])
    assert times.tolist() == [1, 2, 3, 4]
    assert a.tolist()[0] == 1.5 and np.isnan(a[1]) and a.tolist()[2:] == [3.0, 4.0]
    assert np.isnan(b[0]) and b[1] == 2.0 and np.isnan(b[2]) and b[3] == 4.5

"""Awaab's Law deadlines over weekends and England & Wales bank holidays.

Source: The Hazards in Social Housing (Prescribed Requirements) (England) Regulations 2025
(SI 2025/1042) and MHCLG's guidance for social landlords, as summarised in insights/awaab.py
and docs/insights/damp.md.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from insights import awaab


def test_working_days_skip_weekends_and_bank_holidays() -> None:
    assert not awaab.is_working_day(date(2026, 12, 25))  # Christmas
    assert not awaab.is_working_day(date(2026, 12, 28))  # Boxing Day (substitute)
    assert not awaab.is_working_day(date(2026, 4, 3))  # Good Friday
    assert not awaab.is_working_day(date(2026, 11, 28))  # Saturday
    assert awaab.is_working_day(date(2026, 11, 23))


@pytest.mark.parametrize(
    ("start", "n", "expected"),
    [
        (date(2026, 11, 23), 10, date(2026, 12, 7)),  # Monday + two weeks
        (date(2026, 11, 27), 1, date(2026, 11, 30)),  # Friday -> Monday
        (date(2026, 11, 28), 1, date(2026, 11, 30)),  # Saturday -> Monday
        (date(2026, 12, 24), 1, date(2026, 12, 29)),  # over Christmas, Boxing Day observed
        (date(2026, 4, 2), 1, date(2026, 4, 7)),  # Good Friday + Easter Monday
    ],
)
def test_add_working_days(start: date, n: int, expected: date) -> None:
    assert awaab.add_working_days(start, n) == expected


def test_deadlines_over_christmas() -> None:
    aware = datetime(2026, 12, 18, 15, 0, tzinfo=UTC)  # Friday afternoon
    d = awaab.deadlines(aware)
    assert d.emergency == datetime(2026, 12, 19, 15, 0, tzinfo=UTC)
    # 10 working days: 21,22,23,24, (25,26,27,28 off), 29,30,31, (Jan 1 off), Jan 4,5,6
    assert d.investigation == datetime(2027, 1, 7, 0, 0, tzinfo=UTC)
    assert d.written_summary == datetime(2027, 1, 12, 0, 0, tzinfo=UTC)
    assert d.safety_work == datetime(2027, 1, 14, 0, 0, tzinfo=UTC)
    assert d.preventative_work_start == d.safety_work
    # 6 Jan + 12 weeks = 31 Mar 2027, already summer time
    assert d.preventative_work_latest == datetime(2027, 3, 31, 23, 0, tzinfo=UTC)


def test_deadlines_end_at_london_midnight_in_summer_time() -> None:
    d = awaab.deadlines(datetime(2026, 6, 1, 9, 0, tzinfo=UTC))
    # Monday 1 June + 10 working days = Monday 15 June, ending 00:00 BST on the 16th
    assert d.investigation == datetime(2026, 6, 15, 23, 0, tzinfo=UTC)


def test_later_steps_count_from_the_actual_investigation() -> None:
    aware = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    investigated = datetime(2026, 11, 25, 14, 0, tzinfo=UTC)  # Wednesday
    d = awaab.deadlines(aware, investigated)
    assert d.investigation == datetime(2026, 12, 8, 0, 0, tzinfo=UTC)
    assert d.written_summary == datetime(2026, 12, 1, 0, 0, tzinfo=UTC)  # Mon 30 Nov ends


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError):
        awaab.deadlines(datetime(2026, 1, 1))

"""Tenancies, properties and device placements in the registry; where a device's history is cut."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from storage.registry import open_registry
from storage.tenancy import (
    END_SKEW,
    Segment,
    Tenancies,
    TenancyError,
    TimeRangeError,
    check_ref,
    iso,
    parse_iso,
)

DEV = "b000000000000001"
T0 = datetime(2026, 1, 1, tzinfo=UTC)
DAY = timedelta(days=1)


@pytest.fixture
def store(tmp_path: Path) -> Tenancies:
    return Tenancies(open_registry(tmp_path / "r.sqlite3"))


def test_a_moved_device_and_a_new_tenancy_cut_its_history(store: Tenancies) -> None:
    store.create_property("P-001")
    store.create_property("P-002")
    store.assign(DEV, "P-001", T0)
    first = store.open_tenancy("P-001", T0 + DAY, "TEN-0001")
    store.end_tenancy(first.ref, T0 + 5 * DAY)
    store.open_tenancy("P-001", T0 + 6 * DAY, "TEN-0002")
    store.end_assignment(DEV, T0 + 8 * DAY)
    store.assign(DEV, "P-002", T0 + 9 * DAY)
    assert store.segments(DEV, T0, T0 + 10 * DAY) == [
        Segment(T0, T0 + DAY, "P-001", None),
        Segment(T0 + DAY, T0 + 5 * DAY, "P-001", "TEN-0001"),
        Segment(T0 + 5 * DAY, T0 + 6 * DAY, "P-001", None),
        Segment(T0 + 6 * DAY, T0 + 8 * DAY, "P-001", "TEN-0002"),
        Segment(T0 + 8 * DAY, T0 + 9 * DAY, None, None),
        Segment(T0 + 9 * DAY, T0 + 10 * DAY, "P-002", None),
    ]
    assert store.periods("TEN-0002") == [(DEV, T0 + 6 * DAY, T0 + 8 * DAY)]
    assert store.periods("TEN-0001") == [(DEV, T0 + DAY, T0 + 5 * DAY)]


def test_a_device_never_placed_has_one_segment(store: Tenancies) -> None:
    assert store.segments(DEV, T0, T0 + DAY) == [Segment(T0, T0 + DAY, None, None)]


def test_overlaps_names_and_bad_periods_are_refused(store: Tenancies) -> None:
    store.create_property("P-001")
    with pytest.raises(TenancyError, match="already exists"):
        store.create_property("P-001")
    for name in ("Jane Smith", "smith", "x1", "a" * 41 + "1"):
        with pytest.raises(TenancyError, match="pseudonymous"):
            store.open_tenancy("P-001", T0, name)
    store.open_tenancy("P-001", T0, "TEN-0001")
    with pytest.raises(TenancyError, match="end it first"):
        store.open_tenancy("P-001", T0 + DAY, "TEN-0002")
    with pytest.raises(TenancyError, match="after it starts"):
        store.end_tenancy("TEN-0001", T0)
    store.end_tenancy("TEN-0001", T0 + DAY)
    with pytest.raises(TenancyError, match="already ended"):
        store.end_tenancy("TEN-0001", T0 + 2 * DAY)
    store.assign(DEV, "P-001", T0)
    with pytest.raises(TenancyError, match="end that first"):
        store.assign(DEV, "P-001", T0 + DAY)
    with pytest.raises(TenancyError, match="no property"):
        store.assign("b000000000000002", "P-404", T0)
    with pytest.raises(TenancyError, match="16 hex"):
        store.assign("not-a-eui", "P-001", T0)
    generated = store.open_tenancy("P-001", T0 + 2 * DAY)
    assert generated.ref.startswith("T-")


def test_every_stored_time_is_checked_and_written_rfc3339(store: Tenancies) -> None:
    store.create_property("P-001")
    year_one = datetime(1, 1, 1, tzinfo=UTC)
    off_calendar = datetime.fromisoformat("0001-01-01T00:00:00+00:01")
    far = datetime(2262, 1, 1, tzinfo=UTC)
    for bad in (year_one, off_calendar, far, datetime(1969, 12, 31, 23, 59, tzinfo=UTC)):
        with pytest.raises(TimeRangeError, match="1970"):
            store.open_tenancy("P-001", bad, "TEN-0001")
        with pytest.raises(TimeRangeError):
            store.assign(DEV, "P-001", bad)
    assert store.tenancies("P-001") == [] and store.assignments(property_ref="P-001") == []
    store.open_tenancy("P-001", T0, "TEN-0001")
    with pytest.raises(TimeRangeError):
        store.end_tenancy("TEN-0001", far)
    assert iso(datetime(5, 1, 1, tzinfo=UTC)) == "0005-01-01T00:00:00.000000Z"
    # A row an older release wrote with an unpadded year still reads back.
    assert parse_iso("1-01-01T00:00:00.000000Z") == year_one


def test_a_tenancy_cannot_be_ended_in_the_future(store: Tenancies) -> None:
    store.create_property("P-001")
    store.open_tenancy("P-001", T0, "TEN-0001")
    now = T0 + 10 * DAY
    with pytest.raises(TenancyError, match="future"):
        store.end_tenancy("TEN-0001", datetime(2200, 1, 1, tzinfo=UTC), now=now)
    with pytest.raises(TenancyError, match="future"):
        store.end_tenancy("TEN-0001", now + END_SKEW + timedelta(seconds=1), now=now)
    assert store.tenancy("TEN-0001").end is None
    assert store.end_tenancy("TEN-0001", now + END_SKEW, now=now).end == now + END_SKEW


@pytest.mark.parametrize("ref", ["JaneSmith1", "jane-smith-7", "1Smith", "Flat-3-Smith"])
def test_a_reference_that_reads_like_a_name_is_refused(ref: str) -> None:
    with pytest.raises(TenancyError, match="never a name"):
        check_ref(ref)


@pytest.mark.parametrize("ref", ["TEN-0001", "LCC123456", "PROP-12-B", "P-001"])
def test_housing_system_codes_are_references(ref: str) -> None:
    assert check_ref(ref) == ref

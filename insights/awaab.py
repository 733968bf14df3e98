"""Awaab's Law timescales (SI 2025/1042, in force 27 Oct 2025 for damp and mould).

From the statutory instrument, The Hazards in Social Housing (Prescribed
Requirements) (England) Regulations 2025 (https://www.legislation.gov.uk/uksi/2025/1042),
and DLUHC/MHCLG's guidance for social landlords
(https://www.gov.uk/government/publications/awaabs-law-draft-guidance-for-social-landlords):
emergency hazards are investigated and
made safe within 24 hours; a significant hazard is investigated within 10
working days; the written summary is due 3 working days after the
investigation, safety work 5 working days after it, and preventative work
starts within 5 working days of it, at the latest 12 weeks after it.

A working day is Monday–Friday except England & Wales bank holidays (from the
``holidays`` package). Day-counted deadlines fall at the end of the last
working day, London time; the clock starts the day after awareness. Whether a
sensor alert itself makes the landlord "aware" is a legal question — the
platform records the moment so the landlord can decide.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from typing import Final
from zoneinfo import ZoneInfo

import holidays

TZ: Final = ZoneInfo("Europe/London")

EMERGENCY_HOURS: Final = 24
INVESTIGATION_WORKING_DAYS: Final = 10
SUMMARY_WORKING_DAYS: Final = 3
SAFETY_WORK_WORKING_DAYS: Final = 5
PREVENTATIVE_START_WORKING_DAYS: Final = 5
PREVENTATIVE_LATEST_WEEKS: Final = 12


@cache
def _bank_holidays(year: int) -> frozenset[date]:
    return frozenset(holidays.country_holidays("GB", subdiv="ENG", years=year).keys())


def is_working_day(day: date) -> bool:
    return day.weekday() < 5 and day not in _bank_holidays(day.year)


def add_working_days(start: date, n: int) -> date:
    """The n-th working day after ``start`` (``start`` itself never counts)."""
    day = start
    remaining = n
    while remaining > 0:
        day += timedelta(days=1)
        if is_working_day(day):
            remaining -= 1
    return day


def end_of_day(day: date) -> datetime:
    """The instant a London calendar day ends (next local midnight), in UTC."""
    return datetime.combine(day + timedelta(days=1), time.min, TZ).astimezone(UTC)


@dataclass(frozen=True)
class Deadlines:
    """Every statutory deadline of one alert, UTC instants."""

    emergency: datetime
    investigation: datetime
    written_summary: datetime
    safety_work: datetime
    preventative_work_start: datetime
    preventative_work_latest: datetime

    def as_dict(self) -> dict[str, datetime]:
        return dict(self.__dict__)


def deadlines(aware_at: datetime, investigated_at: datetime | None = None) -> Deadlines:
    """Deadlines from the moment of awareness; later steps count from the actual
    investigation once it is recorded, else from the investigation deadline."""
    if aware_at.tzinfo is None:
        raise ValueError("aware_at must be timezone-aware")
    aware_local = aware_at.astimezone(TZ).date()
    investigation_day = add_working_days(aware_local, INVESTIGATION_WORKING_DAYS)
    basis = investigated_at.astimezone(TZ).date() if investigated_at else investigation_day
    return Deadlines(
        emergency=aware_at.astimezone(UTC) + timedelta(hours=EMERGENCY_HOURS),
        investigation=end_of_day(investigation_day),
        written_summary=end_of_day(add_working_days(basis, SUMMARY_WORKING_DAYS)),
        safety_work=end_of_day(add_working_days(basis, SAFETY_WORK_WORKING_DAYS)),
        preventative_work_start=end_of_day(
            add_working_days(basis, PREVENTATIVE_START_WORKING_DAYS)
        ),
        preventative_work_latest=end_of_day(basis + timedelta(weeks=PREVENTATIVE_LATEST_WEEKS)),
    )

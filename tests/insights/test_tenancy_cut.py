"""The damp job cuts a home's history where its tenancy changes (fake query, real registry)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from core.settings import InsightsSettings
from insights.jobs import InsightsJobs
from storage.registry import open_registry
from storage.tenancy import Tenancies
from tests.insights.test_jobs_unit import FakeSeries, FakeSink

UNTIL = datetime(2026, 11, 23, tzinfo=UTC)
MOVE_IN = UNTIL - timedelta(days=3, minutes=30)  # mid-hour: that hour belongs to neither side
HOUR = timedelta(hours=1)
DEV = "b0000000000000c1"


@dataclass
class WetThenDry:
    """Hourly means: 14 days of a wet home, dry from MOVE_IN on."""

    def query(self, q: str, params: dict[str, Any] | None = None) -> list[FakeSeries]:
        if 'mean("relative_humidity")' not in q:
            return []
        rows = []
        hour = UNTIL - timedelta(days=14)
        while hour < UNTIL:
            wet = hour + HOUR <= MOVE_IN
            rows.append(
                [int(hour.timestamp()) * 10**9, 19.0 if wet else 21.0, 85.0 if wet else 45.0]
            )
            hour += HOUR
        tags = {"dev_eui": DEV, "model": "milesight_em300_th", "site": "h-1"}
        return [FakeSeries(tags, ["time", "t", "rh"], rows)]


def _field(line: str, name: str) -> float | None:
    match = re.search(rf"[ ,]{name}=([0-9.e-]+)", line)
    return float(match.group(1)) if match else None


def _risk(tenancies: Tenancies | None) -> dict[datetime, str]:
    sink = FakeSink()
    InsightsJobs(InsightsSettings(), WetThenDry(), sink, tenancies=tenancies).run(
        UNTIL - timedelta(days=4), UNTIL
    )
    out = {}
    for line in sink.lines:
        if line.startswith("damp_risk,"):
            moment = datetime.fromtimestamp(int(line.rsplit(" ", 1)[1]) / 1e9, UTC)
            out[moment] = line
    return out


def test_a_new_tenancy_starts_its_own_risk_series(tmp_path: Path) -> None:
    mixed = _risk(None)
    first_new_hour = MOVE_IN + timedelta(minutes=30)
    # Without tenancies the new household inherits a week of the last one's damp.
    assert (_field(mixed[first_new_hour], "rh70_7d") or 0) > 0.9
    store = Tenancies(open_registry(tmp_path / "r.sqlite3"))
    store.create_property("P-001")
    store.assign(DEV, "P-001", UNTIL - timedelta(days=30))
    store.open_tenancy("P-001", UNTIL - timedelta(days=30), "TEN-0001")
    store.end_tenancy("TEN-0001", MOVE_IN)
    store.open_tenancy("P-001", MOVE_IN, "TEN-0002")
    cut = _risk(store)
    new = {t: line for t, line in cut.items() if t >= first_new_hour}
    assert len(new) == 3 * 24
    # Only the new household's own (dry) hours count: no share of damp hours, no mould.
    assert all(not _field(line, "rh70_7d") for line in new.values())
    assert all(_field(line, "mould_index") == 0 for line in new.values())
    assert all('risk="low"' in line for line in new.values())
    # The straddling hour is in neither tenancy's series; the old one is still assessed.
    assert MOVE_IN - timedelta(minutes=30) not in cut
    assert 'risk="low"' not in cut[MOVE_IN - timedelta(minutes=90)]

"""Alert store: one open alert per home, escalation, closure, audit trail, overdue steps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from insights.alerts import AlertStore
from insights.damp import RiskLevel
from insights.jobs import InsightsJobs
from storage.registry import open_registry

T0 = datetime(2026, 11, 23, 9, tzinfo=UTC)  # Monday


@pytest.fixture
def store(tmp_path: Path) -> AlertStore:
    return AlertStore(open_registry(tmp_path / "r.sqlite3"))


def test_one_open_alert_per_home_and_escalation(store: AlertStore) -> None:
    opened = store.raise_level("aa", "h1", RiskLevel.HIGH, T0, {"mould_index": 1.2})
    assert opened is not None and opened.level == "high"
    assert store.raise_level("aa", "h1", RiskLevel.HIGH, T0 + timedelta(hours=1), {}) is None
    assert store.raise_level("aa", "h1", RiskLevel.MEDIUM, T0, {}) is None
    escalated = store.raise_level("aa", "h1", RiskLevel.SEVERE, T0 + timedelta(hours=5), {})
    assert escalated is not None and escalated.id == opened.id and escalated.level == "severe"
    assert [e.action for e in escalated.events] == ["opened", "escalated"]
    assert escalated.opened_at == T0  # the clock does not restart
    steps = {s["step"]: s for s in escalated.steps(T0 + timedelta(hours=25))}
    assert steps["emergency"]["applies"] and steps["emergency"]["overdue"]


def test_actions_complete_steps_and_closing_blocks_old_evidence(store: AlertStore) -> None:
    alert = store.raise_level("bb", "h2", RiskLevel.HIGH, T0, {})
    assert alert is not None
    store.record(alert.id, "officer a", "acknowledged", "called tenant", T0 + timedelta(hours=2))
    done = store.record(alert.id, "officer a", "investigated", at=T0 + timedelta(days=2))
    steps = {s["step"]: s for s in done.steps(T0 + timedelta(days=30))}
    assert steps["investigation"]["done_at"] == T0 + timedelta(days=2)
    assert not steps["investigation"]["overdue"]
    assert steps["written_summary"]["overdue"]
    closed = store.record(alert.id, "officer b", "closed", "works done", T0 + timedelta(days=3))
    assert closed.status == "closed" and not closed.overdue(T0 + timedelta(days=30))
    # A backfill replaying the old damp hour must not reopen the handled case…
    assert store.raise_level("bb", "h2", RiskLevel.HIGH, T0 + timedelta(days=1), {}) is None
    # …but damp after the closure is a new case.
    again = store.raise_level("bb", "h2", RiskLevel.HIGH, T0 + timedelta(days=4), {})
    assert again is not None and again.id != alert.id


def test_open_ids_name_each_homes_open_alert_as_the_full_list_does(store: AlertStore) -> None:
    first = store.raise_level("aa", "h1", RiskLevel.HIGH, T0, {"mould_index": 1.0})
    other = store.raise_level("bb", "h2", RiskLevel.SEVERE, T0, {})
    closed = store.raise_level("cc", "h3", RiskLevel.HIGH, T0, {})
    assert first is not None and other is not None and closed is not None
    store.record(closed.id, "officer", "closed", at=T0 + timedelta(days=1))
    assert store.open_ids() == {"aa": first.id, "bb": other.id}
    assert store.open_ids() == {a.dev_eui: a.id for a in store.list(status="open")}


def test_bad_actions(store: AlertStore) -> None:
    alert = store.raise_level("cc", "h3", RiskLevel.HIGH, T0, {})
    assert alert is not None
    with pytest.raises(ValueError):
        store.record(alert.id, "x", "ignored")
    with pytest.raises(ValueError):
        store.record(alert.id, "", "note")
    with pytest.raises(KeyError):
        store.record(999, "x", "note")
    assert [e.action for e in store.get(alert.id).events] == ["opened"]  # type: ignore[union-attr]


def test_alert_hours_are_onset_rises_and_newest() -> None:
    risk = np.array([0, 2, 2, 3, 3, 1, 2, 2])
    assert InsightsJobs._alert_hours(risk, list(range(8))) == [1, 3, 6, 7]
    assert InsightsJobs._alert_hours(np.array([0, 1]), [0, 1]) == []

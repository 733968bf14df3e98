"""Damp and mould alerts with their Awaab's Law clock and audit trail, in the SQLite registry.

One open alert per home at a time. An alert opens when a home first reaches
``high`` or ``severe``; its evidence (the derived figures at that hour) is
frozen with it, and its deadlines run from that moment (see ``awaab``). Every
change is an append-only event row — opened, escalated, acknowledged, each
action — with who and when, which is what the Housing Ombudsman expects a
landlord to be able to show. Nothing is ever updated in place except the
alert's current status/level, and each such change has its own event.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from insights.awaab import Deadlines, deadlines
from insights.damp import RiskLevel
from storage.registry import Registry

SYSTEM_ACTOR: Final = "leedswin-insights"

#: Actions staff may record; the ones that complete a statutory step say which.
ACTIONS: Final[dict[str, str | None]] = {
    "acknowledged": None,
    "note": None,
    "tenant_contacted": None,
    "investigated": "investigation",
    "made_safe": "emergency",
    "summary_sent": "written_summary",
    "safety_work_done": "safety_work",
    "preventative_work_started": "preventative_work_start",
    "closed": None,
}


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@dataclass(frozen=True)
class Event:
    at: datetime
    actor: str
    action: str
    note: str


@dataclass(frozen=True)
class Alert:
    """An alert with its audit trail; deadlines are derived, never stored."""

    id: int
    dev_eui: str
    site: str
    level: str
    opened_at: datetime
    evidence: dict[str, Any]
    status: str
    closed_at: datetime | None
    events: list[Event] = field(default_factory=list)

    def done_at(self, action: str) -> datetime | None:
        return next((e.at for e in self.events if e.action == action), None)

    def deadlines(self) -> Deadlines:
        return deadlines(self.opened_at, self.done_at("investigated"))

    def steps(self, now: datetime) -> list[dict[str, Any]]:
        """Each statutory step: deadline, when done, whether it applies and is overdue."""
        emergency = self.level == RiskLevel.SEVERE.label or any(
            e.action == "escalated" for e in self.events
        )
        done_by_step = {step: action for action, step in ACTIONS.items() if step}
        result = []
        for step, deadline in self.deadlines().as_dict().items():
            if step == "preventative_work_latest":
                done = self.done_at("preventative_work_started")
            else:
                done = self.done_at(done_by_step[step])
            applies = emergency if step == "emergency" else True
            open_ = self.status == "open"
            result.append(
                {
                    "step": step,
                    "deadline": deadline,
                    "applies": applies,
                    "done_at": done,
                    "overdue": applies and open_ and done is None and now > deadline,
                    "late": done is not None and done > deadline,
                }
            )
        return result

    def overdue(self, now: datetime) -> bool:
        return any(step["overdue"] for step in self.steps(now))


class AlertStore:
    """Alerts and events in the registry file (tables: ``storage.registry.MIGRATIONS``).

    Thread-safe by the registry's rule: each thread uses its own connection.
    """

    def __init__(self, registry: Registry) -> None:
        self._registry = registry

    @property
    def _conn(self) -> sqlite3.Connection:
        return self._registry.connection

    def _event(self, alert_id: int, at: datetime, actor: str, action: str, note: str) -> None:
        self._conn.execute(
            "INSERT INTO damp_alert_events (alert_id, at, actor, action, note) VALUES (?,?,?,?,?)",
            (alert_id, _iso(at), actor, action, note),
        )

    def raise_level(
        self, dev_eui: str, site: str, level: RiskLevel, at: datetime, evidence: dict[str, Any]
    ) -> Alert | None:
        """Open an alert (or escalate high → severe) for a home at ``at``; idempotent.

        Returns the alert if this call opened or escalated it, else None. A home
        whose last alert was closed after ``at`` is not re-alerted for that
        older evidence, so re-running a backfill never reopens handled cases.
        """
        if level < RiskLevel.HIGH:
            return None
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            row = self._conn.execute(
                "SELECT id, level, opened_at FROM damp_alerts"
                " WHERE dev_eui = ? AND status = 'open' ORDER BY id DESC LIMIT 1",
                (dev_eui,),
            ).fetchone()
            changed: int | None = None
            if row is not None:
                if level == RiskLevel.SEVERE and row["level"] != RiskLevel.SEVERE.label:
                    if at >= _parse(row["opened_at"]):
                        self._conn.execute(
                            "UPDATE damp_alerts SET level = ? WHERE id = ?",
                            (RiskLevel.SEVERE.label, row["id"]),
                        )
                        self._event(row["id"], at, SYSTEM_ACTOR, "escalated", json.dumps(evidence))
                        changed = int(row["id"])
            else:
                last_closed = self._conn.execute(
                    "SELECT max(closed_at) FROM damp_alerts WHERE dev_eui = ?", (dev_eui,)
                ).fetchone()[0]
                if last_closed is None or at > _parse(last_closed):
                    cursor = self._conn.execute(
                        "INSERT INTO damp_alerts (dev_eui, site, level, opened_at, evidence)"
                        " VALUES (?,?,?,?,?)",
                        (dev_eui, site, level.label, _iso(at), json.dumps(evidence)),
                    )
                    changed = int(cursor.lastrowid or 0)
                    self._event(changed, at, SYSTEM_ACTOR, "opened", level.label)
            self._conn.execute("COMMIT")
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        return self.get(changed) if changed is not None else None

    def record(
        self, alert_id: int, actor: str, action: str, note: str = "", at: datetime | None = None
    ) -> Alert:
        """Append an action to an alert's audit trail; ``closed`` also closes it."""
        if action not in ACTIONS:
            raise ValueError(f"unknown action {action!r}; one of {', '.join(ACTIONS)}")
        if not actor:
            raise ValueError("an action needs the name of who took it")
        moment = at or datetime.now(UTC)
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            found = self._conn.execute(
                "SELECT status FROM damp_alerts WHERE id = ?", (alert_id,)
            ).fetchone()
            if found is None:
                raise KeyError(alert_id)
            self._event(alert_id, moment, actor, action, note)
            if action == "closed":
                self._conn.execute(
                    "UPDATE damp_alerts SET status = 'closed', closed_at = ? WHERE id = ?",
                    (_iso(moment), alert_id),
                )
            self._conn.execute("COMMIT")
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        alert = self.get(alert_id)
        assert alert is not None
        return alert

    def redact(self, alert_id: int) -> None:
        """Remove an alert's personal parts (tenancy erasure), keeping the case record the
        landlord must be able to show: dates, level, status, steps and actions with who took
        them. The evidence readings go (only their hour stays) and so does every free-text
        note (an escalation's note holds evidence too). Idempotent."""
        with self._registry.transaction() as conn:
            row = conn.execute(
                "SELECT evidence FROM damp_alerts WHERE id = ?", (alert_id,)
            ).fetchone()
            if row is None:
                raise KeyError(alert_id)
            hour = json.loads(row["evidence"]).get("hour")
            conn.execute(
                "UPDATE damp_alerts SET evidence = ? WHERE id = ?",
                (json.dumps({"hour": hour, "erased": True}), alert_id),
            )
            conn.execute(
                "UPDATE damp_alert_events SET note = '' WHERE alert_id = ? AND action != 'opened'",
                (alert_id,),
            )

    def get(self, alert_id: int) -> Alert | None:
        row = self._conn.execute("SELECT * FROM damp_alerts WHERE id = ?", (alert_id,)).fetchone()
        if row is None:
            return None
        return self._load(row)

    def list(self, *, status: str | None = None, dev_eui: str | None = None) -> list[Alert]:
        where, args = [], []
        if status:
            where.append("status = ?")
            args.append(status)
        if dev_eui:
            where.append("dev_eui = ?")
            args.append(dev_eui)
        sql = "SELECT * FROM damp_alerts"
        if where:
            sql += " WHERE " + " AND ".join(where)
        rows = self._conn.execute(sql + " ORDER BY opened_at, id", args).fetchall()
        return [self._load(row) for row in rows]

    def open_ids(self) -> dict[str, int]:
        """DevEUI -> id of its newest open alert: what a list of homes shows, without loading
        every alert's evidence and events (``/v1/housing/homes`` at 8 clients spent most of
        its time there)."""
        rows = self._conn.execute(
            "SELECT dev_eui, id FROM damp_alerts WHERE status = 'open' ORDER BY opened_at, id"
        ).fetchall()
        return {row["dev_eui"]: int(row["id"]) for row in rows}

    def _load(self, row: sqlite3.Row) -> Alert:
        events = [
            Event(_parse(e["at"]), e["actor"], e["action"], e["note"])
            for e in self._conn.execute(
                "SELECT at, actor, action, note FROM damp_alert_events"
                " WHERE alert_id = ? ORDER BY at, id",
                (row["id"],),
            )
        ]
        return Alert(
            id=int(row["id"]),
            dev_eui=row["dev_eui"],
            site=row["site"],
            level=row["level"],
            opened_at=_parse(row["opened_at"]),
            evidence=json.loads(row["evidence"]),
            status=row["status"],
            closed_at=_parse(row["closed_at"]) if row["closed_at"] else None,
            events=events,
        )

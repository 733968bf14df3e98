"""Notifications: fleet, damp-alert, Awaab's Law and service events, to webhooks and e-mail.

Configuration is a small YAML file (``LEEDSWIN_FLEET_NOTIFICATIONS``)::

    channels:
      ops-hook: {type: webhook, url: "https://ops.example/hook", secret_env: OPS_HOOK_SECRET}
      council-mail:
        type: smtp
        host: smtp.example.gov.uk
        port: 587                      # STARTTLS, then LOGIN; never plain text
        username: leedswin
        password_file: /run/secrets/smtp
        sender: leedswin@example.gov.uk
    recipients:
      - {name: operations, scope: operations, channel: ops-hook}
      - {name: housing, scope: housing, channel: council-mail, address: damp@example.gov.uk,
         digest: 1h}
    rules:
      - {events: [device.silent, device.recovered, battery.low], recipients: [operations, housing]}
      - {events: [damp.opened, damp.escalated, awaab.due, awaab.overdue], recipients: [housing]}
    retry: {attempts: 5, backoff: 30, max_backoff: 3600}

Event names: ``device.late``, ``device.silent``, ``device.recovered``,
``battery.low``, ``battery.critical``, ``battery.recovered``,
``radio.degraded``, ``radio.recovered``, ``damp.opened``, ``damp.escalated``,
``awaab.due`` (a statutory step due within 2 working days), ``awaab.overdue``,
``service.down``, ``service.recovered`` (InfluxDB or the MQTT broker).

Privacy: a notice about a home (home devices, damp alerts, Awaab steps) goes
only to recipients whose scope includes ``housing``, whatever the rules say,
and names the home by its pseudonymous site and ward. A ``*.recovered`` notice
goes only to the recipients told about the problem it ends.

Delivery: each (notice, recipient) pair is one row of ``notify_outbox`` in the
registry database, inserted once (a notice key per event), so a rerun never
sends twice. Rows are sent by ``dispatch``; a failure is retried with
exponential backoff and becomes ``dead`` (a dead letter, kept with its last
error) after ``retry.attempts`` tries. A recipient with ``digest`` gets one
message per period holding every notice of that period. Webhook bodies are
JSON, signed: ``X-Leedswin-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of
"<t>." + body>`` with the channel's secret.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import smtplib
import sqlite3
import ssl
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Annotated, Any, Final, Literal

import httpx
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from core.errors import ConfigError, NotificationError
from insights.alerts import Alert, AlertStore
from insights.awaab import TZ, add_working_days, end_of_day
from insights.fleet import Transition, iso, parse_time
from storage import schema
from storage.query import duration_ns
from storage.registry import Scope, open_registry

log = logging.getLogger(__name__)

SIGNATURE_HEADER: Final = "X-Leedswin-Signature"
AWAAB_WARNING_WORKING_DAYS: Final = 2
EVENTS: Final = (
    "device.late",
    "device.silent",
    "device.recovered",
    "battery.low",
    "battery.critical",
    "battery.recovered",
    "radio.degraded",
    "radio.recovered",
    "damp.opened",
    "damp.escalated",
    "awaab.due",
    "awaab.overdue",
    "service.down",
    "service.recovered",
)


# --- configuration ---------------------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _secret(env: str | None, path: Path | None, what: str) -> str | None:
    if env:
        value = os.environ.get(env)
        if not value:
            raise ConfigError(f"{what}: environment variable {env} is not set")
        return value
    if path is not None:
        try:
            return path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"{what}: cannot read {path}: {exc.strerror}") from exc
    return None


class WebhookChannel(_Strict):
    type: Literal["webhook"]
    url: str
    secret_env: str | None = None
    secret_file: Path | None = None
    timeout: float = 10.0

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"webhook url must be http(s)://…, got {value!r}")
        return value


class SmtpChannel(_Strict):
    type: Literal["smtp"]
    host: str
    port: int = Field(587, ge=1, le=65535)
    sender: str
    username: str | None = None
    password_env: str | None = None
    password_file: Path | None = None
    ca_file: Path | None = Field(None, description="PEM bundle to verify the server (else system)")
    timeout: float = 20.0


Channel = Annotated[WebhookChannel | SmtpChannel, Field(discriminator="type")]


class Recipient(_Strict):
    name: str
    scope: Scope
    channel: str
    address: str | None = Field(None, description="E-mail address (smtp channels)")
    digest: str | None = Field(None, description="Collect notices per period: 15m, 1h, 1d")

    @field_validator("digest")
    @classmethod
    def _digest(cls, value: str | None) -> str | None:
        if value is not None:
            duration_ns(value)
        return value

    @property
    def digest_seconds(self) -> float | None:
        return duration_ns(self.digest) / 1e9 if self.digest else None


class Rule(_Strict):
    events: list[str]
    recipients: list[str]

    @field_validator("events")
    @classmethod
    def _events(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - set(EVENTS))
        if unknown:
            raise ValueError(f"unknown events {unknown}; known: {', '.join(EVENTS)}")
        return value


class Retry(_Strict):
    attempts: int = Field(5, ge=1)
    backoff: float = Field(30.0, gt=0, description="Seconds before the 2nd try; doubles")
    max_backoff: float = Field(3600.0, gt=0)


class NotifyConfig(_Strict):
    channels: dict[str, Channel]
    recipients: list[Recipient]
    rules: list[Rule]
    retry: Retry = Retry()

    def model_post_init(self, _context: Any) -> None:
        names = {r.name for r in self.recipients}
        if len(names) != len(self.recipients):
            raise ValueError("recipient names must be unique")
        for r in self.recipients:
            if r.channel not in self.channels:
                raise ValueError(f"recipient {r.name}: unknown channel {r.channel!r}")
            if isinstance(self.channels[r.channel], SmtpChannel) and not r.address:
                raise ValueError(f"recipient {r.name}: an smtp channel needs an address")
        for rule in self.rules:
            missing = sorted(set(rule.recipients) - names)
            if missing:
                raise ValueError(f"rule for {rule.events}: unknown recipients {missing}")

    def recipient(self, name: str) -> Recipient:
        return next(r for r in self.recipients if r.name == name)


def load_config(path: Path) -> NotifyConfig:
    """Read and validate the notifications file; every problem is a ``ConfigError``."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read notifications config: {exc}") from exc
    try:
        return NotifyConfig.model_validate(document)
    except (ValidationError, ValueError) as exc:
        raise ConfigError(f"{path}: {exc}") from exc


# --- notices ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Notice:
    """One thing to tell people. ``key`` makes it once-only; ``thread`` links a recovery to
    the problem it ends; ``privacy`` home keeps it to housing recipients."""

    key: str
    event: str
    subject: str
    text: str
    privacy: str
    thread: str
    at: datetime
    dev_eui: str = ""
    data: dict[str, Any] = field(default_factory=dict)


def _place(site: str, ward: str, privacy: str) -> str:
    if privacy == schema.PRIVACY_PUBLIC:
        return f"site {site or '?'}" + (f" ({ward})" if ward else "")
    return f"home {site or '?'}, ward {ward or 'unknown'}"


def fleet_notice(t: Transition) -> Notice:
    """A notice for a device (or service) state change."""
    if t.kind == "service":
        subject = f"{t.dev_eui} is {'back up' if t.new == 'ok' else 'down'}"
        text = subject + (f": {t.detail.get('error')}" if t.detail.get("error") else "")
        data = {"service": t.dev_eui, "state": t.new, "previous": t.old}
        return Notice(
            key=f"fleet:{t.event_id}:{t.new}",
            event=t.name,
            subject=subject,
            text=text,
            privacy=schema.PRIVACY_PUBLIC,
            thread=f"fleet:{t.event_id}",
            at=t.at,
            data=data,
        )
    place = _place(t.site, t.ward, t.privacy)
    what = {
        "device.late": "is late",
        "device.silent": "has gone silent",
        "device.recovered": "is sending again",
        "battery.low": "has a low battery",
        "battery.critical": "has a critically low battery",
        "battery.recovered": "battery is fine again",
        "radio.degraded": "has a degrading radio link",
        "radio.recovered": "radio link recovered",
    }[t.name]
    subject = f"{t.model or 'device'} {t.dev_eui} at {place} {what}"
    details = {k: v for k, v in t.detail.items() if v not in (None, "")}
    text = subject + "\n" + "\n".join(f"{k}: {v}" for k, v in details.items())
    data = {
        "dev_eui": t.dev_eui,
        "model": t.model,
        "site": t.site,
        "ward": t.ward,
        "privacy": t.privacy,
        "state": t.new,
        "previous": t.old,
        **details,
    }
    return Notice(
        key=f"fleet:{t.event_id}:{t.new}",
        event=t.name,
        subject=subject,
        text=text,
        privacy=t.privacy,
        thread=f"fleet:{t.event_id}",
        at=t.at,
        dev_eui=t.dev_eui,
        data=data,
    )


def damp_notices(
    alerts: Sequence[Alert], wards: Callable[[str], str], now: datetime
) -> list[Notice]:
    """Opened/escalated notices for alerts, and Awaab's Law steps due within
    ``AWAAB_WARNING_WORKING_DAYS`` working days or overdue. Keys make each one once-only."""
    notices = []
    warn_until = end_of_day(add_working_days(now.astimezone(TZ).date(), AWAAB_WARNING_WORKING_DAYS))
    for alert in alerts:
        ward = wards(alert.dev_eui)
        place = _place(alert.site, ward, schema.PRIVACY_HOME)
        base = {"alert_id": alert.id, "site": alert.site, "ward": ward, "level": alert.level}
        thread = f"damp:{alert.id}"
        opened = next((e for e in alert.events if e.action == "opened"), None)
        if opened is not None:
            notices.append(
                Notice(
                    f"damp:{alert.id}:opened",
                    "damp.opened",
                    f"Damp and mould alert ({alert.level}) at {place}",
                    f"Alert {alert.id} opened {iso(alert.opened_at)} at level {alert.level}.",
                    schema.PRIVACY_HOME,
                    thread,
                    opened.at,
                    data=base,
                )
            )
        for event in alert.events:
            if event.action == "escalated":
                notices.append(
                    Notice(
                        f"damp:{alert.id}:escalated",
                        "damp.escalated",
                        f"Damp and mould alert {alert.id} escalated to severe at {place}",
                        f"Alert {alert.id} escalated {iso(event.at)}: emergency step applies.",
                        schema.PRIVACY_HOME,
                        thread,
                        event.at,
                        data=base,
                    )
                )
        if alert.status != "open":
            continue
        for step in alert.steps(now):
            if not step["applies"] or step["done_at"] is not None:
                continue
            deadline: datetime = step["deadline"]
            if step["overdue"]:
                kind = "overdue"
            elif deadline <= warn_until:
                kind = "due"
            else:
                continue
            notices.append(
                Notice(
                    f"awaab:{alert.id}:{step['step']}:{kind}",
                    f"awaab.{kind}",
                    f"Awaab's Law: {step['step'].replace('_', ' ')} for alert {alert.id}"
                    f" {'is overdue' if kind == 'overdue' else 'is due'} ({place})",
                    f"Deadline {iso(deadline)}.",
                    schema.PRIVACY_HOME,
                    thread,
                    now,
                    data={**base, "step": step["step"], "deadline": iso(deadline)},
                )
            )
    return notices


# --- delivery --------------------------------------------------------------------------------


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header value: ``t=<timestamp>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(secret: str, header: str, body: bytes) -> bool:
    """For receivers: does ``header`` sign ``body`` with ``secret``?"""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    if "t" not in parts or not parts["t"].isdigit():
        return False
    return hmac.compare_digest(sign(secret, int(parts["t"]), body), header)


def send_webhook(channel: WebhookChannel, payload: dict[str, Any]) -> None:
    body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
    headers = {"Content-Type": "application/json"}
    secret = _secret(channel.secret_env, channel.secret_file, "webhook secret")
    if secret:
        headers[SIGNATURE_HEADER] = sign(secret, int(time.time()), body)
    try:
        response = httpx.post(channel.url, content=body, headers=headers, timeout=channel.timeout)
    except httpx.HTTPError as exc:
        raise NotificationError(f"webhook {channel.url}: {type(exc).__name__}: {exc}") from exc
    if response.status_code >= 300:
        raise NotificationError(f"webhook {channel.url}: HTTP {response.status_code}")


def send_email(channel: SmtpChannel, to: str, subject: str, text: str) -> None:
    """SMTP with STARTTLS (certificate verified) and, with a username, LOGIN/PLAIN auth."""
    message = EmailMessage()
    message["From"] = channel.sender
    message["To"] = to
    message["Subject"] = subject
    message.set_content(text)
    context = ssl.create_default_context(cafile=str(channel.ca_file) if channel.ca_file else None)
    try:
        with smtplib.SMTP(channel.host, channel.port, timeout=channel.timeout) as smtp:
            smtp.ehlo()
            smtp.starttls(context=context)
            smtp.ehlo()
            if channel.username:
                password = _secret(channel.password_env, channel.password_file, "smtp password")
                smtp.login(channel.username, password or "")
            smtp.send_message(message)
    except (smtplib.SMTPException, OSError) as exc:
        raise NotificationError(
            f"smtp {channel.host}:{channel.port}: {type(exc).__name__}: {exc}"
        ) from exc


_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS notify_outbox ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT, notice_key TEXT NOT NULL, recipient TEXT NOT NULL,"
    " thread TEXT NOT NULL, event TEXT NOT NULL, subject TEXT NOT NULL, body TEXT NOT NULL,"
    " created_at TEXT NOT NULL, not_before TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,"
    " status TEXT NOT NULL DEFAULT 'pending', last_error TEXT, sent_at TEXT,"
    " UNIQUE (notice_key, recipient))",
    "CREATE INDEX IF NOT EXISTS notify_outbox_due ON notify_outbox (status, not_before)",
)


@dataclass
class DispatchReport:
    sent: int = 0
    messages: int = 0
    failed: int = 0
    dead: int = 0


class Notifier:
    """Routes notices to recipients (rules + scope) into the outbox, and delivers it."""

    def __init__(
        self,
        config: NotifyConfig,
        registry: Path,
        muted: Callable[[Notice, datetime], bool] = lambda notice, now: False,
    ) -> None:
        self.config = config
        self.registry = registry
        self.muted = muted
        with self._connect() as conn:
            for statement in _SCHEMA:
                conn.execute(statement)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        registry = open_registry(self.registry)
        try:
            yield registry.connection
        finally:
            registry.close()

    def recipients_for(self, notice: Notice) -> list[Recipient]:
        """Recipients whose rules name the event and whose scope may see the notice."""
        names = {
            n for rule in self.config.rules if notice.event in rule.events for n in rule.recipients
        }
        chosen = []
        for recipient in self.config.recipients:
            if recipient.name not in names:
                continue
            if notice.privacy != schema.PRIVACY_PUBLIC and not recipient.scope.includes(
                Scope.HOUSING
            ):
                continue  # a home is never named to a public or operations recipient
            chosen.append(recipient)
        return chosen

    def enqueue(self, notices: Sequence[Notice], now: datetime) -> int:
        """Queue each notice for its recipients once; returns rows added."""
        added = 0
        with self._connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                for notice in notices:
                    if notice.dev_eui and self.muted(notice, now):
                        continue
                    told = None
                    if notice.event.endswith(".recovered"):
                        told = {
                            r["recipient"]
                            for r in conn.execute(
                                "SELECT DISTINCT recipient FROM notify_outbox WHERE thread = ?",
                                (notice.thread,),
                            )
                        }
                    for recipient in self.recipients_for(notice):
                        if told is not None and recipient.name not in told:
                            continue
                        cursor = conn.execute(
                            "INSERT OR IGNORE INTO notify_outbox (notice_key, recipient, thread,"
                            " event, subject, body, created_at, not_before)"
                            " VALUES (?,?,?,?,?,?,?,?)",
                            (
                                notice.key,
                                recipient.name,
                                notice.thread,
                                notice.event,
                                notice.subject,
                                json.dumps(
                                    {
                                        "event": notice.event,
                                        "subject": notice.subject,
                                        "text": notice.text,
                                        "at": iso(notice.at),
                                        "data": notice.data,
                                    }
                                ),
                                iso(now),
                                iso(self._not_before(recipient, now)),
                            ),
                        )
                        added += cursor.rowcount
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        return added

    @staticmethod
    def _not_before(recipient: Recipient, now: datetime) -> datetime:
        period = recipient.digest_seconds
        if not period:
            return now
        start = (now.timestamp() // period + 1) * period
        return datetime.fromtimestamp(start, tz=UTC)

    def _deliver(self, recipient: Recipient, bodies: list[dict[str, Any]]) -> None:
        channel = self.config.channels[recipient.channel]
        if len(bodies) == 1:
            subject = bodies[0]["subject"]
        else:
            subject = f"Leeds WIN: {len(bodies)} notifications"
        if isinstance(channel, WebhookChannel):
            send_webhook(channel, {"recipient": recipient.name, "notices": bodies})
        else:
            assert recipient.address is not None
            text = "\n\n".join(f"[{b['at']}] {b['event']}\n{b['text']}" for b in bodies)
            send_email(channel, recipient.address, subject, text)

    def dispatch(self, now: datetime | None = None) -> DispatchReport:
        """Send what is due: one message per row, or per recipient for digest recipients."""
        now = now or datetime.now(UTC)
        report = DispatchReport()
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT * FROM notify_outbox WHERE status = 'pending' AND not_before <= ?"
                " ORDER BY id",
                (iso(now),),
            ).fetchall()
        batches: dict[str, list[Any]] = {}
        for row in rows:
            try:
                recipient = self.config.recipient(row["recipient"])
            except StopIteration:
                continue  # recipient removed from the config: keep the row for the record
            key = recipient.name if recipient.digest else f"{recipient.name}:{row['id']}"
            batches.setdefault(key, []).append(row)
        for batch in batches.values():
            recipient = self.config.recipient(batch[0]["recipient"])
            ids = [r["id"] for r in batch]
            try:
                self._deliver(recipient, [json.loads(r["body"]) for r in batch])
            except NotificationError as exc:
                self._failed(batch, str(exc), now, report)
                continue
            with self._connect() as conn:
                conn.executemany(
                    "UPDATE notify_outbox SET status = 'sent', sent_at = ?,"
                    " attempts = attempts + 1 WHERE id = ?",
                    [(iso(now), i) for i in ids],
                )
            report.sent += len(batch)
            report.messages += 1
        return report

    def _failed(self, batch: list[Any], error: str, now: datetime, report: DispatchReport) -> None:
        retry = self.config.retry
        with self._connect() as conn:
            for row in batch:
                attempts = int(row["attempts"]) + 1
                if attempts >= retry.attempts:
                    conn.execute(
                        "UPDATE notify_outbox SET status = 'dead', attempts = ?, last_error = ?"
                        " WHERE id = ?",
                        (attempts, error, row["id"]),
                    )
                    report.dead += 1
                    log.error(
                        "event=notification_dead recipient=%s event=%s attempts=%d error=%s",
                        row["recipient"],
                        row["event"],
                        attempts,
                        error,
                    )
                else:
                    delay = min(retry.backoff * 2 ** (attempts - 1), retry.max_backoff)
                    conn.execute(
                        "UPDATE notify_outbox SET attempts = ?, last_error = ?, not_before = ?"
                        " WHERE id = ?",
                        (attempts, error, iso(now + timedelta(seconds=delay)), row["id"]),
                    )
                    report.failed += 1
                    log.warning(
                        "event=notification_retry recipient=%s attempts=%d retry_in=%.0fs error=%s",
                        row["recipient"],
                        attempts,
                        delay,
                        error,
                    )

    def outbox(self, status: str | None = None) -> list[dict[str, Any]]:
        with self._connect() as conn:
            sql, args = "SELECT * FROM notify_outbox", []
            if status:
                sql += " WHERE status = ?"
                args.append(status)
            return [dict(r) for r in conn.execute(sql + " ORDER BY id", args)]


def alerts_for_notices(registry: Path) -> list[Alert]:
    """Open alerts, and those closed in the last day (their opening may still be unsent)."""
    conn = open_registry(registry)
    try:
        store = AlertStore(conn)
        since = datetime.now(UTC) - timedelta(days=1)
        return [
            a
            for a in store.list()
            if a.status == "open" or (a.closed_at is not None and a.closed_at >= since)
        ]
    finally:
        conn.close()


__all__ = [
    "EVENTS",
    "Notice",
    "Notifier",
    "NotifyConfig",
    "damp_notices",
    "fleet_notice",
    "load_config",
    "parse_time",
    "sign",
    "verify",
]

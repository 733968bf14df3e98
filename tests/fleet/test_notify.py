"""Notification routing, retries, dead letters, digests and config errors, on real servers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from core.errors import ConfigError
from insights.alerts import AlertStore
from insights.damp import RiskLevel
from insights.notify import Notice, Notifier, damp_notices, load_config, sign, verify
from storage.registry import open_registry
from tests.fleet.conftest import HOOK_SECRET, SMTP_PASSWORD, Hook, SmtpServer, notify_yaml

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_HOOK_SECRET", HOOK_SECRET)
    monkeypatch.setenv("TEST_SMTP_PASSWORD", SMTP_PASSWORD)


def notice(n: int, event: str = "device.silent", privacy: str = "public") -> Notice:
    return Notice(
        key=f"test:{n}:{event}",
        event=event,
        subject=f"notice {n}",
        text=f"text {n}",
        privacy=privacy,
        thread=f"test:{n}",
        at=NOW,
        data={"n": n},
    )


def notifier(tmp_path: Path, smtp: SmtpServer, hook: Hook, digest: str | None = None) -> Notifier:
    path = tmp_path / "notify.yaml"
    path.write_text(notify_yaml(smtp, hook, housing_digest=digest))
    return Notifier(load_config(path), tmp_path / "registry.sqlite3")


def test_signature_round_trip() -> None:
    header = sign("k", 1700000000, b'{"a":1}')
    assert verify("k", header, b'{"a":1}')
    assert not verify("k", header, b'{"a":2}')
    assert not verify("other", header, b'{"a":1}')
    assert not verify("k", "garbage", b"")


def test_home_notices_never_reach_public_or_operations(
    tmp_path: Path, smtp_server: SmtpServer, webhook: Hook, secrets: None
) -> None:
    n = notifier(tmp_path, smtp_server, webhook)
    assert [r.name for r in n.recipients_for(notice(1, "damp.opened", "home"))] == ["housing"]
    assert [r.name for r in n.recipients_for(notice(2, "device.silent", "home"))] == ["housing"]
    assert [r.name for r in n.recipients_for(notice(3, "device.silent"))] == [
        "operations",
        "ops-mail",
        "housing",
    ]


def test_retry_with_backoff_then_delivered_once(
    tmp_path: Path, smtp_server: SmtpServer, webhook: Hook, secrets: None
) -> None:
    n = notifier(tmp_path, smtp_server, webhook)
    webhook.fail_next = 2
    assert n.enqueue([notice(1)], NOW) == 3
    assert n.enqueue([notice(1)], NOW) == 0  # the same notice again: nothing new
    first = n.dispatch(NOW)
    assert (first.failed, first.sent) == (1, 2)  # both e-mails sent, the webhook failed
    assert n.dispatch(NOW + timedelta(seconds=0.5)).sent == 0  # backoff not over
    assert n.dispatch(NOW + timedelta(seconds=1)).failed == 1  # second try fails
    assert n.dispatch(NOW + timedelta(seconds=2)).sent == 0  # backoff doubled to 2 s
    assert n.dispatch(NOW + timedelta(seconds=3)).sent == 1
    assert webhook.requests == 3
    assert [x["data"]["n"] for x in webhook.notices()] == [1]
    assert n.dispatch(NOW + timedelta(hours=1)).sent == 0


def test_dead_letter_after_n_failures(
    tmp_path: Path, smtp_server: SmtpServer, webhook: Hook, secrets: None
) -> None:
    n = notifier(tmp_path, smtp_server, webhook)
    webhook.fail_next = 100
    n.enqueue([notice(1, "service.down")], NOW)
    for seconds in (0, 1, 3, 7, 15):
        n.dispatch(NOW + timedelta(seconds=seconds))
    [dead] = [row for row in n.outbox("dead") if row["recipient"] == "operations"]
    assert dead["attempts"] == 3 and "HTTP 503" in dead["last_error"]
    assert webhook.requests == 3


def test_digest_sends_one_message_per_period(
    tmp_path: Path, smtp_server: SmtpServer, webhook: Hook, secrets: None
) -> None:
    n = notifier(tmp_path, smtp_server, webhook, digest="1h")
    n.enqueue([notice(i) for i in range(5)], NOW + timedelta(minutes=5))
    n.dispatch(NOW + timedelta(minutes=30))
    assert smtp_server.box.to("damp@example.test") == []
    report = n.dispatch(NOW + timedelta(hours=1))
    [digest] = smtp_server.box.to("damp@example.test")
    assert digest["Subject"] == "Leeds WIN: 5 notifications"
    assert report.sent == 5 and report.messages == 1
    assert len(smtp_server.box.to("ops@example.test")) == 5  # no digest for that recipient


def test_awaab_step_due_in_two_working_days_and_overdue(tmp_path: Path) -> None:
    conn = open_registry(tmp_path / "r.sqlite3")
    try:
        store = AlertStore(conn)
        # Opened on Monday 16 Nov 2026: investigation due end of Mon 30 Nov (10 working days).
        opened = datetime(2026, 11, 16, 10, 0, tzinfo=UTC)
        alert = store.raise_level("a81758fffe000001", "home-7f3a", RiskLevel.HIGH, opened, {})
        assert alert is not None
        due = damp_notices([alert], lambda eui: "Armley", datetime(2026, 11, 26, 9, tzinfo=UTC))
        overdue = damp_notices([alert], lambda eui: "Armley", datetime(2026, 12, 1, 9, tzinfo=UTC))
    finally:
        conn.close()
    assert [x.key for x in due] == [
        f"damp:{alert.id}:opened",
        f"awaab:{alert.id}:investigation:due",
    ]
    assert f"awaab:{alert.id}:investigation:overdue" in [x.key for x in overdue]
    assert all(x.privacy == "home" and "ward Armley" in x.subject for x in due)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "channels: {}\nrecipients: []\nrules: [{events: [nope], recipients: []}]",
            "unknown events",
        ),
        (
            "channels: {}\nrecipients: [{name: a, scope: housing, channel: x}]\nrules: []",
            "unknown channel",
        ),
        (
            "channels: {m: {type: smtp, host: h, sender: s}}\n"
            "recipients: [{name: a, scope: housing, channel: m}]\nrules: []",
            "needs an address",
        ),
        ("channels: {}\nrecipients: [{name: a, scope: root, channel: x}]\nrules: []", "scope"),
        ("[not, a, mapping", "cannot read"),
    ],
)
def test_config_errors_are_typed(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "n.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_config(path)


def test_missing_secret_is_a_config_error(
    tmp_path: Path, smtp_server: SmtpServer, webhook: Hook, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TEST_HOOK_SECRET", raising=False)
    monkeypatch.setenv("TEST_SMTP_PASSWORD", SMTP_PASSWORD)
    n = notifier(tmp_path, smtp_server, webhook)
    n.enqueue([notice(1, "service.down")], NOW)
    with pytest.raises(ConfigError, match="TEST_HOOK_SECRET"):
        n.dispatch(NOW)

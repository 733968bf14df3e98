"""Fixtures: real protocol servers for notification tests: SMTP with STARTTLS and login, and a webhook.

The SMTP server is aiosmtpd with a self-signed certificate made here (for
127.0.0.1) and AUTH required after STARTTLS; the webhook receiver is
``http.server`` in a thread that checks the HMAC signature and can be told to
fail its next requests.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from insights.notify import SIGNATURE_HEADER, verify
from leedswin.services import free_port
from tests.tls import self_signed

SMTP_USER = "leedswin"
SMTP_PASSWORD = "s3cret-smtp"
HOOK_SECRET = "hook-secret-42"


@dataclass
class Mailbox:
    messages: list[Message] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)
    tls: list[bool] = field(default_factory=list)

    def to(self, address: str) -> list[Message]:
        return [m for m in self.messages if m["To"] == address]


class _Handler:
    def __init__(self, box: Mailbox) -> None:
        self.box = box

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.box.tls.append(session.ssl is not None)
        self.box.messages.append(
            message_from_bytes(envelope.original_content, policy=policy.default)
        )
        return "250 Message accepted"


def _authenticator(box: Mailbox) -> Any:
    def check(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        ok = (
            isinstance(data, LoginPassword)
            and data.login.decode() == SMTP_USER
            and data.password.decode() == SMTP_PASSWORD
        )
        if ok:
            box.logins.append(data.login.decode())
        return AuthResult(success=ok, handled=False)

    return check


@dataclass
class SmtpServer:
    host: str
    port: int
    ca_file: Path
    box: Mailbox


@pytest.fixture
def smtp_server(tmp_path: Path) -> Iterator[SmtpServer]:
    import ssl

    cert, key = self_signed(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    box = Mailbox()
    port = free_port()
    controller = Controller(
        _Handler(box),
        hostname="127.0.0.1",
        port=port,
        tls_context=context,
        require_starttls=True,
        authenticator=_authenticator(box),
        auth_required=True,
        auth_require_tls=True,
    )
    controller.start()
    try:
        yield SmtpServer("127.0.0.1", port, cert, box)
    finally:
        controller.stop()


@dataclass
class Hook:
    url: str
    received: list[dict[str, Any]] = field(default_factory=list)
    bad_signatures: int = 0
    fail_next: int = 0
    requests: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def notices(self) -> list[dict[str, Any]]:
        return [n for body in self.received for n in body["notices"]]


@pytest.fixture
def webhook() -> Iterator[Hook]:
    hook = Hook(url="")

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers["Content-Length"]))
            with hook.lock:
                hook.requests += 1
                if hook.fail_next:
                    hook.fail_next -= 1
                    self.send_response(503)
                    self.end_headers()
                    return
                if not verify(HOOK_SECRET, self.headers.get(SIGNATURE_HEADER, ""), body):
                    hook.bad_signatures += 1
                    self.send_response(401)
                    self.end_headers()
                    return
                hook.received.append(json.loads(body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    hook.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield hook
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def notify_yaml(smtp: SmtpServer, hook: Hook, *, housing_digest: str | None = None) -> str:
    """Channels: a signed webhook and the SMTP server; recipients of three scopes."""
    digest = f", digest: {housing_digest}" if housing_digest else ""
    return f"""
channels:
  ops-hook: {{type: webhook, url: "{hook.url}", secret_env: TEST_HOOK_SECRET}}
  mail:
    type: smtp
    host: {smtp.host}
    port: {smtp.port}
    sender: leedswin@example.test
    username: {SMTP_USER}
    password_env: TEST_SMTP_PASSWORD
    ca_file: {smtp.ca_file}
recipients:
  - {{name: operations, scope: operations, channel: ops-hook}}
  - {{name: ops-mail, scope: operations, channel: mail, address: ops@example.test}}
  - {{name: housing, scope: housing, channel: mail, address: damp@example.test{digest}}}
  - {{name: public-feed, scope: public, channel: ops-hook}}
rules:
  - events: [device.silent, device.recovered, service.down, service.recovered]
    recipients: [operations, ops-mail, housing]
  - events: [damp.opened, damp.escalated, awaab.due, awaab.overdue]
    recipients: [housing, operations, public-feed]
retry: {{attempts: 3, backoff: 1, max_backoff: 10}}
"""

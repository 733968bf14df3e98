"""Short-lived signed stream tokens, so a browser's EventSource (which cannot send headers) can
open the live feed without putting an API key in a URL.

``POST /v1/live/tokens`` (authenticated by header) returns ``st_<payload>.<mac>``:
the key id and an expiry, signed with HMAC-SHA256 under a secret that lives in
this process only. The token opens a stream until it expires; an open stream
ends when the key behind it is revoked. The header and ``api_key`` query forms
still work (query keys are redacted from every log, see ``api.redact``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from typing import Annotated

from fastapi import Depends, Query, Request, Security
from fastapi.security import APIKeyHeader

from api.deps import API_KEY_HEADER, Services, ServicesDep, admit, authenticate
from api.scoped import Principal

#: Seconds a stream token may be used to open a stream.
STREAM_TOKEN_SECONDS = 300
_PREFIX = "st_"

_header = APIKeyHeader(
    name=API_KEY_HEADER, auto_error=False, description="API key from `leedswin keys create`"
)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class StreamTokens:
    """Issue and check stream tokens (per process: a restart invalidates them)."""

    def __init__(self, lifetime: int = STREAM_TOKEN_SECONDS) -> None:
        self._secret = secrets.token_bytes(32)
        self.lifetime = lifetime

    def _mac(self, payload: str) -> str:
        return _b64(hmac.new(self._secret, payload.encode(), hashlib.sha256).digest())

    def issue(self, key_id: str, now: float | None = None) -> tuple[str, int]:
        """A token for ``key_id`` and its expiry (epoch seconds)."""
        expires = int(now if now is not None else time.time()) + self.lifetime
        payload = _b64(json.dumps({"k": key_id, "e": expires}, separators=(",", ":")).encode())
        return f"{_PREFIX}{payload}.{self._mac(payload)}", expires

    def key_id(self, token: str, now: float | None = None) -> str | None:
        """The key id a valid, unexpired token carries; None for anything else."""
        if not token.startswith(_PREFIX) or token.count(".") != 1:
            return None
        payload, mac = token[len(_PREFIX) :].split(".")
        if not hmac.compare_digest(mac, self._mac(payload)):
            return None
        try:
            data = json.loads(_unb64(payload))
        except ValueError:
            return None
        expires = data.get("e") if isinstance(data, dict) else None
        key_id = data.get("k") if isinstance(data, dict) else None
        if not isinstance(expires, int) or not isinstance(key_id, str):
            return None
        return key_id if (now if now is not None else time.time()) < expires else None


def stream_authenticate(
    services: Services, tokens: StreamTokens, credential: str | None
) -> Principal:
    """A principal from an API key or a stream token; 401/429 as ``authenticate`` gives."""
    if credential is None or not credential.startswith(_PREFIX):
        return authenticate(services, credential)
    key_id = tokens.key_id(credential)
    key = None
    if key_id is not None:
        key = next((k for k in services.keys.list() if k.key_id == key_id and k.active), None)
    return admit(services, key, "invalid or expired stream token")


def get_stream_tokens(request: Request) -> StreamTokens:
    """The app's issuer (``create_app`` puts one on ``app.state``)."""
    tokens: StreamTokens = request.app.state.stream_tokens
    return tokens


StreamTokensDep = Annotated[StreamTokens, Depends(get_stream_tokens)]


def get_stream_principal(
    services: ServicesDep,
    tokens: StreamTokensDep,
    header: Annotated[str | None, Security(_header)],
    token: Annotated[
        str | None,
        Query(
            max_length=512,
            description="A stream token from `POST /v1/live/tokens` (for EventSource,"
            " which cannot send headers); never logged",
        ),
    ] = None,
) -> Principal:
    return stream_authenticate(services, tokens, header or token)


StreamPrincipalDep = Annotated[Principal, Depends(get_stream_principal)]

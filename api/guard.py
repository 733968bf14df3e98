"""The outermost layer of the app: request size limits, wrong-key throttling, counting, 500s.

- A URL longer than ``MAX_URL_BYTES`` gets 414, headers over ``MAX_HEADER_BYTES``
  431, a body over ``MAX_BODY_BYTES`` 413 (RFC 9110 §15.5.15/§15.5.14, RFC 6585 §5),
  before any route runs. The server must let such requests through to here
  (``api.main.server_config`` raises h11's incomplete-event limit to allow it).
- Wrong or missing keys are throttled per client address: each failed
  authentication (a 401, or a WebSocket close 4401) spends a token of that
  address's bucket, and once it is empty such a failure is answered 429 with
  Retry-After (WebSocket: 4429) instead, so keys cannot be tried at speed. Only
  failures are charged and refused: a valid key always passes, so one client
  sending wrong keys cannot lock out others behind the same proxy. The client
  address is the socket's peer unless ``LEEDSWIN_API_FORWARDED_ALLOW_IPS``
  names the proxy (``api.main.server_config``): a forged ``X-Forwarded-For``
  buys no fresh bucket.
- Every response is counted by route template and status; an unexpected
  exception becomes a typed 500 body, is counted and logged, never re-raised.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable

from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.metrics import ApiMetrics
from api.ratelimit import RateLimiter

log = logging.getLogger(__name__)

MAX_URL_BYTES = 8 * 1024
MAX_HEADER_BYTES = 32 * 1024
MAX_BODY_BYTES = 64 * 1024


def _route(scope: Scope) -> str:
    route = scope.get("route")
    return route.path if isinstance(route, BaseRoute) and hasattr(route, "path") else "unmatched"


def _json(status: int, detail: str, headers: dict[str, str] | None = None) -> list[Message]:
    body = json.dumps({"detail": detail}).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    return [
        {"type": "http.response.start", "status": status, "headers": raw},
        {"type": "http.response.body", "body": body},
    ]


def _too_many(retry: int) -> str:
    return f"too many requests with a wrong or missing key; retry in {retry} s"


class Guard:
    """ASGI middleware; ``metrics`` is looked up per request (the lifespan creates it)."""

    def __init__(
        self,
        app: ASGIApp,
        metrics: Callable[[], ApiMetrics],
        bad_keys_per_minute: int,
    ) -> None:
        self.app = app
        self._metrics = metrics
        self.bad_keys = RateLimiter(bad_keys_per_minute)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "websocket":
            await self._websocket(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    def _client(self, scope: Scope) -> str:
        client = scope.get("client")
        return str(client[0]) if client else "unknown"

    def _refusal(self, scope: Scope) -> tuple[int, str, dict[str, str]] | None:
        """Status, detail and headers when the request is refused before routing."""
        url = len(scope.get("raw_path") or scope["path"].encode()) + len(scope["query_string"])
        if url > MAX_URL_BYTES:
            return 414, f"URL longer than {MAX_URL_BYTES} bytes", {}
        if sum(len(k) + len(v) for k, v in scope["headers"]) > MAX_HEADER_BYTES:
            return 431, f"request headers larger than {MAX_HEADER_BYTES} bytes", {}
        return None

    def _charge(self, scope: Scope) -> int:
        """Charge a failed authentication to its address; seconds to wait when over the limit."""
        return self.bad_keys.take(self._client(scope))

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        status = 500
        response_started = False
        metrics = self._metrics()
        refusal = self._refusal(scope)
        if refusal is None:
            for name, value in scope["headers"]:
                if name == b"content-length" and (
                    not value.isdigit() or int(value) > MAX_BODY_BYTES
                ):
                    refusal = 413, f"request body larger than {MAX_BODY_BYTES} bytes", {}
        if refusal is not None:
            code, detail, headers = refusal
            metrics.refused.labels(str(code)).inc()
            for message in _json(code, detail, headers):
                await send(message)
            metrics.requests.labels("unmatched", scope["method"], str(code)).inc()
            return

        received = 0
        too_large = False
        throttled = False

        async def limited_receive() -> Message:
            # A chunked body past the limit: answer 413 now, and tell the app the client left.
            nonlocal received, too_large, status
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > MAX_BODY_BYTES and not too_large:
                    too_large = True
                    if not response_started:
                        status = 413
                        metrics.refused.labels("413").inc()
                        for reply in _json(413, f"request body larger than {MAX_BODY_BYTES} bytes"):
                            await send(reply)
                    return {"type": "http.disconnect"}
            return message

        async def counted_send(message: Message) -> None:
            nonlocal status, response_started, throttled
            if too_large or throttled:
                return  # the 413, or the 429 in place of a 401, went out already
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
                retry = self._charge(scope) if status == 401 else 0
                if retry:
                    throttled = True
                    status = 429
                    metrics.refused.labels("429").inc()
                    for reply in _json(429, _too_many(retry), {"Retry-After": str(retry)}):
                        await send(reply)
                    return
            await send(message)

        try:
            await self.app(scope, limited_receive, counted_send)
        except Exception:
            if too_large:
                pass  # the app gave up reading the body it was refused
            else:
                status = 500
                metrics.errors.inc()
                log.exception("event=api_error method=%s route=%s", scope["method"], _route(scope))
                if not response_started:
                    for message in _json(500, "internal error; it has been logged"):
                        await send(message)
        route = _route(scope)
        metrics.requests.labels(route, scope["method"], str(status)).inc()
        metrics.latency.labels(route).observe(time.perf_counter() - started)

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        refusal = self._refusal(scope)
        if refusal is not None:
            code, detail, _ = refusal
            self._metrics().refused.labels(str(code)).inc()
            message = await receive()
            if message["type"] == "websocket.connect":
                await send({"type": "websocket.accept"})
                await send({"type": "websocket.close", "code": 4000 + code, "reason": detail[:120]})
            return

        async def watched_send(message: Message) -> None:
            if message["type"] == "websocket.close" and message.get("code") == 4401:
                retry = self._charge(scope)
                if retry:
                    self._metrics().refused.labels("429").inc()
                    message = {"type": "websocket.close", "code": 4429, "reason": _too_many(retry)}
            await send(message)

        await self.app(scope, receive, watched_send)


__all__ = ["Guard", "MAX_BODY_BYTES", "MAX_HEADER_BYTES", "MAX_URL_BYTES"]

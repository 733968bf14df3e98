"""The FastAPI application, built by ``create_app`` from settings the CLI passes in.

Nothing happens at import: the lifespan opens the InfluxQL client, the SQLite
registry and the MQTT live-feed subscriber, and closes them on shutdown.
Routers are listed once in ``ROUTERS``; add a line there to add a resource.
Run it with ``make_server`` (the CLI's ``serve`` does): it sets the request
limits ``api.guard`` expects and ends live streams at once on Ctrl-C.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import re
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from anyio import to_thread
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from fastapi_offline import FastAPIOffline
from prometheus_client import start_http_server
from starlette.concurrency import run_in_threadpool

from api import redact
from api.audit import AuditMiddleware, AuditRecorder
from api.deps import Services
from api.guard import MAX_HEADER_BYTES, Guard
from api.live import LiveHub, Subscription
from api.metrics import ApiMetrics
from api.models import ErrorPublic
from api.ratelimit import RateLimiter
from api.routes import (
    aggregates,
    air_quality_index,
    audit,
    devices,
    fleet,
    footfall,
    health,
    housing,
    keys,
    latest,
    live,
    readings,
    registry,
    tenancies,
)
from api.routing import valid_unicode
from api.security import StreamTokens
from core.errors import QueryError
from core.feed import LiveReading
from core.settings import ApiSettings, InfluxSettings, MqttSettings
from storage.devices import DeviceRegistry
from storage.query import InfluxQL
from storage.registry import ApiKeys, open_registry

ROUTERS = [
    health.router,
    devices.router,
    readings.router,
    latest.router,
    aggregates.router,
    live.router,
    keys.router,
    registry.router,
    housing.router,
    tenancies.router,
    audit.router,
    air_quality_index.router,
    footfall.router,
    fleet.router,
]

#: Documented on every versioned route so clients (and schemathesis) know them.
ERROR_RESPONSES: dict[int | str, dict[str, object]] = {
    401: {"model": ErrorPublic, "description": "Missing or invalid API key"},
    403: {"model": ErrorPublic, "description": "Key scope too narrow"},
    404: {"model": ErrorPublic, "description": "Not found (or not visible to this key)"},
    429: {"model": ErrorPublic, "description": "Rate limit exceeded; see Retry-After"},
    503: {"model": ErrorPublic, "description": "InfluxDB unavailable"},
}

log = logging.getLogger(__name__)

#: Seconds between checks that the keys behind open live streams are still active (the CLI
#: revokes in another process, so the registry is the only place to learn of it).
REVOCATION_CHECK_SECONDS = 1.0
#: Longest a shutdown waits for requests still running once live streams have been ended.
SHUTDOWN_GRACE_SECONDS = 1  # uvicorn takes whole seconds
#: Longest a shutdown waits for ended live streams to send their own close.
STREAM_CLOSE_SECONDS = 0.5
#: Threads that run request handlers (each waits on at most one InfluxDB or SQLite call; the
#: InfluxDB client keeps up to 100 connections, more than this).
API_THREADS = 32
#: Smallest response body worth compressing.
GZIP_MINIMUM_BYTES = 1024
#: zlib level: 1 compresses our JSON about 8-fold at a few times the speed of Starlette's
#: default 9 (whose CPU cost per large answer exceeded the query's).
GZIP_LEVEL = 1
#: Longest a truncated ``input`` in a 422 body: the error names the field, it need not echo it.
_ECHO_CHARS = 100

_DESCRIPTION = """Readings from the Leeds WIN LoRaWAN sensors. Public keys see public-realm
devices only; housing keys also see sensors in homes (ward-level location).

Send the key as the `X-API-Key` header.

## Live feed

* **Server-Sent Events**: `GET /v1/live/sse` (below). From a browser, whose `EventSource`
  cannot send headers, first `POST /v1/live/tokens` with the key header, then open
  `new EventSource("/v1/live/sse?need=footfall&token=" + token)`. The token opens streams for
  five minutes; it is not a key.
* **WebSocket**: `ws://<host>/v1/live/ws?need=&site=&dev_eui=`, authenticated by the
  `X-API-Key` header, `?token=` (a stream token) or `?api_key=`. Each reading is one text
  message holding a JSON `LiveReading` (schema below). The server closes with 4401 for a
  missing, wrong or revoked key, 4429 when rate limited, 1001 when it shuts down.

Both filter by `need`, `site` and `dev_eui`, and end within about a second when their key is
revoked. Credentials in URLs are never logged.
"""


def _operation_id(route: APIRoute) -> str:
    """Stable ids from the handler name (``list_devices``), so generated clients stay readable."""
    return route.name


async def _watch_revocations(services: Services) -> None:
    """End the open streams of keys revoked anywhere (API or CLI), within about a second."""
    while True:
        await asyncio.sleep(REVOCATION_CHECK_SECONDS)
        holders = services.live.key_ids()
        if not holders:
            continue
        try:
            keys = await run_in_threadpool(services.keys.list)
        except Exception:  # a locked or vanished registry must not end the watcher
            log.exception("event=revocation_check_failed")
            continue
        active = {key.key_id for key in keys if key.active}

        def revoked(sub: Subscription, active: set[str] = active) -> bool:
            return sub.principal.key_id not in active

        ended = services.live.close_where("revoked", revoked)
        if ended:
            services.metrics.streams_closed.labels("revoked").inc(ended)


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    # Handlers are sync and wait on InfluxDB or SQLite in anyio's thread pool, never on the
    # event loop; the pool is bounded, and sized so InfluxDB (not threads) is the limit.
    to_thread.current_default_thread_limiter().total_tokens = API_THREADS
    services: Services = app.state.services_factory()
    services.live.start(asyncio.get_running_loop())
    app.state.services = services
    watcher = asyncio.create_task(_watch_revocations(services))
    metrics_server = None
    if services.settings.metrics_port:
        metrics_server, _ = start_http_server(
            services.settings.metrics_port, "127.0.0.1", services.metrics.registry
        )
    try:
        yield
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
        if metrics_server is not None:
            metrics_server.shutdown()
            metrics_server.server_close()
        services.live.stop()
        services.registry.close()
        for client in (services.influx, services.public_influx):
            close = getattr(client, "close", None)
            if close:
                close()


def end_streams(app: FastAPI) -> int:
    """End every open live stream (before a shutdown waits for requests to finish)."""
    services: Services | None = getattr(app.state, "services", None)
    if services is None:
        return 0
    ended = services.live.close_where("shutdown", lambda sub: True)
    if ended:
        services.metrics.streams_closed.labels("shutdown").inc(ended)
    return ended


def _store_error(exc: QueryError) -> tuple[int, str]:
    """503 when InfluxDB could not be reached or failed; 400 when it refused the query itself
    (a bad query is the request's fault and must not page anyone as an outage)."""
    refused = re.search(r": HTTP 4\d\d: ", str(exc)) is not None
    if refused and not isinstance(exc.__cause__, httpx.HTTPError):
        return 400, "the time-series store refused this query; narrow or change the parameters"
    return 503, "time-series store unavailable"


def _short_inputs(errors: Any) -> Any:
    """Validation errors with long ``input`` values cut (a 2 MB field is not echoed back) and
    nothing echoed that is not valid Unicode (a lone surrogate cannot be encoded)."""
    out = []
    for error in errors:
        error = dict(error)
        value = error.get("input")
        if not valid_unicode(value) or isinstance(value, bytes):
            error["input"] = "<not valid Unicode, not echoed>"
        elif isinstance(value, str) and len(value) > _ECHO_CHARS:
            error["input"] = f"<{len(value)} characters, not echoed>"
        elif isinstance(value, dict | list) and len(repr(value)) > _ECHO_CHARS:
            error["input"] = "<not echoed>"
        encoded = jsonable_encoder(error)
        if not valid_unicode(encoded):
            # A message or context quoting the input: keep only where and what kind.
            encoded = {
                "loc": encoded.get("loc"),
                "msg": "not valid Unicode",
                "type": encoded.get("type"),
                "input": error["input"] if valid_unicode(error.get("input")) else None,
            }
        out.append(_finite(encoded))
    return out


def _finite(value: Any) -> Any:
    """``value`` with NaN and infinities as text: JSON has no such numbers, and a body
    sending one (``{"hours": NaN}``, which Python's parser accepts) must get its 422."""
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's schema plus ``LiveReading``, the message of both live feeds (WebSocket routes
    have no OpenAPI operation, so the schema is added by hand and described in the intro)."""
    if app.openapi_schema is None:
        schema = FastAPI.openapi(app)
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components.setdefault("LiveReading", LiveReading.model_json_schema())
        app.openapi_schema = schema
    return app.openapi_schema


def create_app(
    api: ApiSettings,
    influx: InfluxSettings,
    mqtt: MqttSettings,
    device_registry: Path | None = None,
) -> FastAPI:
    """Build the app; its services start with the lifespan. The device registry adds ward/lat/lon."""

    def services_factory() -> Services:
        client = InfluxQL(influx)
        conn = open_registry(api.registry)
        metrics = ApiMetrics()
        return Services(
            settings=api,
            influx=client,
            public_influx=InfluxQL(influx.public(), include_home=False),
            registry=conn,
            keys=ApiKeys(conn),
            limiter=RateLimiter(api.rate_limit_per_minute),
            live=LiveHub(mqtt, metrics),
            metrics=metrics,
            influx_ping=client.ping,
            devices=DeviceRegistry(device_registry),
        )

    redact.install()
    app = FastAPIOffline(
        title="Leeds WIN sensor API",
        version="1.0.0",
        description=_DESCRIPTION,
        lifespan=_lifespan,
        generate_unique_id_function=_operation_id,
        openapi_tags=[
            {
                "name": "live",
                "description": "Live readings: SSE here, WebSocket at `/v1/live/ws` (see the"
                " introduction); messages are `LiveReading`s.",
            }
        ],
    )
    app.state.services_factory = services_factory
    app.state.stream_tokens = StreamTokens()
    app.state.influx_settings = influx  # erasure and export (api.routes.tenancies)
    app.state.forwarded_allow_ips = api.forwarded_allow_ips  # read by server_config
    for router in ROUTERS:
        versioned = any(
            isinstance(route, APIRoute) and route.path.startswith("/v1") for route in router.routes
        )
        app.include_router(router, responses=ERROR_RESPONSES if versioned else None)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]

    @app.exception_handler(QueryError)
    async def _query_error(request: Request, exc: QueryError) -> JSONResponse:
        code, detail = _store_error(exc)
        log.warning("event=store_error status=%s error=%s", code, exc)
        return JSONResponse({"detail": detail}, status_code=code)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": _short_inputs(exc.errors())}, status_code=422)

    app.state.audit_recorder = AuditRecorder(
        api.registry,
        influx,
        DeviceRegistry(device_registry),
        app.state.stream_tokens,
        timedelta(days=api.audit_retention_days),
    )
    # Innermost: JSON answers compress about tenfold (a 30-day by-device aggregate of a site
    # is 1.6 MB); SSE is never buffered (Starlette leaves text/event-stream alone).
    app.add_middleware(GZipMiddleware, minimum_size=GZIP_MINIMUM_BYTES, compresslevel=GZIP_LEVEL)
    app.add_middleware(AuditMiddleware, recorder=app.state.audit_recorder)
    app.add_middleware(
        Guard,
        metrics=lambda: app.state.services.metrics,
        bad_keys_per_minute=api.bad_keys_per_minute,
    )
    # Outermost, so refusals (401, 429, 413) carry CORS headers a browser can read.
    if api.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(api.cors_origins),
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["X-API-Key", "Content-Type"],
            expose_headers=["Retry-After"],
            max_age=600,
        )
    return app


async def _streams_ended(app: FastAPI) -> None:
    """Wait (at most ``STREAM_CLOSE_SECONDS``) until no live stream is open."""
    services: Services = app.state.services
    deadline = asyncio.get_running_loop().time() + STREAM_CLOSE_SECONDS
    while services.live.open_streams() and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.01)


class ApiServer(uvicorn.Server):
    """uvicorn's server that ends live streams first when asked to stop, so Ctrl-C does not
    wait for SSE clients (which would otherwise hold their responses open for ever)."""

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        app = self.config.loaded_app if self.config.loaded else self.config.app
        target = getattr(app, "app", app)  # uvicorn may wrap the app (proxy headers)
        while not isinstance(target, FastAPI) and hasattr(target, "app"):
            target = target.app
        if isinstance(target, FastAPI) and end_streams(target):
            # Let the stream handlers send their own close (WebSocket 1001, SSE ``close``)
            # first: uvicorn closes a WebSocket still open at shutdown with 1012.
            await _streams_ended(target)
        await super().shutdown(sockets)


def server_config(app: FastAPI, host: str, port: int, log_level: str = "info") -> uvicorn.Config:
    """The uvicorn configuration the app expects: h11 (whose incomplete-event limit is raised
    so oversized headers reach ``api.guard`` and get 431, not a reset), a short grace period,
    and ``X-Forwarded-For`` trusted only from ``ApiSettings.forwarded_allow_ips`` (uvicorn's
    own default trusts 127.0.0.1, so a local client could pick any address for the
    wrong-key throttle)."""
    proxies: tuple[str, ...] = getattr(app.state, "forwarded_allow_ips", ())
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        proxy_headers=bool(proxies),
        forwarded_allow_ips=list(proxies),
        http="h11",
        ws="websockets-sansio",
        log_level=log_level,
        h11_max_incomplete_event_size=MAX_HEADER_BYTES * 64,
        timeout_graceful_shutdown=SHUTDOWN_GRACE_SECONDS,
    )


def make_server(app: FastAPI, host: str, port: int, log_level: str = "info") -> ApiServer:
    """A server for ``app``; ``server.should_exit = True`` (or a signal) stops it in ~1 s."""
    server = ApiServer(server_config(app, host, port, log_level))
    redact.install()  # again: building the config reconfigured uvicorn's loggers
    return server


def serve(
    api: ApiSettings,
    influx: InfluxSettings,
    mqtt: MqttSettings,
    device_registry: Path | None = None,
) -> None:
    """Run the API under uvicorn on ``api.host:api.port`` until interrupted (for the CLI)."""
    make_server(create_app(api, influx, mqtt, device_registry), api.host, api.port).run()

"""The FastAPI application, built by ``create_app`` from settings the CLI passes in.

Nothing happens at import: the lifespan opens the InfluxQL client, the SQLite
registry and the MQTT live-feed subscriber, and closes them on shutdown.
Routers are listed once in ``ROUTERS``; add a line there to add a resource.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import uvicorn
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

from api.deps import Services
from api.live import LiveHub
from api.metrics import ApiMetrics
from api.models import ErrorPublic
from api.ratelimit import RateLimiter
from api.routes import (
    aggregates,
    air_quality_index,
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
)
from core.errors import QueryError
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


def _operation_id(route: APIRoute) -> str:
    """Stable ids from the handler name (``list_devices``), so generated clients stay readable."""
    return route.name


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    services: Services = app.state.services_factory()
    services.live.start(asyncio.get_running_loop())
    app.state.services = services
    try:
        yield
    finally:
        services.live.stop()
        services.registry.close()
        close = getattr(services.influx, "close", None)
        if close:
            close()


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
            registry=conn,
            keys=ApiKeys(conn),
            limiter=RateLimiter(api.rate_limit_per_minute),
            live=LiveHub(mqtt, metrics),
            metrics=metrics,
            influx_ping=client.ping,
            devices=DeviceRegistry(device_registry),
        )

    app = FastAPI(
        title="Leeds WIN sensor API",
        version="1.0.0",
        description=(
            "Readings from the Leeds WIN LoRaWAN sensors. Public keys see public-realm"
            " devices only; housing keys also see sensors in homes (ward-level location)."
        ),
        lifespan=_lifespan,
        generate_unique_id_function=_operation_id,
    )
    app.state.services_factory = services_factory
    for router in ROUTERS:
        versioned = any(
            isinstance(route, APIRoute) and route.path.startswith("/v1") for route in router.routes
        )
        app.include_router(router, responses=ERROR_RESPONSES if versioned else None)

    @app.exception_handler(QueryError)
    async def _query_error(request: Request, exc: QueryError) -> JSONResponse:
        return JSONResponse({"detail": "time-series store unavailable"}, status_code=503)

    @app.middleware("http")
    async def _count(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        path = route.path if isinstance(route, APIRoute) else "unmatched"
        metrics: ApiMetrics = request.app.state.services.metrics
        metrics.requests.labels(path, request.method, str(response.status_code)).inc()
        metrics.latency.labels(path).observe(time.perf_counter() - started)
        return response

    return app


def serve(
    api: ApiSettings,
    influx: InfluxSettings,
    mqtt: MqttSettings,
    device_registry: Path | None = None,
) -> None:
    """Run the API under uvicorn on ``api.host:api.port`` until interrupted (for the CLI)."""
    app = create_app(api, influx, mqtt, device_registry)
    uvicorn.run(app, host=api.host, port=api.port, ws="websockets-sansio", log_level="info")

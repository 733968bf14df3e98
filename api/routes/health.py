"""Liveness and readiness (MQTT and InfluxDB), no key needed; Prometheus metrics, admin keys only.

``/metrics`` is not for the world: request counts by route and live-client
numbers describe how the service is used. Prometheus either sends an admin key
(``authorization``-free scrapes can set the ``X-API-Key`` header) or scrapes the
keyless loopback port ``LEEDSWIN_API_METRICS_PORT``.
"""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.concurrency import run_in_threadpool

from api.deps import AdminDep, ServicesDep
from api.models import ErrorPublic, Health
from api.routing import UnicodeJsonRoute

router = APIRouter(tags=["health"], route_class=UnicodeJsonRoute)


@router.get("/healthz", response_model=Health)
def healthz() -> Health:
    return Health(status="ok")


@router.get("/readyz", response_model=Health, responses={503: {"model": Health}})
async def readyz(services: ServicesDep) -> Response:
    checks = {
        "mqtt": services.live.connected,
        "influxdb": await run_in_threadpool(services.influx_ping),
    }
    ok = all(checks.values())
    body = Health(status="ok" if ok else "unavailable", checks=checks)
    return JSONResponse(body.model_dump(), status_code=200 if ok else 503)


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text"},
        401: {"model": ErrorPublic, "description": "Missing or invalid API key"},
        403: {"model": ErrorPublic, "description": "Not an admin key"},
        429: {"model": ErrorPublic, "description": "Rate limit exceeded; see Retry-After"},
    },
)
def metrics(services: ServicesDep, _: AdminDep) -> Response:
    return Response(services.metrics.render(), media_type=CONTENT_TYPE_LATEST)

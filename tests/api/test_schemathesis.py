"""Property-based run over the OpenAPI schema: no 5xx, every response matches the schema.

Runs against the real server (uvicorn) on the real InfluxDB and broker, with an
admin key so every operation is reachable. The SSE stream never ends, so it is
left out here and tested in test_live.py.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from api.main import create_app
from core.settings import ApiSettings, InfluxSettings, MqttSettings
from leedswin.services import LocalInfluxDB, LocalMosquitto
from tests.api.conftest import (
    STEP_NS,
    Keys,
    build_points,
    make_keys,
    make_settings,
    observe,
    serve,
    write_points,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory, influxdb: LocalInfluxDB, mosquitto: LocalMosquitto
) -> Iterator[tuple[httpx.Client, Keys]]:
    tmp_path: Path = tmp_path_factory.mktemp("schemathesis")
    database = f"fuzz_{time.time_ns()}"
    points = build_points(time.time_ns() - 5 * STEP_NS)[0]
    write_points(influxdb.url, database, points)
    config = make_settings(tmp_path, influxdb, mosquitto, database, rate_limit_per_minute=100_000)
    keys = make_keys(config[0].registry)
    observe(config[0].registry, points)
    with serve(create_app(*config)) as base_url, httpx.Client(base_url=base_url) as client:
        yield client, keys


def _openapi() -> dict[str, object]:
    """The schema as the app generates it; building the app opens nothing (that is the lifespan)."""
    app = create_app(ApiSettings(registry=Path("unused.sqlite3")), InfluxSettings(), MqttSettings())
    return app.openapi()


#: What the issue asks for: no 5xx, and every response (status, media type, body, headers) as
#: documented. Left out: the auth checks (a valid key is always sent; the authorisation matrix
#: covers keys), acceptance of schema-valid input (cross-field limits such as the widest time
#: range cannot be said in OpenAPI, so a 422 there is correct), and rejection of unknown query
#: parameters (ignored, as HTTP APIs conventionally do).
CHECKS = [
    schemathesis.checks.not_a_server_error,
    schemathesis.checks.status_code_conformance,
    schemathesis.checks.content_type_conformance,
    schemathesis.checks.response_schema_conformance,
    schemathesis.checks.response_headers_conformance,
]

#: Every router: ours and the insights helper's (housing, DAQI, footfall).
TAGS = [
    "health",
    "devices",
    "readings",
    "latest",
    "aggregates",
    "live",
    "keys",
    "registry",
    "housing",
    "air quality index",
    "footfall",
]

schema = schemathesis.openapi.from_dict(_openapi()).include(tag=TAGS).exclude(path="/v1/live/sse")


@schema.parametrize()
@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_api_conforms_to_its_schema(
    case: schemathesis.Case, served: tuple[httpx.Client, Keys]
) -> None:
    client, keys = served
    # Sent with httpx: schemathesis' requests transport trips over urllib3-future here.
    kwargs = case.as_transport_kwargs(
        base_url=str(client.base_url), headers={"X-API-Key": keys.admin}
    )
    assert not kwargs.get("cookies"), "the API documents no cookies"
    response = client.request(
        kwargs.pop("method"),
        kwargs.pop("url"),
        params=kwargs.pop("params", None),
        headers=kwargs.pop("headers", None),
        json=kwargs.pop("json", None),
        content=kwargs.pop("data", None),
        timeout=30,
    )
    case.validate_response(response, headers=kwargs.get("headers"), checks=CHECKS)

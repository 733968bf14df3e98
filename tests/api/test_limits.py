"""Bad input and abuse on a real uvicorn server: typed 4xx, never 5xx, never a reset.

Parameters that overflow, oversized requests (431/414/413), a burst of wrong
keys (429 with Retry-After, per client address), unexpected errors (typed 500,
counted), CORS, offline docs and the keyless loopback metrics port.
"""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from api.main import create_app, server_config
from core.feed import LiveReading
from core.settings import ApiSettings, InfluxSettings, MqttSettings
from leedswin.services import LocalInfluxDB, LocalMosquitto, free_port
from tests.api.conftest import PUBLIC_A, ApiHarness, make_keys, make_settings, serve

pytestmark = pytest.mark.integration

END_ROUTES = [
    ("/v1/aggregates", {"quantity": "temperature"}),
    (f"/v1/devices/{PUBLIC_A.dev_eui}/readings", {"quantity": "temperature"}),
    ("/v1/footfall/sites/briggate", {}),
    ("/v1/daqi/sites/briggate", {}),
]


@pytest.mark.parametrize(("path", "params"), END_ROUTES)
@pytest.mark.parametrize("end", ["0001-01-01T00:00:00Z", "1970-01-01T00:00:00Z", "9999-01-01"])
def test_end_outside_the_epoch_without_start_is_422(
    api: ApiHarness, path: str, params: dict[str, str], end: str
) -> None:
    response = api.get(path, "public", end=end, **params)
    assert response.status_code == 422, response.text


@pytest.mark.parametrize("every", ["999999999w", "15251w", "367d", "99999999999999999999s", "0h"])
def test_absurd_bucket_widths_are_422_never_store_errors(api: ApiHarness, every: str) -> None:
    response = api.get("/v1/aggregates", "public", quantity="temperature", every=every)
    assert response.status_code == 422, response.text


def test_largest_allowed_width_reaches_influxdb(api: ApiHarness) -> None:
    response = api.get("/v1/aggregates", "public", quantity="temperature", every="52w")
    assert response.status_code == 200, response.text


@pytest.fixture(scope="module")
def guarded(
    tmp_path_factory: pytest.TempPathFactory, influxdb: LocalInfluxDB, mosquitto: LocalMosquitto
) -> Iterator[tuple[str, ApiHarness, FastAPI, int]]:
    """An app with tight wrong-key limits, CORS for one origin, metrics on a loopback port and
    a route that fails, served by uvicorn as the CLI does."""
    tmp_path: Path = tmp_path_factory.mktemp("limits")
    metrics_port = free_port()
    settings = make_settings(
        tmp_path,
        influxdb,
        mosquitto,
        f"limits_{time.time_ns()}",
        bad_keys_per_minute=10,
        cors_origins=("https://app.example",),
        metrics_port=metrics_port,
    )
    keys = make_keys(settings[0].registry)
    app = create_app(*settings)

    @app.get("/v1/boom", include_in_schema=False)
    def boom() -> None:
        raise RuntimeError("a bug")

    with serve(app) as base_url, httpx.Client(base_url=base_url) as client:
        yield base_url, ApiHarness(client, keys, None, settings[0]), app, metrics_port  # type: ignore[arg-type]


def _raw(base_url: str, request: bytes) -> bytes:
    """Send bytes on a fresh socket; the status line and headers the server answers with."""
    host, port = base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(request)
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    return answer


def test_oversized_headers_are_431_and_long_urls_414(
    guarded: tuple[str, ApiHarness, FastAPI, int],
) -> None:
    base_url = guarded[0]
    big_header = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 1_000_000 + b"\r\n\r\n"
    assert _raw(base_url, big_header).startswith(b"HTTP/1.1 431 ")
    long_url = b"GET /healthz?q=" + b"b" * 200_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"
    assert _raw(base_url, long_url).startswith(b"HTTP/1.1 414 ")
    body = b"POST /v1/keys HTTP/1.1\r\nHost: x\r\nContent-Length: 3000000\r\n\r\n"
    assert _raw(base_url, body).startswith(b"HTTP/1.1 413 ")
    chunk = b"z" * 100_000
    chunked = (
        b"POST /v1/keys HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
        b"Content-Type: application/json\r\nX-API-Key: "
        + guarded[1].keys.admin.encode()
        + b"\r\n\r\n"
        + f"{len(chunk):x}".encode()
        + b"\r\n"
        + chunk
        + b"\r\n0\r\n\r\n"
    )
    assert _raw(base_url, chunked).startswith(b"HTTP/1.1 413 ")


def test_unexpected_errors_are_typed_500s_and_counted(
    guarded: tuple[str, ApiHarness, FastAPI, int],
) -> None:
    harness, metrics_port = guarded[1], guarded[3]
    before = _sample(metrics_port, "leedswin_api_errors_total")
    response = harness.client.get("/v1/boom")
    assert response.status_code == 500
    assert response.json() == {"detail": "internal error; it has been logged"}
    assert _sample(metrics_port, "leedswin_api_errors_total") == before + 1


def _sample(port: int, name: str) -> float:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics").text
    match = re.search(rf"^{name} (\S+)$", text, re.M)
    return float(match.group(1)) if match else 0.0


def test_metrics_port_is_loopback_and_keyless_and_has_no_home_split(
    guarded: tuple[str, ApiHarness, FastAPI, int],
) -> None:
    text = httpx.get(f"http://127.0.0.1:{guarded[3]}/metrics").text
    assert "leedswin_api_live_messages_total" in text
    assert "home" not in text and "restricted" not in text and "privacy" not in text


def test_cors_allows_the_configured_origin_only(
    guarded: tuple[str, ApiHarness, FastAPI, int],
) -> None:
    client = guarded[1].client
    preflight = {
        "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "x-api-key",
    }
    ok = client.options("/v1/devices", headers={"Origin": "https://app.example", **preflight})
    assert ok.status_code == 200
    assert ok.headers["access-control-allow-origin"] == "https://app.example"
    other = client.options("/v1/devices", headers={"Origin": "https://evil.example", **preflight})
    assert "access-control-allow-origin" not in other.headers


def test_docs_load_nothing_from_a_cdn(guarded: tuple[str, ApiHarness, FastAPI, int]) -> None:
    client = guarded[1].client
    for page in ("/docs", "/redoc"):
        html = client.get(page).text
        urls = re.findall(r"""(?:src|href|url)\s*[=:]\s*['"]([^'"]+)['"]""", html)
        assert urls, html
        for url in urls:
            assert url.startswith("/"), f"{page} loads {url}"
            assert client.get(url).status_code == 200, url


def test_openapi_documents_the_live_feeds_and_new_routes(
    guarded: tuple[str, ApiHarness, FastAPI, int],
) -> None:
    schema = guarded[1].client.get("/openapi.json").json()
    assert "LiveReading" in schema["components"]["schemas"]
    assert set(LiveReading.model_fields) <= set(
        schema["components"]["schemas"]["LiveReading"]["properties"]
    )
    assert "/v1/live/ws" in schema["info"]["description"]
    assert (
        "text/event-stream" in schema["paths"]["/v1/live/sse"]["get"]["responses"]["200"]["content"]
    )
    assert "post" in schema["paths"]["/v1/live/tokens"]
    assert "get" in schema["paths"]["/v1/footfall/sites"]


def test_key_names_with_control_characters_are_422(
    guarded: tuple[str, ApiHarness, FastAPI, int], tmp_path: Path
) -> None:
    harness = guarded[1]
    headers = {"X-API-Key": harness.keys.admin}
    for name in ("two\nlines", "bell\x07", "sep\u2028arator", "\t", "rtl\u202e", "zw\u200b"):
        response = harness.client.post(
            "/v1/keys", json={"name": name, "scope": "public"}, headers=headers
        )
        assert response.status_code in (422, 429), response.text


# Last in the module: it leaves 127.0.0.1 throttled for this app.
def test_a_burst_of_wrong_keys_is_throttled_per_address(
    guarded: tuple[str, ApiHarness, FastAPI, int],
) -> None:
    harness = guarded[1]
    statuses = []
    for i in range(1000):
        response = harness.client.get("/v1/devices", headers={"X-API-Key": f"lw_{i:012x}_guess"})
        statuses.append(response.status_code)
        if response.status_code == 429:
            assert int(response.headers["Retry-After"]) >= 1
    assert statuses.count(401) <= 11 and statuses.count(429) >= 989
    # Only failures are refused: a valid key from the same address (say, another client
    # behind the same proxy) always passes, and is not charged.
    for _ in range(3):
        assert harness.get("/v1/keys", "admin").status_code == 200
    assert harness.get("/v1/devices", None).status_code == 429
    # A forged X-Forwarded-For from 127.0.0.1 buys no fresh bucket (no proxy is trusted).
    for i in range(20):
        forged = {"X-API-Key": "lw_wrong", "X-Forwarded-For": f"203.0.113.{i}"}
        assert harness.client.get("/v1/devices", headers=forged).status_code == 429
    # On the live WebSocket too: a wrong key is closed 4429, a valid one streams.
    ws = guarded[0].replace("http://", "ws://") + "/v1/live/ws"
    with connect(ws, additional_headers={"X-API-Key": "lw_wrong"}, open_timeout=10) as refused:
        with pytest.raises(ConnectionClosed) as closed:
            refused.recv(timeout=5)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4429
    with connect(ws, additional_headers={"X-API-Key": harness.keys.public}) as accepted:
        with pytest.raises(TimeoutError):
            accepted.recv(timeout=0.2)
    assert harness.client.get("/healthz").status_code == 200
    metrics = httpx.get(f"http://127.0.0.1:{guarded[3]}/metrics").text
    assert 'leedswin_api_refused_total{reason="429"}' in metrics


def test_proxy_headers_are_trusted_only_from_configured_proxies(tmp_path: Path) -> None:
    def config(**api: object) -> object:
        settings = ApiSettings(registry=tmp_path / "r.sqlite3", **api)
        app = create_app(settings, InfluxSettings(), MqttSettings())
        return server_config(app, "127.0.0.1", 0)

    default = config()
    assert default.proxy_headers is False  # type: ignore[attr-defined]
    proxied = config(forwarded_allow_ips=("10.1.2.3",))
    assert proxied.proxy_headers is True  # type: ignore[attr-defined]
    assert proxied.forwarded_allow_ips == ["10.1.2.3"]  # type: ignore[attr-defined]

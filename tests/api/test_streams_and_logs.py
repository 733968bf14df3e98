"""Live streams end on revocation and on Ctrl-C; secrets never reach a log (real servers)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from leedswin.services import LocalInfluxDB, LocalMosquitto, free_port
from storage.registry import ApiKeys, Scope, open_registry
from tests.api.conftest import ApiHarness

pytestmark = pytest.mark.integration


def _sse_events(base_url: str, url: str, headers: dict[str, str], out: list[str]) -> None:
    """Read an SSE stream to its end on its own connection, collecting its lines (a thread)."""
    with (
        httpx.Client(base_url=base_url, timeout=httpx.Timeout(30)) as client,
        client.stream("GET", url, headers=headers) as response,
    ):
        out.append(f"status {response.status_code}")
        for line in response.iter_lines():
            out.append(line)


def _open_sse(
    base_url: str, url: str, headers: dict[str, str]
) -> tuple[threading.Thread, list[str]]:
    lines: list[str] = []
    reader = threading.Thread(target=_sse_events, args=(base_url, url, headers, lines), daemon=True)
    reader.start()
    deadline = time.monotonic() + 10
    while ": connected" not in lines:
        assert time.monotonic() < deadline, lines
        time.sleep(0.02)
    return reader, lines


def _ws(base_url: str, query: str = "", headers: dict[str, str] | None = None) -> ClientConnection:
    url = base_url.replace("http://", "ws://") + "/v1/live/ws" + query
    return connect(url, additional_headers=headers, open_timeout=10, legacy=True)


def _closed_with(websocket: object) -> int | None:
    try:
        while True:
            websocket.recv(timeout=5)  # type: ignore[attr-defined]
    except ConnectionClosed as exc:
        return exc.rcvd.code if exc.rcvd else None


@pytest.mark.parametrize("via", ["api", "cli"])
def test_revoking_a_key_ends_its_open_streams(api: ApiHarness, via: str) -> None:
    created = api.client.post(
        "/v1/keys",
        json={"name": f"revoked via {via}", "scope": "housing"},
        headers={"X-API-Key": api.keys.admin},
    )
    assert created.status_code == 201
    key_id, token = created.json()["key_id"], created.json()["token"]
    base = str(api.client.base_url)
    reader, lines = _open_sse(base, "/v1/live/sse", {"X-API-Key": token})
    websocket = _ws(base, headers={"X-API-Key": token})
    bystander = _ws(base, headers={"X-API-Key": api.keys.public})
    if via == "api":
        revoked = api.client.delete(f"/v1/keys/{key_id}", headers={"X-API-Key": api.keys.admin})
        assert revoked.status_code == 204
    else:  # what `leedswin keys revoke` does: another connection to the registry file
        conn = open_registry(api.settings.registry)
        assert ApiKeys(conn).revoke(key_id)
        conn.close()
    assert _closed_with(websocket) == 4401
    reader.join(5)
    assert not reader.is_alive(), "the SSE stream outlived its key"
    assert lines[-2:] == ["event: close", "data: revoked"] or lines[-3:-1] == [
        "event: close",
        "data: revoked",
    ]
    # Streams of other keys carry on.
    with pytest.raises(TimeoutError):
        bystander.recv(timeout=0.2)
    bystander.close()
    metrics = api.get("/metrics", "admin").text
    assert 'leedswin_api_live_streams_closed_total{reason="revoked"}' in metrics


def test_stream_tokens_open_sse_for_a_browser(api: ApiHarness) -> None:
    issued = api.client.post("/v1/live/tokens", headers={"X-API-Key": api.keys.public})
    assert issued.status_code == 201
    token = issued.json()["token"]
    assert token.startswith("st_") and issued.json()["lifetime"] > 0
    with api.client.stream("GET", f"/v1/live/sse?token={token}") as response:
        assert response.status_code == 200
        assert next(response.iter_lines()) == ": connected"
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    assert api.client.get(f"/v1/live/sse?token={forged}").status_code == 401
    assert api.client.get("/v1/live/sse?token=st_x.y").status_code == 401


def _wait_ready(process: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + 20
    while True:
        assert process.poll() is None, log.read_text()
        assert time.monotonic() < deadline, "`leedswin api` did not get ready"
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)


@pytest.fixture
def api_process(
    tmp_path: Path, influxdb: LocalInfluxDB, mosquitto: LocalMosquitto
) -> Iterator[tuple[subprocess.Popen[bytes], int, str, Path]]:
    """`leedswin api` as a real process at info level; yields it, its port, a key, its log."""
    registry = tmp_path / "keys.sqlite3"
    _, token = ApiKeys(open_registry(registry)).create("logs", Scope.HOUSING)
    port = free_port()
    leedswin = str(Path(sys.executable).with_name("leedswin"))
    args = [leedswin, "api", "--influx-url", influxdb.url]
    args += ["--influx-database", "logs_db", "--mqtt-url", mosquitto.url]
    args += ["--port", str(port), "--registry", str(registry)]
    log = tmp_path / "api.log"
    with open(log, "wb") as sink:
        process = subprocess.Popen(
            args, stdout=sink, stderr=subprocess.STDOUT, env=os.environ | {"NO_COLOR": "1"}
        )
    try:
        _wait_ready(process, port, log)
        yield process, port, token, log
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)


HOME_EUI, HOME_SITE = "70b365202457e62d", "home-0348"


def test_keys_never_reach_the_access_log_and_ctrl_c_stops_with_clients(
    api_process: tuple[subprocess.Popen[bytes], int, str, Path],
) -> None:
    process, port, token, log = api_process
    base = f"http://127.0.0.1:{port}"
    with httpx.Client(base_url=base) as client:
        stream_token = client.post("/v1/live/tokens", headers={"X-API-Key": token}).json()["token"]
        client.get("/v1/devices", params={"api_key": token})
        client.get("/v1/devices", params={"token": token, "need": "damp"})
        client.get(f"/v1/devices/{HOME_EUI}/readings", headers={"X-API-Key": token})
        client.get("/v1/aggregates", params={"site": HOME_SITE}, headers={"X-API-Key": token})
        reader, lines = _open_sse(base, f"/v1/live/sse?token={stream_token}", {})
        websocket = _ws(base, f"?api_key={token}")
        process.send_signal(signal.SIGINT)
        # Within two seconds although an SSE and a WebSocket client are connected.
        process.wait(timeout=2)
        reader.join(5)
        assert "event: close" in lines
        # 1001 "going away" (RFC 6455 §7.4.1), as the README promises: not uvicorn's 1012.
        assert _closed_with(websocket) == 1001
        websocket.close()
    text = log.read_text()
    assert "/v1/devices?api_key=[redacted]" in text, text
    assert "WebSocket /v1/live/ws?api_key=[redacted]" in text, text
    secret = token.split("_", 2)[2]
    assert secret not in text and stream_token not in text
    # Nor which homes were asked about: that is the audit log's, not the journal's.
    assert HOME_EUI not in text and HOME_SITE not in text
    assert "/v1/devices/[redacted]/readings" in text, text
    assert json.dumps(token)[1:-1] not in text

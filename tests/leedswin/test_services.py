"""The local servers bind to loopback only, answer, and stop by PID."""

from __future__ import annotations

import socket
import urllib.request

from leedswin.services import LocalInfluxDB, LocalMosquitto


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def test_mosquitto_starts_on_loopback_and_stops_by_pid() -> None:
    server = LocalMosquitto()
    with server:
        assert _listening(server.port)
        config = (server.root / "mosquitto.conf").read_text()
        assert f"listener {server.port} 127.0.0.1" in config
        assert "max_queued_messages 10000000" in config
    assert server.process is not None and server.process.poll() is not None
    assert not _listening(server.port)


def test_influxdb_answers_ping_and_keeps_data_across_restart() -> None:
    server = LocalInfluxDB()
    with server:
        urllib.request.urlopen(f"{server.url}/query?q=CREATE+DATABASE+keep", data=b"")
        server.restart()
        with urllib.request.urlopen(f"{server.url}/query?q=SHOW+DATABASES") as response:
            assert b"keep" in response.read()
        config = (server.root / "influxdb.conf").read_text()
        assert "0.0.0.0" not in config and ':"' not in config
    assert not _listening(server.port)

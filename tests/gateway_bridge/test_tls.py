"""Production transport: MQTT over TLS (``mqtts://``) and InfluxDB over HTTPS, end to end.

A CA, a server certificate for 127.0.0.1 and a client certificate are made in
the test (``tests.pki``). Mosquitto listens with TLS only and requires a client
certificate signed by that CA; influxd serves HTTPS only (``https-enabled``).
The bridge (`leedswin bridge` with its TLS flags) and the simulator (`leedswin
sim`) deliver every uplink; the API's live feed receives the bridge's readings
over the same broker.
"""

from __future__ import annotations

import asyncio
import ssl
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from api.live import LiveHub
from api.metrics import ApiMetrics
from api.scoped import Principal
from core.errors import ConfigError
from core.settings import MqttSettings
from firmware_sim.publisher import SimOptions
from firmware_sim.run import run_simulation
from leedswin.services import LocalInfluxDB, LocalMosquitto, ServerTls
from storage.registry import Scope
from tests.gateway_bridge.test_bridge_cli import BridgeProcess, sim, summary, wait_until
from tests.pki import Pki, make_pki

pytestmark = pytest.mark.integration

DB = "tls"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def servers(
    pki: Pki, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[LocalMosquitto, LocalInfluxDB]]:
    root = tmp_path_factory.mktemp("tls-servers")
    with (
        LocalMosquitto(
            root / "mosquitto", tls=ServerTls(pki.server_cert, pki.server_key, client_ca=pki.ca)
        ) as broker,
        LocalInfluxDB(root / "influxd", tls=ServerTls(pki.server_cert, pki.server_key)) as influx,
    ):
        yield broker, influx


def mqtt_flags(pki: Pki) -> tuple[str, ...]:
    return (
        "--mqtt-ca-file",
        str(pki.ca),
        "--mqtt-cert-file",
        str(pki.client_cert),
        "--mqtt-key-file",
        str(pki.client_key),
    )


def mqtt_settings(broker: LocalMosquitto, pki: Pki, client_id: str) -> MqttSettings:
    return MqttSettings(
        url=broker.url,
        ca_file=pki.ca,
        cert_file=pki.client_cert,
        key_file=pki.client_key,
        client_id=client_id,
    )


def stored(influx: LocalInfluxDB, pki: Pki) -> int:
    """Uplinks in the public and the home database, read over HTTPS."""
    total = 0
    for database in (DB, f"{DB}_home"):
        response = httpx.get(
            f"{influx.url}/query",
            params={"db": database, "q": 'SELECT count("f_cnt") FROM "uplink"'},
            verify=ssl.create_default_context(cafile=str(pki.ca)),
        )
        series = response.json()["results"][0].get("series", [])
        total += int(series[0]["values"][0][1]) if series else 0
    return total


def test_bridge_and_simulator_over_mqtts_store_every_uplink_over_https(
    servers: tuple[LocalMosquitto, LocalInfluxDB], pki: Pki
) -> None:
    broker, influx = servers
    assert broker.url.startswith("mqtts://") and influx.url.startswith("https://")
    bridge = BridgeProcess(
        broker,
        influx,
        DB,
        f"tls-{uuid.uuid4().hex[:6]}",
        *mqtt_flags(pki),
        "--influx-ca-file",
        str(pki.ca),
    )
    try:
        counts = summary(
            sim(broker, *mqtt_flags(pki), "--devices", "6", "--uplinks", "5", "--seed", "7")
        )
        published = counts["messages"]
        assert published == 30
        wait_until(lambda: bridge.metric("leedswin_bridge_acked_total") == published, 30, "acks")
        wait_until(lambda: stored(influx, pki) == published, 10, "every uplink stored")
        code, output = bridge.terminate()
        assert code == 0, output
    finally:
        bridge.kill()


def test_the_api_live_feed_receives_readings_over_mqtts(
    servers: tuple[LocalMosquitto, LocalInfluxDB], pki: Pki
) -> None:
    broker, influx = servers
    bridge = BridgeProcess(
        broker,
        influx,
        DB,
        f"tls-feed-{uuid.uuid4().hex[:6]}",
        *mqtt_flags(pki),
        "--influx-ca-file",
        str(pki.ca),
    )

    async def scenario() -> str:
        hub = LiveHub(mqtt_settings(broker, pki, f"api-{uuid.uuid4().hex[:6]}"), ApiMetrics())
        hub.start(asyncio.get_running_loop())
        try:
            for _ in range(200):
                if hub.connected:
                    break
                await asyncio.sleep(0.05)
            assert hub.connected, "the API's live feed never subscribed over mqtts"
            with hub.subscribe(Principal("k", "housing", Scope.HOUSING)) as sub:
                options = SimOptions(devices=3, uplinks=1, seed=11)
                publisher = mqtt_settings(broker, pki, f"sim-{uuid.uuid4().hex[:6]}")
                await asyncio.to_thread(run_simulation, publisher, options)
                reading = await asyncio.wait_for(sub.queue.get(), 30)
                assert reading is not None
                return reading.dev_eui
        finally:
            hub.stop()

    try:
        assert len(asyncio.run(scenario())) == 16
    finally:
        bridge.kill()


# paho 2.2 leaves the socket of a failed TLS handshake for the garbage collector
# (client.py _ssl_wrap_socket): its ResourceWarning is paho's, not ours.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_client_that_does_not_trust_the_broker_is_refused(
    servers: tuple[LocalMosquitto, LocalInfluxDB], tmp_path: Path
) -> None:
    broker, _ = servers
    stranger = make_pki(tmp_path / "other")  # a CA that did not sign the broker's certificate
    settings = mqtt_settings(broker, stranger, "stranger")
    with pytest.raises(ConfigError, match="MQTT broker"):
        run_simulation(settings, SimOptions(devices=1, uplinks=1, seed=1))


def test_tls_files_need_an_mqtts_url(pki: Pki) -> None:
    with pytest.raises(ValueError, match="mqtts"):
        MqttSettings(url="mqtt://127.0.0.1:1883", ca_file=pki.ca)
    assert MqttSettings(url="mqtts://broker.example").port == 8883

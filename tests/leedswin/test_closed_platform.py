"""The platform as `leedswin up` runs it, attacked from the outside: a closed broker and database.

Real Mosquitto 2.0 with the shipped password file and ACLs, real InfluxDB 1.6
with authentication on and the users ``storage.provision`` creates, the real
bridge and API. An innovator's broker account and the public database
credential must learn nothing about any home. Run twice: home data in a
database of their own on the same server, and on a server of their own
(``home_url``, what the demo runs), where the public server must not even see
a home's queries.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from prometheus_client import CollectorRegistry

from api.main import create_app
from core.settings import ApiSettings, BridgeSettings, InfluxSettings, MqttSettings
from firmware_sim.publisher import SimOptions
from firmware_sim.run import run_simulation
from gateway_bridge.service import serve
from leedswin.demo import INFLUX_USERS
from leedswin.services import (
    BRIDGE_ACCOUNT,
    HOUSING_ACCOUNT,
    NETWORK_ACCOUNT,
    SIM_ACCOUNT,
    LocalInfluxDB,
    LocalMosquitto,
)
from storage.provision import Account, provision
from storage.registry import ApiKeys, Scope, open_registry
from tests.api.conftest import serve as serve_api

pytestmark = pytest.mark.integration

INNOVATOR = "innovator"
PASSWORDS = {
    name: f"pw-{name}-{uuid.uuid4().hex[:8]}"
    for name in (BRIDGE_ACCOUNT, NETWORK_ACCOUNT, SIM_ACCOUNT, HOUSING_ACCOUNT, INNOVATOR)
}
ADMIN = Account("admin", "admin-" + uuid.uuid4().hex)
INFLUX_ACCOUNTS = {
    role: Account(name, f"{name}-{uuid.uuid4().hex}") for role, name in INFLUX_USERS.items()
}
DATABASE = "closed"
DEVICES = 12
UPLINKS = 6


def wait_until(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


class Client:
    """A paho MQTT 5 client recording its CONNACK, SUBACKs, messages and disconnects."""

    def __init__(
        self,
        broker: LocalMosquitto,
        username: str | None,
        password: str | None = None,
        client_id: str = "",
    ) -> None:
        self.connack: Any = None
        self.granted: list[Any] = []
        self.messages: list[tuple[str, bytes]] = []
        self.disconnects = 0
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5
        )
        if username is not None:
            self.client.username_pw_set(username, password)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda c, u, mid, codes, p: self.granted.extend(codes)
        self.client.on_message = lambda c, u, m: self.messages.append((m.topic, m.payload))
        self.client.on_disconnect = self._on_disconnect
        self.client.connect("127.0.0.1", broker.port)
        self.client.loop_start()
        wait_until(lambda: self.connack is not None, 10, "CONNACK")

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        self.connack = reason

    def _on_disconnect(self, *args: Any) -> None:
        self.disconnects += 1

    @property
    def accepted(self) -> bool:
        return not self.connack.is_failure

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


HOME_DATABASE = f"{DATABASE}_home"


@dataclass
class Platform:
    broker: LocalMosquitto
    influxdb: LocalInfluxDB
    home_influxdb: LocalInfluxDB | None
    metrics: CollectorRegistry
    published: int
    #: The SQLite registry the bridge keeps device state in; the API's too.
    registry: Path

    def influx(self, role: str | None) -> InfluxSettings:
        account = ADMIN if role is None else INFLUX_ACCOUNTS[role]
        return InfluxSettings(
            url=self.influxdb.url,
            home_url=self.home_influxdb.url if self.home_influxdb else None,
            database=DATABASE,
            username=account.username,
            password=account.password,
            create_database=False,
        )

    def server_of(self, database: str) -> LocalInfluxDB:
        if database == HOME_DATABASE and self.home_influxdb is not None:
            return self.home_influxdb
        return self.influxdb

    def mqtt(self, account: str) -> MqttSettings:
        return MqttSettings(
            url=self.broker.url, username=account, password=PASSWORDS[account], client_id=account
        )

    def raw_query(self, role: str | None, q: str, database: str = DATABASE) -> dict[str, Any]:
        account = ADMIN if role is None else INFLUX_ACCOUNTS[role]
        response = httpx.get(
            f"{self.server_of(database).url}/query",
            params={"db": database, "q": q},
            auth=(account.username, account.password),
        )
        return dict(response.json())

    def count(self, database: str, where: str) -> int:
        body = self.raw_query(None, f'SELECT count("f_cnt") FROM "uplink" WHERE {where}', database)
        series = body["results"][0].get("series", [])
        return int(series[0]["values"][0][1]) if series else 0


@pytest.fixture(scope="module", params=["one-server", "home-server"])
def platform(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Platform]:
    influxdb = LocalInfluxDB(auth=True, access_log=True)
    home = LocalInfluxDB(auth=True, access_log=True) if request.param == "home-server" else None
    with LocalMosquitto(accounts=PASSWORDS) as broker, influxdb, home or contextlib.nullcontext():
        base = InfluxSettings(
            url=influxdb.url, home_url=home.url if home else None, database=DATABASE
        )
        provision(base, ADMIN, INFLUX_ACCOUNTS)  # type: ignore[arg-type]
        stop = threading.Event()
        metrics = CollectorRegistry()
        ready = threading.Event()
        state = tmp_path_factory.mktemp("registry") / "registry.sqlite3"
        platform = Platform(broker, influxdb, home, metrics, 0, state)
        thread = threading.Thread(
            target=serve,
            args=(platform.mqtt(BRIDGE_ACCOUNT), platform.influx("bridge"), BridgeSettings(), stop),
            kwargs={"registry": metrics, "ready": ready, "state_registry": state},
        )
        thread.start()
        try:
            assert ready.wait(15), "the bridge did not subscribe with its account"
            options = SimOptions(devices=DEVICES, uplinks=UPLINKS, seed=5, interval=600.0)
            platform.published = run_simulation(platform.mqtt(NETWORK_ACCOUNT), options).published
            wait_until(
                lambda: (
                    metrics.get_sample_value("leedswin_bridge_acked_total") == platform.published
                ),
                30,
                "every uplink acknowledged",
            )
            # The bridge commits device state at least once a second after storing.
            registry = open_registry(state)
            wait_until(
                lambda: (
                    registry.execute("SELECT count(DISTINCT dev_eui) FROM device_state").fetchone()[
                        0
                    ]
                    == DEVICES
                ),
                10,
                "device state",
            )
            registry.close()
            yield platform
        finally:
            stop.set()
            thread.join(30)


def test_anonymous_and_wrong_password_are_refused(platform: Platform) -> None:
    anonymous = Client(platform.broker, None)
    wrong = Client(platform.broker, INNOVATOR, "not-the-password")
    try:
        assert not anonymous.accepted and anonymous.connack.value in (0x86, 0x87)
        assert not wrong.accepted and wrong.connack.value in (0x86, 0x87)
    finally:
        anonymous.close()
        wrong.close()


def test_innovator_reads_the_public_feed_and_nothing_else(platform: Platform) -> None:
    innovator = Client(platform.broker, INNOVATOR, PASSWORDS[INNOVATOR])
    assert innovator.accepted
    for topic in (
        "#",
        "application/+/device/+/event/up",
        "v3/+/devices/+/up",
        "leedswin/v1/restricted/#",
        "leedswin/v1/readings/#",
    ):
        innovator.client.subscribe(topic, qos=0)
    wait_until(lambda: len(innovator.granted) == 5, 10, "SUBACKs")
    more = SimOptions(devices=DEVICES, uplinks=2, seed=6, interval=600.0)
    before = platform.metrics.get_sample_value("leedswin_bridge_acked_total") or 0
    sent = run_simulation(platform.mqtt(SIM_ACCOUNT), more).published
    wait_until(
        lambda: platform.metrics.get_sample_value("leedswin_bridge_acked_total") == before + sent,
        30,
        "the new uplinks stored",
    )
    time.sleep(0.3)
    innovator.close()
    topics = {topic for topic, _ in innovator.messages}
    assert topics, "the public feed must reach an innovator"
    assert all(topic.startswith("leedswin/v1/readings/") for topic in topics), topics
    assert all(orjson.loads(payload)["privacy"] == "public" for _, payload in innovator.messages)


def test_innovator_cannot_forge_uplinks_or_readings(platform: Platform) -> None:
    listener = Client(platform.broker, HOUSING_ACCOUNT, PASSWORDS[HOUSING_ACCOUNT])
    listener.client.subscribe("leedswin/v1/#", qos=0)
    wait_until(lambda: len(listener.granted) == 1, 10, "SUBACK")
    stored = platform.count(DATABASE, "time > 0") + platform.count(f"{DATABASE}_home", "time > 0")
    received = platform.metrics.get_sample_value("leedswin_bridge_received_total")
    attacker = Client(platform.broker, INNOVATOR, PASSWORDS[INNOVATOR])
    fake = orjson.dumps({"deviceInfo": {"devEui": "ffffffffffffffff"}, "data": "AQI=", "fPort": 1})
    for topic in (
        "application/x/device/ffffffffffffffff/event/up",
        "v3/x@ttn/devices/ffffffffffffffff/up",
    ):
        attacker.client.publish(topic, fake, qos=1).wait_for_publish(5)
    reading = orjson.dumps({"dev_eui": "ffffffffffffffff", "privacy": "public", "values": {}})
    attacker.client.publish("leedswin/v1/readings/air_quality/ffffffffffffffff", reading, qos=1)
    attacker.client.publish("leedswin/v1/restricted/readings/damp/ffffffffffffffff", reading, qos=1)
    time.sleep(1.0)
    attacker.close()
    listener.close()
    assert platform.metrics.get_sample_value("leedswin_bridge_received_total") == received
    assert (
        platform.count(DATABASE, "time > 0") + platform.count(f"{DATABASE}_home", "time > 0")
        == stored
    )
    assert not [t for t, _ in listener.messages if t.endswith("ffffffffffffffff")]


def test_the_bridges_client_id_cannot_knock_the_bridge_off(
    platform: Platform, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="gateway_bridge.service")
    connected = platform.metrics.get_sample_value("leedswin_bridge_connected")
    assert connected == 1
    impostors = [
        Client(platform.broker, INNOVATOR, PASSWORDS[INNOVATOR], client_id=BRIDGE_ACCOUNT)
        for _ in range(3)
    ]
    before = platform.metrics.get_sample_value("leedswin_bridge_acked_total") or 0
    sent = run_simulation(
        platform.mqtt(NETWORK_ACCOUNT),
        SimOptions(devices=DEVICES, uplinks=2, seed=7, interval=600.0),
    ).published
    wait_until(
        lambda: platform.metrics.get_sample_value("leedswin_bridge_acked_total") == before + sent,
        30,
        "every uplink still delivered",
    )
    for impostor in impostors:
        impostor.close()
    # Each impostor's id became its username: the bridge's session was never taken over.
    assert platform.metrics.get_sample_value("leedswin_bridge_connected") == 1
    assert "mqtt_disconnected" not in caplog.text and "mqtt_connected" not in caplog.text
    assert (
        platform.count(DATABASE, "time > 0") + platform.count(f"{DATABASE}_home", "time > 0")
        >= before + sent
    )


def test_home_points_go_only_to_the_home_database(platform: Platform) -> None:
    assert platform.count(DATABASE, "\"privacy\" = 'home'") == 0
    assert platform.count(HOME_DATABASE, "\"privacy\" = 'public'") == 0
    homes = platform.count(HOME_DATABASE, "\"privacy\" = 'home'")
    publics = platform.count(DATABASE, "\"privacy\" = 'public'")
    assert homes and publics
    assert homes + publics == platform.count(DATABASE, "time > 0") + platform.count(
        HOME_DATABASE, "time > 0"
    )


def test_a_home_server_of_their_own_shows_the_public_server_nothing(
    platform: Platform,
) -> None:
    """On a shared 1.x server any user reads running queries (SHOW QUERIES) and anyone
    reads per-database counters (/debug/vars); with ``home_url`` neither reaches homes."""
    if platform.home_influxdb is None:
        pytest.skip("home data on the public server")
    home_server = platform.home_influxdb
    databases = platform.raw_query(None, "SHOW DATABASES")["results"][0]["series"][0]["values"]
    assert [HOME_DATABASE] not in databases
    assert HOME_DATABASE not in httpx.get(f"{platform.influxdb.url}/debug/vars").text
    assert HOME_DATABASE in httpx.get(f"{home_server.url}/debug/vars").text
    public = INFLUX_ACCOUNTS["public"]
    refused = httpx.get(
        f"{home_server.url}/query",
        params={"q": "SHOW QUERIES"},
        auth=(public.username, public.password),
    )
    assert refused.status_code == 401
    # The housing path's statements about one home go to the home server only.
    api = ApiSettings(registry=platform.registry)
    housing_key = ApiKeys(open_registry(api.registry)).create("officer", Scope.HOUSING)[1]
    app = create_app(api, platform.influx("housing"), platform.mqtt(HOUSING_ACCOUNT))
    homes = platform.raw_query(
        None, 'SHOW TAG VALUES FROM "uplink" WITH KEY = "dev_eui"', HOME_DATABASE
    )["results"][0]["series"][0]["values"]
    home = homes[0][1]
    sites = platform.raw_query(
        None, 'SHOW TAG VALUES FROM "uplink" WITH KEY = "site"', HOME_DATABASE
    )["results"][0]["series"][0]["values"]
    site = sites[0][1]
    with serve_api(app) as base, httpx.Client(base_url=base) as client:
        headers = {"X-API-Key": housing_key}
        for path, params in (
            (f"/v1/devices/{home}/readings", {"quantity": "relative_humidity"}),
            ("/v1/devices", {"site": site}),
            ("/v1/aggregates", {"quantity": "relative_humidity", "site": site, "every": "1h"}),
            ("/v1/housing/homes", {}),
        ):
            answer = client.get(path, params=params, headers=headers)
            assert answer.status_code == 200, (path, answer.text)
    public_log = platform.influxdb.log_path.read_text()
    assert home not in public_log and site not in public_log
    assert "%22home%22" not in public_log  # no privacy = 'home' statement either
    assert home in home_server.log_path.read_text()


@pytest.mark.parametrize(
    ("database", "query"),
    [
        (f"{DATABASE}_home", "SELECT * FROM damp_risk"),
        (f"{DATABASE}_home", 'SELECT * FROM "uplink"'),
        (DATABASE, f'SELECT * FROM "{DATABASE}_home".."uplink"'),
        (DATABASE, f'SELECT * FROM "{DATABASE}".."uplink", "{DATABASE}_home".."uplink"'),
    ],
)
def test_the_public_credential_cannot_read_the_home_database(
    platform: Platform, database: str, query: str
) -> None:
    body = platform.raw_query("public", query, database)
    error = body.get("error") or body["results"][0].get("error", "")
    # One server: no grant. Home server of their own: no account there, no database here.
    refusals = ("not authorized", "authorization failed", f"database not found: {HOME_DATABASE}")
    assert any(refusal in error for refusal in refusals), body


def test_the_public_credential_reads_public_data_and_cannot_write(platform: Platform) -> None:
    body = platform.raw_query("public", 'SELECT count("f_cnt") FROM "uplink"')
    assert body["results"][0]["series"][0]["values"][0][1] > 0
    response = httpx.post(
        f"{platform.influxdb.url}/write",
        params={"db": DATABASE},
        content=b"uplink,privacy=public f_cnt=1i 1",
        auth=(INFLUX_ACCOUNTS["public"].username, INFLUX_ACCOUNTS["public"].password),
    )
    assert response.status_code == 403


def test_api_answers_for_both_scopes_over_their_own_credentials(
    platform: Platform,
) -> None:
    api = ApiSettings(registry=platform.registry)
    keys = ApiKeys(open_registry(api.registry))
    public_key = keys.create("innovator", Scope.PUBLIC)[1]
    housing_key = keys.create("officer", Scope.HOUSING)[1]
    public = INFLUX_ACCOUNTS["public"]
    influx = platform.influx("housing").model_copy(
        update={
            "public_username": public.username,
            "public_password": InfluxSettings(password=public.password).password,
        }
    )
    app = create_app(api, influx, platform.mqtt(HOUSING_ACCOUNT))
    with serve_api(app) as base, httpx.Client(base_url=base) as client:
        # Ready means the live feed subscribed both trees with the housing account.
        wait_until(lambda: client.get("/readyz").status_code == 200, 15, "API ready")
        public_devices = client.get("/v1/devices", headers={"X-API-Key": public_key})
        housing_devices = client.get("/v1/devices", headers={"X-API-Key": housing_key})
    assert public_devices.status_code == housing_devices.status_code == 200
    public_rows = public_devices.json()["data"]
    housing_rows = housing_devices.json()["data"]
    assert public_rows and all(row["privacy"] == "public" for row in public_rows)
    assert {row["privacy"] for row in housing_rows} == {"public", "home"}
    assert {r["dev_eui"] for r in public_rows} < {r["dev_eui"] for r in housing_rows}


def test_bridge_metrics_carry_no_home_public_split(platform: Platform) -> None:
    for family in platform.metrics.collect():
        assert not any(word in family.name for word in ("home", "public", "restricted", "privacy"))
        for sample in family.samples:
            assert not set(sample.labels) & {"privacy", "need", "site", "dev_eui"}, sample

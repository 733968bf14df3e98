"""Health, readiness, metrics, OpenAPI, device metadata, and the privacy guard rails as units."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from api.live import LiveHub, Subscription, parse_message
from api.main import create_app
from api.metrics import ApiMetrics
from api.ratelimit import RateLimiter
from api.scoped import Principal, PublicDevices, ScopedReadings
from core.settings import ApiSettings, InfluxSettings, MqttSettings
from leedswin.services import LocalInfluxDB, LocalMosquitto, free_port
from storage.query import Series
from storage.registry import Scope
from tests.api.conftest import HOME_A, PUBLIC_A, PUBLIC_B, ApiHarness, make_keys, serve

PUBLIC = Principal("k1", "innovator", Scope.PUBLIC)
HOUSING = Principal("k2", "housing", Scope.HOUSING)


class RecordingRunner:
    """A fake query runner (unit tests only): records statements, returns canned series."""

    def __init__(self, series: list[Series] | None = None) -> None:
        self.calls: list[tuple[str, dict[str, object]]] = []
        self.series = series or []

    def query(self, q: str, params: dict[str, object] | None = None) -> list[Series]:
        self.calls.append((q, dict(params or {})))
        return self.series


def test_scoped_queries_always_carry_the_privacy_filter() -> None:
    runner = RecordingRunner()
    ScopedReadings(runner, PUBLIC, timedelta(days=1)).query(
        'SELECT * FROM "climate" WHERE {privacy}'
    )
    statement, params = runner.calls[0]
    assert '"privacy" = $scope_privacy' in statement and params["scope_privacy"] == "public"
    ScopedReadings(runner, HOUSING, timedelta(days=1)).query(
        'SELECT * FROM "climate" WHERE {privacy}'
    )
    assert "scope_privacy" not in runner.calls[1][1]


@pytest.mark.parametrize(
    "statement", ['SELECT * FROM "climate"', 'SELECT * FROM "c" WHERE {privacy} OR {privacy}']
)
def test_statements_without_exactly_one_privacy_marker_are_refused(statement: str) -> None:
    with pytest.raises(ValueError, match="privacy"):
        ScopedReadings(RecordingRunner(), PUBLIC, timedelta(days=1)).query(statement)


@pytest.mark.parametrize(
    ("public", "expected"),
    [
        # No home device has public points: no device regex at all.
        ({PUBLIC_A.dev_eui}, '("privacy" = $scope_privacy)'),
        # One has: only the other public devices are named, never the home one.
        (
            {PUBLIC_A.dev_eui, PUBLIC_B.dev_eui, HOME_A.dev_eui},
            f'("privacy" = $scope_privacy AND "dev_eui" =~ /^(?:{PUBLIC_A.dev_eui}|{PUBLIC_B.dev_eui})$/)',
        ),
    ],
)
def test_public_queries_include_public_devices_rather_than_exclude_home_ones(
    public: set[str], expected: str
) -> None:
    runner = RecordingRunner()
    scoped = ScopedReadings(
        runner, PUBLIC, timedelta(days=1), hidden={HOME_A.dev_eui}, public=lambda: public
    )
    scoped.query("SELECT {privacy}")
    assert runner.calls[0][0] == f"SELECT {expected}"


def test_nothing_is_asked_when_every_device_with_public_points_is_home() -> None:
    runner = RecordingRunner()
    scoped = ScopedReadings(
        runner, PUBLIC, timedelta(days=1), hidden={HOME_A.dev_eui}, public=lambda: {HOME_A.dev_eui}
    )
    assert scoped.query("SELECT {privacy}") == [] and runner.calls == []


def test_public_devices_are_read_from_the_index_and_cached() -> None:
    runner = RecordingRunner(
        [Series("uplink", {}, ["key", "value"], [["dev_eui", PUBLIC_A.dev_eui], ["dev_eui", "x"]])]
    )
    devices = PublicDevices(ttl=3600)
    assert devices.get(runner) == {PUBLIC_A.dev_eui}
    assert devices.get(runner) == {PUBLIC_A.dev_eui} and len(runner.calls) == 1
    assert runner.calls[0][0].startswith("SHOW TAG VALUES")


def test_series_tagged_home_never_leave_for_a_public_key() -> None:
    leaked = Series("climate", {"privacy": "home", "dev_eui": HOME_A.dev_eui}, ["time"], [[0]])
    runner = RecordingRunner([leaked])
    assert ScopedReadings(runner, PUBLIC, timedelta(days=1)).query("SELECT {privacy}") == []
    assert ScopedReadings(runner, HOUSING, timedelta(days=1)).query("SELECT {privacy}") == [leaked]


@pytest.mark.parametrize(
    ("topic", "privacy", "restricted"),
    [
        ("leedswin/v1/readings/air_quality/a", "public", False),
        ("leedswin/v1/readings/damp/b", "home", True),
        ("leedswin/v1/readings/damp/b", None, True),
        ("leedswin/v1/readings/damp/b", "PUBLIC", True),
        ("leedswin/v1/restricted/readings/damp/b", "public", True),
    ],
)
def test_live_privacy_fails_closed(topic: str, privacy: str | None, restricted: bool) -> None:
    payload = (
        '{"dev_eui":"b","model":"m","need":"damp","site":"s","time":"t","time_ns":1,"lat":53.8,"lon":-1.5,'
        '"values":{"temperature":20.0}' + (f',"privacy":"{privacy}"' if privacy else "") + "}"
    )
    event = parse_message(topic, payload.encode())
    assert event.restricted is restricted
    assert event.reading.privacy == ("home" if restricted else "public")
    assert not Subscription(PUBLIC).accepts(event) if restricted else True
    assert Subscription(HOUSING).accepts(event)


def test_slow_client_loses_oldest_readings_and_they_are_counted() -> None:
    async def scenario() -> tuple[int, float]:
        metrics = ApiMetrics()
        hub = LiveHub(MqttSettings(), metrics)
        event = parse_message(
            "leedswin/v1/readings/air_quality/a",
            b'{"dev_eui":"a","model":"m","need":"air_quality","site":"s","privacy":"public",'
            b'"time":"t","time_ns":1,"values":{"co2":1.0}}',
        )
        with hub.subscribe(PUBLIC) as sub:
            for _ in range(sub.queue.maxsize + 10):
                hub._dispatch(event)
            return sub.queue.qsize(), metrics.live_dropped._value.get()

    size, dropped = asyncio.run(scenario())
    assert dropped == 10 and size > 0


def test_rate_limiter_refills() -> None:
    limiter = RateLimiter(per_minute=60)
    assert all(limiter.take("k") == 0 for _ in range(60))
    assert limiter.take("k") >= 1
    assert limiter.take("other") == 0


@pytest.mark.integration
def test_health_ready_metrics(api: ApiHarness) -> None:
    assert api.client.get("/healthz").json() == {"status": "ok", "checks": {}}
    ready = api.client.get("/readyz").json()
    assert ready["checks"].keys() == {"mqtt", "influxdb"}
    api.get("/v1/devices", "public")
    assert api.client.get("/metrics").status_code == 401
    assert api.get("/metrics", "public").status_code == 403
    text = api.get("/metrics", "admin").text
    assert 'leedswin_api_requests_total{method="GET",route="/v1/devices",status="200"}' in text
    assert "leedswin_api_live_clients" in text


@pytest.mark.integration
def test_not_ready_when_influxdb_is_unreachable(tmp_path: Path, mosquitto: LocalMosquitto) -> None:
    app = create_app(
        ApiSettings(registry=tmp_path / "r.sqlite3"),
        InfluxSettings(url=f"http://127.0.0.1:{free_port()}", timeout=1),
        MqttSettings(url=mosquitto.url),
    )
    keys = make_keys(tmp_path / "r.sqlite3")
    with serve(app) as base, httpx.Client(base_url=base) as client:
        ready = client.get("/readyz")
        assert ready.status_code == 503 and ready.json()["checks"]["influxdb"] is False
        # The device list is device state (the registry): it does not need InfluxDB.
        assert client.get("/v1/devices", headers={"X-API-Key": keys.public}).status_code == 200
        down = client.get(
            "/v1/aggregates",
            params={"quantity": "temperature", "every": "1h"},
            headers={"X-API-Key": keys.public},
        )
        assert down.status_code == 503 and "unavailable" in down.json()["detail"]


def test_openapi_has_stable_ids_examples_and_the_key_scheme(tmp_path: Path) -> None:
    spec = create_app(
        ApiSettings(registry=tmp_path / "unused"), InfluxSettings(), MqttSettings()
    ).openapi()
    ids = {op["operationId"] for path in spec["paths"].values() for op in path.values()}
    assert {
        "list_devices",
        "get_device",
        "list_readings",
        "list_latest",
        "get_aggregates",
        "live_sse",
        "healthz",
        "readyz",
    } <= ids
    assert spec["components"]["securitySchemes"]["APIKeyHeader"]["name"] == "X-API-Key"
    assert spec["components"]["schemas"]["DevicePublic"]["examples"]


@pytest.mark.integration
def test_device_registry_gives_wards_and_public_coordinates_only(
    tmp_path: Path, influxdb: LocalInfluxDB, mosquitto: LocalMosquitto, api: ApiHarness
) -> None:
    registry = tmp_path / "devices.yaml"
    registry.write_text(
        "devices:\n"
        f"  - {{dev_eui: '{PUBLIC_A.dev_eui}', model: m, site: briggate, privacy: public,"
        " ward: City and Hunslet, lat: 53.7996, lon: -1.5412}\n"
        f"  - {{dev_eui: '{HOME_A.dev_eui}', model: m, site: x, privacy: home, ward: Headingley}}\n"
        # Stored as public, now reclassified: the registry wins for public keys.
        f"  - {{dev_eui: '{PUBLIC_B.dev_eui}', model: m, site: x, privacy: home}}\n"
    )
    app = create_app(
        ApiSettings(registry=api.settings.registry),
        InfluxSettings(url=influxdb.url, database=api.database),
        MqttSettings(url=mosquitto.url),
        registry,
    )
    with serve(app) as base, httpx.Client(base_url=base) as client:
        headers = {"X-API-Key": api.keys.housing}
        public = client.get(f"/v1/devices/{PUBLIC_A.dev_eui}", headers=headers).json()
        home = client.get(f"/v1/devices/{HOME_A.dev_eui}", headers=headers).json()
        listed = client.get("/v1/registry/devices", headers={"X-API-Key": api.keys.admin})
        refused = client.get("/v1/registry/devices", headers=headers)
        as_public = {"X-API-Key": api.keys.public}
        public_list = client.get("/v1/devices", headers=as_public).json()
        reclassified = client.get(f"/v1/devices/{PUBLIC_B.dev_eui}", headers=as_public)
        latest = client.get("/v1/latest", headers=as_public, params={"need": "air_quality"})
        by_device = client.get(
            "/v1/aggregates", headers=as_public, params={"quantity": "temperature"}
        )
        housing_list = client.get("/v1/devices", headers=headers).json()
    assert (public["ward"], public["lat"], public["lon"]) == ("City and Hunslet", 53.7996, -1.5412)
    assert (home["ward"], home["lat"], home["lon"]) == ("Headingley", None, None)
    assert refused.status_code == 403
    assert [d["dev_eui"] for d in listed.json()["data"]] == [
        PUBLIC_A.dev_eui,
        PUBLIC_B.dev_eui,
        HOME_A.dev_eui,
    ]
    assert [d["dev_eui"] for d in public_list["data"]] == [PUBLIC_A.dev_eui]
    assert reclassified.status_code == 404
    assert PUBLIC_B.dev_eui not in latest.text and PUBLIC_B.dev_eui not in by_device.text
    assert PUBLIC_B.dev_eui in {d["dev_eui"] for d in housing_list["data"]}


def test_live_metrics_count_public_readings_only() -> None:
    """A counter of every message would grow by exactly the home readings a public key misses."""

    class Message:
        def __init__(self, topic: str, payload: bytes) -> None:
            self.topic, self.payload = topic, payload

    metrics = ApiMetrics()
    hub = LiveHub(MqttSettings(), metrics)
    home = (
        b'{"dev_eui":"b","model":"m","need":"damp","site":"s","privacy":"home",'
        b'"time":"t","time_ns":1,"values":{"temperature":1.0}}'
    )
    public = home.replace(b'"home"', b'"public"')
    hub._on_message(None, None, Message("leedswin/v1/restricted/readings/damp/b", home))  # type: ignore[arg-type]
    hub._on_message(None, None, Message("leedswin/v1/readings/damp/b", home))  # type: ignore[arg-type]
    hub._on_message(None, None, Message("leedswin/v1/restricted/readings/damp/b", b"junk"))  # type: ignore[arg-type]
    hub._on_message(None, None, Message("leedswin/v1/readings/damp/a", public))  # type: ignore[arg-type]
    assert metrics.live_messages._value.get() == 1
    assert metrics.live_bad._value.get() == 0
    text = metrics.render().decode()
    assert "home" not in text and "restricted" not in text


def test_store_refusals_are_400_and_outages_503() -> None:
    from api.main import _store_error
    from core.errors import QueryError

    refused = QueryError("SELECT …: HTTP 400: error parsing query: overflowed duration 15251w")
    assert _store_error(refused)[0] == 400
    assert _store_error(QueryError("SELECT …: HTTP 500: internal"))[0] == 503
    assert _store_error(QueryError("SELECT … (statement 0): database not found: x"))[0] == 503
    try:
        raise QueryError("SELECT …: ConnectError: refused") from httpx.ConnectError("refused")
    except QueryError as exc:
        assert _store_error(exc)[0] == 503


def test_key_redaction_in_log_lines() -> None:
    from api.redact import redact

    line = (
        "GET /v1/live/ws?need=damp&api_key=lw_0123456789ab_s3cr3t-Value&token=st_abc.def HTTP/1.1"
    )
    cleaned = redact(line)
    assert "s3cr3t" not in cleaned and "st_abc" not in cleaned and "need=damp" in cleaned
    assert "lw_" not in redact("key lw_0123456789ab_s3cr3tValue").replace("lw_[redacted]", "")

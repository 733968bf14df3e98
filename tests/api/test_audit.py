"""The audit log of personal-data access, on the real servers: one record per read, refusals
recorded without changing the public answer, append-only, admins only."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from api.audit import AuditRecorder
from api.main import create_app
from core.settings import InfluxSettings
from leedswin.services import LocalInfluxDB, LocalMosquitto
from storage.audit import AuditLog, AuditRecord
from storage.influx import make_sink
from storage.points import encode
from storage.registry import open_registry
from tests.api.conftest import (
    HOME_A,
    PUBLIC_A,
    STEP_NS,
    ApiHarness,
    build_points,
    make_keys,
    make_settings,
    observe,
    serve,
)

pytestmark = pytest.mark.integration

NOWHERE = "c0ffee0000000001"


@pytest.fixture(scope="module")
def harness(
    tmp_path_factory: pytest.TempPathFactory, influxdb: LocalInfluxDB, mosquitto: LocalMosquitto
) -> Iterator[ApiHarness]:
    tmp_path = tmp_path_factory.mktemp("audit")
    settings = make_settings(
        tmp_path, influxdb, mosquitto, f"audit_{time.time_ns()}", bad_keys_per_minute=100_000
    )
    points, data = build_points(time.time_ns() - 5 * STEP_NS)
    sink = make_sink(settings[1])  # home points go to the home database, as the bridge's do
    sink.ensure_database()
    sink.write(encode(points))
    sink.close()
    keys = make_keys(settings[0].registry)
    observe(settings[0].registry, points)
    with serve(create_app(*settings)) as base_url, httpx.Client(base_url=base_url) as client:
        yield ApiHarness(client, keys, data, settings[0], settings[1].database)


def _audit(h: ApiHarness, **params: object) -> list[dict[str, object]]:
    response = h.get("/v1/audit", "admin", **params)
    assert response.status_code == 200, response.text
    return list(response.json()["data"])


def test_a_housing_read_of_a_home_leaves_exactly_one_record(harness: ApiHarness) -> None:
    before = datetime.now(UTC)
    start = (before - timedelta(hours=2)).isoformat()
    path = f"/v1/devices/{HOME_A.dev_eui}/readings"
    response = harness.get(path, "housing", quantity="temperature", start=start)
    assert response.status_code == 200 and response.json()["data"]
    records = [r for r in _audit(harness, home=HOME_A.dev_eui) if r["endpoint"] == f"GET {path}"]
    assert len(records) == 1
    record = records[0]
    assert record["key_name"] == "housing team" and record["scope"] == "housing"
    assert record["outcome"] == "ok" and record["action"] == "read" and record["status"] == 200
    assert record["client"] == "127.0.0.1"
    assert record["range_start"] is not None
    assert datetime.fromisoformat(str(record["range_start"])) == datetime.fromisoformat(start)
    assert datetime.fromisoformat(str(record["at"])) >= before - timedelta(seconds=1)


def test_housing_routes_are_audited_once_each(harness: ApiHarness) -> None:
    harness.get("/v1/housing/homes/ffffffffffffff01", "housing", days=3)
    records = _audit(harness, home="ffffffffffffff01")
    assert [(r["endpoint"], r["outcome"], r["status"]) for r in records] == [
        ("GET /v1/housing/homes/ffffffffffffff01", "refused", 404)
    ]
    assert harness.get("/v1/housing/homes", "public").status_code == 403
    refused = [
        r for r in _audit(harness, outcome="refused") if r["endpoint"] == "GET /v1/housing/homes"
    ]
    assert len(refused) == 1 and refused[0]["scope"] == "public"


def test_a_public_refusal_is_recorded_and_the_answer_is_unchanged(harness: ApiHarness) -> None:
    home = harness.get(f"/v1/devices/{HOME_A.dev_eui}", "public")
    nowhere = harness.get(f"/v1/devices/{NOWHERE}", "public")
    assert home.status_code == nowhere.status_code == 404
    assert home.content == nowhere.content
    strip = {"date", "content-length"}
    assert {k: v for k, v in home.headers.items() if k not in strip} == {
        k: v for k, v in nowhere.headers.items() if k not in strip
    }
    records = _audit(harness, home=HOME_A.dev_eui, outcome="refused")
    assert [(r["endpoint"], r["scope"], r["key_name"]) for r in records] == [
        (f"GET /v1/devices/{HOME_A.dev_eui}", "public", "innovator")
    ]
    # Neither a device that does not exist nor a public one is personal data.
    assert _audit(harness, home=NOWHERE) == []
    harness.get(f"/v1/devices/{PUBLIC_A.dev_eui}", "public")
    assert _audit(harness, home=PUBLIC_A.dev_eui) == []


def test_only_admins_read_the_log_and_nothing_edits_it(harness: ApiHarness) -> None:
    assert harness.get("/v1/audit", "housing").status_code == 403
    assert harness.get("/v1/audit", "public").status_code == 403
    for method in ("PUT", "PATCH", "DELETE"):
        status = harness.client.request(
            method, "/v1/audit", headers={"X-API-Key": harness.keys.admin}
        ).status_code
        assert status == 405
    conn = open_registry(harness.settings.registry)
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("UPDATE audit_log SET key_name = 'someone else'")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("DELETE FROM audit_log")
    conn.close()


def test_retention_purge_is_the_one_way_out(tmp_path: object) -> None:
    conn = open_registry(f"{tmp_path}/r.sqlite3")
    log = AuditLog(conn)
    now = datetime(2026, 11, 30, tzinfo=UTC)
    for age in (800, 10):
        log.append(
            AuditRecord(
                at=now - timedelta(days=age),
                key_id="k1",
                key_name="housing team",
                scope="housing",
                action="read",
                endpoint="GET /v1/housing/homes",
                outcome="ok",
            )
        )
    assert log.purge(timedelta(days=730), now=now) == 1
    kept = log.query()
    assert [r.action for r in kept] == ["read", "audit_purge"]
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute("DELETE FROM audit_log")  # the guard is back after the purge


def test_housing_reads_that_may_hold_homes_are_recorded(harness: ApiHarness) -> None:
    assert harness.get("/v1/latest", "housing", need="damp").status_code == 200
    records = [r for r in _audit(harness, home="*") if r["endpoint"] == "GET /v1/latest"]
    assert [(r["scope"], r["outcome"]) for r in records] == [("housing", "ok")]
    harness.get("/v1/latest", "public", need="air_quality")
    records = [r for r in _audit(harness, home="*") if r["endpoint"] == "GET /v1/latest"]
    assert len(records) == 1  # a public key's answer holds no home: not personal data


@pytest.mark.parametrize(
    ("path", "key", "params"),
    [
        (f"/v1/housing/homes/{HOME_A.dev_eui}", "housing", {"start": "0001-01-01T00:00:00+00:01"}),
        (
            f"/v1/devices/{HOME_A.dev_eui}/readings",
            "housing",
            {"quantity": "temperature", "until": "9999-12-31T23:59:59-01:00"},
        ),
        ("/v1/housing/tenancies/TY-404/export", "housing", {"since": "0001-01-01T00:00:00+00:01"}),
        (
            f"/v1/devices/{HOME_A.dev_eui}/readings",
            "public",
            {"quantity": "temperature", "until": "9999-12-31T23:59:59-01:00"},
        ),
    ],
)
def test_a_range_outside_what_can_be_stored_still_leaves_exactly_one_record(
    harness: ApiHarness, path: str, key: str, params: dict[str, str]
) -> None:
    before = _audit(harness, limit=10_000)
    response = harness.get(path, key, **params)
    after = _audit(harness, limit=10_000)
    new = [r for r in after[len(before) :] if r["endpoint"] == f"GET {path}"]
    assert len(new) == 1, (response.status_code, after[len(before) :])
    record = new[0]
    assert record["status"] == response.status_code
    assert record["outcome"] == ("refused" if key == "public" else record["outcome"])
    raw = next(iter(v for k, v in params.items() if k != "quantity"))
    assert record["range_start"] is None and record["range_end"] is None
    assert raw in str(record["detail"])


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("until", "0001-01-01T00:00:00+01:00"),
        ("since", "9999-12-31T23:59:59-01:00"),
        ("since", "0001-01-01T00:00:00+00:01"),
        ("since", "1969-12-31T23:59:59Z"),
    ],
)
def test_audit_bounds_the_log_cannot_hold_are_a_typed_422(
    harness: ApiHarness, name: str, value: str
) -> None:
    response = harness.get("/v1/audit", "admin", **{name: value})
    assert response.status_code == 422, response.text
    (error,) = response.json()["detail"]
    assert error["loc"] == ["query", name] and "1970" in error["msg"]


def test_a_registry_home_dev_eui_costs_the_audit_thread_what_any_other_does(
    tmp_path: Path,
) -> None:
    """Fresh-eyes review: the thread answered a registry-home DevEUI at once and looked any
    other up in SQLite and InfluxDB, so a public key timing its next request told them apart.
    Now every DevEUI is looked up the same way."""
    home, other = "70b3c2bbaca4b755", "fedcba9876543210"

    class Devices:
        def not_public(self) -> frozenset[str]:
            return frozenset({home})

    class Influx:
        def __init__(self) -> None:
            self.asked: list[str] = []

        def query(self, q: str, params: dict[str, str], *, database: str) -> list[object]:
            self.asked.append(q)
            return []

    registry = tmp_path / "r.sqlite3"
    conn = open_registry(registry)
    recorder = AuditRecorder(
        registry,
        InfluxSettings(url="http://127.0.0.1:1", database="x"),
        Devices(),  # type: ignore[arg-type]
        None,  # type: ignore[arg-type]
        timedelta(days=1),
    )
    asked = {}
    for dev_eui, expected in ((home, True), (other, False)):
        influx = Influx()
        assert recorder._is_home(conn, influx, dev_eui) is expected  # type: ignore[arg-type]  # noqa: SLF001
        asked[dev_eui] = influx.asked
    assert asked[home] == asked[other] and len(asked[home]) == 1
    conn.close()

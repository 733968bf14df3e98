"""A tenancy exported and erased end to end on the real servers (API and CLI), every step audited.

One home device; its old household (damp, an alert with a staff note) moved out
two days ago and a new one moved in; a neighbouring home has its own tenancy.
"""

from __future__ import annotations

import io
import json
import time
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from api.main import create_app
from core.settings import InfluxSettings, InsightsSettings
from insights.alerts import AlertStore
from insights.fleet import FleetStore
from insights.jobs import InsightsJobs, floor_hour
from leedswin.cli import app as cli
from leedswin.services import LocalInfluxDB, LocalMosquitto
from storage.influx import make_sink
from storage.points import encode, make_point
from storage.query import InfluxQL
from storage.registry import open_registry
from storage.schema import TAG_KEYS
from storage.tenancy import Tenancies
from tests.api.conftest import ApiHarness, Dataset, make_keys, make_settings, serve
from tests.insights.test_jobs_integration import climate

pytestmark = pytest.mark.integration

DEV = "d0000000000000e5"
NEIGHBOUR = "d0000000000000f6"
UNTIL = floor_hour(datetime.now(UTC))
START = UNTIL - timedelta(days=9)
MOVE = UNTIL - timedelta(days=2)
NOTE = "tenant mentioned a new baby and a broken extractor fan"


def _uplinks(dev: str, start: datetime, hours: int) -> list[object]:
    tags = {"dev_eui": dev, "model": "milesight_em300_th", "site": f"home-{dev}"}
    tags |= {"privacy": "home", "need": "damp"}
    return [
        make_point(
            "uplink",
            tags,
            {"f_cnt": i, "f_port": 85, "rssi": -100.0, "snr": 5.0, "gateways": 1},
            int((start + i * timedelta(minutes=30)).timestamp()) * 10**9,
        )
        for i in range(hours * 2)
    ]


@pytest.fixture(scope="module")
def harness(
    tmp_path_factory: pytest.TempPathFactory, influxdb: LocalInfluxDB, mosquitto: LocalMosquitto
) -> Iterator[tuple[ApiHarness, InfluxSettings]]:
    tmp_path = tmp_path_factory.mktemp("erasure")
    settings = make_settings(tmp_path, influxdb, mosquitto, f"erase_{time.time_ns()}")
    api_settings, influx, _ = settings
    sink = make_sink(influx)
    sink.ensure_database()
    old_hours, new_hours = 7 * 24, 2 * 24
    sink.write(encode(climate(DEV, START, old_hours, 19.0, 85.0)))
    sink.write(encode(climate(DEV, MOVE, new_hours, 21.0, 45.0)))
    sink.write(encode(_uplinks(DEV, START, 9 * 24)))
    sink.write(encode(climate(NEIGHBOUR, START, 9 * 24, 19.0, 85.0)))
    conn = open_registry(api_settings.registry)
    store = Tenancies(conn)
    for prop, dev in (("P-001", DEV), ("P-002", NEIGHBOUR)):
        store.create_property(prop)
        store.assign(dev, prop, START - timedelta(days=30))
    store.open_tenancy("P-001", START - timedelta(days=30), "TEN-OLD1")
    store.end_tenancy("TEN-OLD1", MOVE)
    store.open_tenancy("P-001", MOVE, "TEN-NEW2")
    store.open_tenancy("P-002", START - timedelta(days=30), "TEN-NBR3")
    with InfluxQL(influx) as query:
        InsightsJobs(InsightsSettings(), query, sink, AlertStore(conn), tenancies=store).run(
            START, UNTIL
        )
    conn.close()
    sink.close()
    keys = make_keys(api_settings.registry)
    # The test server has no authentication: any user name stands for the erasure user.
    eraser = influx.model_copy(update={"erasure_username": "eraser"})
    app = create_app(api_settings, eraser, settings[2])
    with serve(app) as base_url, httpx.Client(base_url=base_url) as client:
        yield ApiHarness(client, keys, Dataset({}, 0, 0), api_settings), influx


def test_erasure_without_its_own_credential_is_refused_and_says_how(
    tmp_path: Path, influxdb: LocalInfluxDB, mosquitto: LocalMosquitto
) -> None:
    """The API's own InfluxDB user only reads; deleting needs the LEEDSWIN_INFLUX_ERASURE_* user."""
    api_settings, influx, mqtt = make_settings(tmp_path, influxdb, mosquitto, "erase_refused")
    assert influx.erasure() is None
    assert influx.model_copy(update={"erasure_username": "e"}).erasure().username == "e"  # type: ignore[union-attr]
    keys = make_keys(api_settings.registry)
    conn = open_registry(api_settings.registry)
    store = Tenancies(conn)
    store.create_property("P-009")
    store.assign(DEV, "P-009", START - timedelta(days=30))
    store.open_tenancy("P-009", START - timedelta(days=30), "TEN-GONE9")
    store.end_tenancy("TEN-GONE9", MOVE)
    conn.close()
    with (
        serve(create_app(api_settings, influx, mqtt)) as base_url,
        httpx.Client(base_url=base_url) as client,
    ):
        h = ApiHarness(client, keys, Dataset({}, 0, 0), api_settings)
        refused = _post(h, "/v1/housing/tenancies/TEN-GONE9/erase", {})
        assert refused.status_code == 503
        assert "LEEDSWIN_INFLUX_ERASURE_USERNAME" in refused.json()["detail"]
        assert (
            _post(h, "/v1/housing/tenancies/TEN-GONE9/erase", {"dry_run": True}).status_code == 200
        )


def _counts(influx: InfluxSettings, dev: str, start: datetime, end: datetime) -> dict[str, int]:
    """Points per measurement of ``dev`` in [start, end), both databases."""
    out: dict[str, int] = {}
    with InfluxQL(influx) as client:
        for name in ("climate", "uplink", "damp_risk"):
            series = client.query(
                f'SELECT count(*) FROM "{name}" WHERE "dev_eui" = $d AND time >= $a AND time < $b',
                {"d": dev, "a": int(start.timestamp()) * 10**9, "b": int(end.timestamp()) * 10**9},
            )
            out[name] = max((int(v) for s in series for v in s.values[0][1:] if v), default=0)
    return out


def _export(h: ApiHarness, ref: str) -> zipfile.ZipFile:
    response = h.get(f"/v1/housing/tenancies/{ref}/export", "housing")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    return zipfile.ZipFile(io.BytesIO(response.content))


def _post(h: ApiHarness, path: str, body: dict[str, object]) -> httpx.Response:
    return h.client.post(path, json=body, headers={"X-API-Key": h.keys.housing})


def test_export_erase_and_what_stays(harness: tuple[ApiHarness, InfluxSettings]) -> None:
    h, influx = harness
    old = _counts(influx, DEV, START - timedelta(days=1), MOVE)
    new_before = _counts(influx, DEV, MOVE, UNTIL + timedelta(hours=1))
    neighbour_before = _counts(influx, NEIGHBOUR, START - timedelta(days=60), UNTIL)
    assert old["climate"] == 7 * 24 * 2 and old["uplink"] == 7 * 24 * 2 and old["damp_risk"] > 0
    alert = h.get("/v1/housing/alerts", "housing", status="all").json()["data"]
    alert_id = next(a["id"] for a in alert if a["dev_eui"] == DEV)
    noted = _post(
        h, f"/v1/housing/alerts/{alert_id}/actions", {"action": "investigated", "note": NOTE}
    )
    assert noted.status_code == 200

    # Subject access: one archive, a CSV per series, units in the manifest, only this tenancy.
    archive = _export(h, "TEN-OLD1")
    manifest = json.loads(archive.read("manifest.json"))
    assert manifest["tenancy"]["ref"] == "TEN-OLD1" and manifest["devices"][0]["dev_eui"] == DEV
    files = {f["file"]: f for f in manifest["files"]}
    assert {"climate.csv", "uplink.csv", "damp_risk.csv", "alerts.json"} <= set(files)
    assert files["climate.csv"]["rows"] == old["climate"]
    units = {f["name"]: f["unit"] for f in files["climate.csv"]["fields"]}
    assert units["temperature"] == "degC" and units["relative_humidity"] == "%"
    lines = archive.read("climate.csv").decode().splitlines()
    assert lines[0].startswith("time,") and len(lines) == old["climate"] + 1
    # Every file alike: time, the tags in schema order, then the fields by name.
    header = lines[0].split(",")
    tags = [c for c in header[1:] if c in TAG_KEYS]
    assert header[1 : 1 + len(tags)] == [k for k in TAG_KEYS if k in tags]
    assert header[1 + len(tags) :] == sorted(header[1 + len(tags) :])
    assert all(line.split(",")[0] < MOVE.strftime("%Y-%m-%dT%H:%M:%S") for line in lines[1:])
    assert NOTE in archive.read("alerts.json").decode()

    # Erasure: a refused one (still open), a dry run that changes nothing, then the real one.
    assert _post(h, "/v1/housing/tenancies/TEN-NEW2/erase", {}).status_code == 409
    typo = _post(h, "/v1/housing/tenancies/TEN-OLD1/erase", {"dryrun": True})
    assert typo.status_code == 422 and "dryrun" in typo.text
    assert _counts(influx, DEV, START - timedelta(days=1), MOVE) == old
    dry = _post(h, "/v1/housing/tenancies/TEN-OLD1/erase", {"dry_run": True}).json()
    assert dry["dry_run"] and dry["total_points"] == sum(old.values())
    assert dry["alerts_redacted"] == [alert_id] and dry["erased_at"] is None
    assert _counts(influx, DEV, START - timedelta(days=1), MOVE) == old
    done = _post(h, "/v1/housing/tenancies/TEN-OLD1/erase", {}).json()
    assert done["total_points"] == sum(old.values()) and done["erased_at"]
    again = _post(h, "/v1/housing/tenancies/TEN-OLD1/erase", {}).json()
    assert again["total_points"] == 0  # idempotent
    assert again["erased_at"] == done["erased_at"]  # when it was erased, not when asked again

    # Nothing of the old tenancy is returned anywhere; the new one and the neighbour are intact.
    assert _counts(influx, DEV, START - timedelta(days=60), MOVE) == {
        "climate": 0,
        "uplink": 0,
        "damp_risk": 0,
    }
    assert _counts(influx, DEV, MOVE, UNTIL + timedelta(hours=1)) == new_before
    assert _counts(influx, NEIGHBOUR, START - timedelta(days=60), UNTIL) == neighbour_before
    readings = h.get(
        f"/v1/devices/{DEV}/readings",
        "housing",
        quantity="temperature",
        start=(START - timedelta(days=1)).isoformat(),
        end=MOVE.isoformat(),
    )
    assert readings.status_code in (200, 404)
    assert readings.status_code == 404 or readings.json()["data"] == []
    evidence = h.get(f"/v1/housing/homes/{DEV}", "housing", days=28).json()
    assert min(row["time"] for row in evidence["series"]) >= MOVE.isoformat().replace("+00:00", "Z")
    after = _export(h, "TEN-OLD1")
    assert sorted(after.namelist()) == ["alerts.json", "fleet_events.json", "manifest.json"]

    # The Awaab's Law case record stays, without its personal parts.
    kept = h.get(f"/v1/housing/alerts/{alert_id}", "housing").json()
    assert kept["level"] and kept["opened_at"]
    assert [e["action"] for e in kept["events"]][-1] == "investigated"
    assert all(e["note"] == "" for e in kept["events"] if e["action"] != "opened")
    assert set(kept["evidence"]) == {"hour", "erased"}
    assert any(s["step"] == "investigation" and s["done_at"] for s in kept["steps"])
    assert h.get("/v1/housing/tenancies/TEN-OLD1", "housing").json()["erased_at"]

    # Every step is in the audit log.
    audit = h.get("/v1/audit", "admin", home="TEN-OLD1").json()["data"]
    assert [(r["action"], r["outcome"]) for r in audit] == [
        ("export", "ok"),
        ("erase", "error"),
        ("erase_dry_run", "ok"),
        ("erase", "ok"),
        ("erase", "ok"),
        ("export", "ok"),
        ("read", "ok"),
    ]


def test_cli_export_and_erase(
    harness: tuple[ApiHarness, InfluxSettings], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    h, influx = harness
    monkeypatch.setenv("LEEDSWIN_INFLUX_URL", influx.url)
    monkeypatch.setenv("LEEDSWIN_INFLUX_DATABASE", influx.database)
    monkeypatch.setenv("LEEDSWIN_API_REGISTRY", str(h.settings.registry))
    runner = CliRunner()
    out = tmp_path / "new.zip"
    result = runner.invoke(cli, ["privacy", "export", "--tenancy", "TEN-NEW2", "--out", str(out)])
    assert result.exit_code == 0, result.output
    names = zipfile.ZipFile(out).namelist()
    assert "climate.csv" in names and "manifest.json" in names
    result = runner.invoke(cli, ["privacy", "erase", "--tenancy", "TEN-NEW2", "--dry-run"])
    assert result.exit_code == 1 and "still open" in result.output
    result = runner.invoke(cli, ["privacy", "erase", "--tenancy", "TEN-NBR3"])
    assert result.exit_code == 1
    result = runner.invoke(cli, ["audit", "list", "--home", "TEN-NEW2"])
    assert "\texport\tleedswin privacy export\tTEN-NEW2\t" in result.output
    assert "\terase_dry_run\t" in result.output and "\trefused\t" in result.output


def test_a_tenancy_ended_in_the_future_is_neither_ended_nor_erased(
    harness: tuple[ApiHarness, InfluxSettings],
) -> None:
    h, _ = harness
    conn = open_registry(h.settings.registry)
    store = Tenancies(conn)
    store.create_property("P-077")
    store.open_tenancy("P-077", START, "TEN-FUT7")
    ended = _post(h, "/v1/housing/tenancies/TEN-FUT7/end", {"end": "2200-01-01T00:00:00Z"})
    assert ended.status_code == 409 and "future" in ended.json()["detail"]
    assert h.get("/v1/housing/tenancies/TEN-FUT7", "housing").json()["end"] is None
    # A far-future end stored before ends were bounded still counts as open.
    conn.execute(
        "UPDATE tenancies SET end_at = '2200-01-01T00:00:00.000000Z' WHERE ref = 'TEN-FUT7'"
    )
    conn.close()
    for body in ({}, {"dry_run": True}):
        refused = _post(h, "/v1/housing/tenancies/TEN-FUT7/erase", body)
        assert refused.status_code == 409 and "still open" in refused.json()["detail"]


def test_fleet_events_of_the_tenancy_are_exported_and_erased(
    harness: tuple[ApiHarness, InfluxSettings],
) -> None:
    h, _ = harness
    dev, other = "d0000000000000a9", "d0000000000000aa"
    FleetStore(h.settings.registry)  # the fleet job's tables
    conn = open_registry(h.settings.registry)
    store = Tenancies(conn)
    store.create_property("P-055")
    store.assign(dev, "P-055", START - timedelta(days=30))
    store.open_tenancy("P-055", START - timedelta(days=30), "TEN-FLT5")
    store.end_tenancy("TEN-FLT5", MOVE)

    def event(dev_eui: str, opened: datetime) -> int:
        cursor = conn.execute(
            "INSERT INTO fleet_events (dev_eui, kind, state, opened_at, model, site, ward,"
            " privacy, detail) VALUES (?, 'link', 'silent', ?, 'm', 'home', '', 'home', '{}')",
            (dev_eui, opened.isoformat().replace("+00:00", "Z")),
        )
        return int(cursor.lastrowid or 0)

    inside = event(dev, START)
    later = event(dev, MOVE + timedelta(hours=1))  # the next household's
    elsewhere = event(other, START)
    archive = _export(h, "TEN-FLT5")
    exported = json.loads(archive.read("fleet_events.json"))
    assert [e["id"] for e in exported] == [inside] and exported[0]["state"] == "silent"
    files = {f["file"]: f for f in json.loads(archive.read("manifest.json"))["files"]}
    assert files["fleet_events.json"]["rows"] == 1
    dry = _post(h, "/v1/housing/tenancies/TEN-FLT5/erase", {"dry_run": True}).json()
    assert dry["fleet_events"] == [inside]
    left = {r[0] for r in conn.execute("SELECT id FROM fleet_events")}
    assert {inside, later, elsewhere} <= left
    done = _post(h, "/v1/housing/tenancies/TEN-FLT5/erase", {}).json()
    assert done["fleet_events"] == [inside]
    left = {r[0] for r in conn.execute("SELECT id FROM fleet_events")}
    assert inside not in left and {later, elsewhere} <= left
    again = _post(h, "/v1/housing/tenancies/TEN-FLT5/erase", {}).json()
    assert again["fleet_events"] == []  # idempotent
    conn.close()

"""Reclassifying a device moves its history between the public and the home database."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from core.settings import InfluxSettings
from leedswin.cli import app
from leedswin.services import LocalInfluxDB
from storage.devices import load_devices, set_privacy
from storage.influx import make_sink
from storage.points import encode, make_point
from storage.reclassify import move_device
from storage.registry import open_registry
from storage.state import DeviceState
from tests.conftest import influxql

pytestmark = pytest.mark.integration

DEV = "d000000000000001"
OTHER = "d000000000000002"
T0 = 1_760_000_000_000_000_000


def _write(settings: InfluxSettings) -> None:
    sink = make_sink(settings)
    sink.ensure_database()
    points = []
    for i in range(50):
        for dev in (DEV, OTHER):
            tags = {
                "dev_eui": dev,
                "model": "elsys_ers",
                "site": "briggate",
                "privacy": "public",
                "need": "air_quality",
            }
            points.append(make_point("climate", tags, {"temperature": 21.0, "note": "x"}, T0 + i))
            points.append(make_point("uplink", tags, {"f_cnt": i, "rssi": -90.0}, T0 + i))
    sink.write(encode(points))
    sink.close()


def _count(url: str, database: str, measurement: str, dev: str, privacy: str) -> int:
    series = influxql(
        url,
        database,
        f'SELECT count(*) FROM "{measurement}" WHERE "dev_eui" = \'{dev}\' AND "privacy" = \'{privacy}\'',
        home=False,
    )
    return max(series[0]["values"][0][1:]) if series else 0


def test_move_to_home_and_back_keeps_every_point_and_its_field_types(
    influxdb: LocalInfluxDB, influx_db: str
) -> None:
    settings = InfluxSettings(url=influxdb.url, database=influx_db)
    home = settings.home_db
    _write(settings)
    report = move_device(settings, DEV, "home")
    assert report.moved == {"climate": 50, "uplink": 50} and report.sites == {"briggate"}
    for measurement in ("climate", "uplink"):
        assert _count(influxdb.url, influx_db, measurement, DEV, "public") == 0
        assert _count(influxdb.url, home, measurement, DEV, "home") == 50
        assert _count(influxdb.url, influx_db, measurement, OTHER, "public") == 50
    types = influxql(influxdb.url, home, 'SHOW FIELD KEYS FROM "climate"', home=False)
    assert dict(types[0]["values"]) == {"note": "string", "temperature": "float"}
    types = influxql(influxdb.url, home, 'SHOW FIELD KEYS FROM "uplink"', home=False)
    assert dict(types[0]["values"]) == {"f_cnt": "integer", "rssi": "float"}

    back = move_device(settings, DEV, "public")
    assert back.total == 100
    assert _count(influxdb.url, home, "climate", DEV, "home") == 0
    assert _count(influxdb.url, influx_db, "climate", DEV, "public") == 50


@pytest.mark.parametrize("suffix", [".yaml", ".csv"])
def test_set_privacy_rewrites_the_registry_and_drops_home_coordinates(
    tmp_path: Path, suffix: str
) -> None:
    path = tmp_path / f"devices{suffix}"
    if suffix == ".csv":
        path.write_text(
            "dev_eui,model,site,privacy,ward,lat,lon\n"
            f"{DEV},elsys_ers,briggate,public,,53.8,-1.5\n{OTHER},elsys_ers,briggate,public,,,\n"
        )
    else:
        path.write_text(
            "devices:\n"
            f"  - {{dev_eui: '{DEV}', model: elsys_ers, site: briggate, privacy: public, lat: 53.8, lon: -1.5}}\n"
            f"  - {{dev_eui: '{OTHER}', model: elsys_ers, privacy: public}}\n"
        )
    record = set_privacy(path, DEV, "home")
    assert (record.privacy, record.lat, record.lon) == ("home", None, None)
    devices = load_devices(path)
    assert devices[DEV].privacy == "home" and devices[OTHER].privacy == "public"


def test_cli_reclassify_moves_history_and_updates_the_registry(
    influxdb: LocalInfluxDB, influx_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = InfluxSettings(url=influxdb.url, database=influx_db)
    _write(settings)
    registry = tmp_path / "devices.yaml"
    registry.write_text(f"devices:\n  - {{dev_eui: '{DEV}', model: elsys_ers, privacy: public}}\n")
    monkeypatch.setenv("LEEDSWIN_INFLUX_URL", influxdb.url)
    monkeypatch.setenv("LEEDSWIN_INFLUX_DATABASE", influx_db)
    monkeypatch.setenv("LEEDSWIN_API_REGISTRY", str(tmp_path / "keys.sqlite3"))
    keys = open_registry(tmp_path / "keys.sqlite3")
    state = DeviceState(keys)
    tags = {"dev_eui": DEV, "model": "elsys_ers", "site": "briggate", "privacy": "public"}
    state.observe([make_point("uplink", tags, {"f_cnt": 1}, time.time_ns())])
    state.commit()
    result = CliRunner().invoke(
        app, ["devices", "reclassify", DEV, "--privacy", "home", "--registry", str(registry)]
    )
    assert result.exit_code == 0, result.output
    assert "moved 100 points" in result.output
    assert load_devices(registry)[DEV].privacy == "home"
    assert _count(influxdb.url, influx_db, "uplink", DEV, "public") == 0
    assert _count(influxdb.url, settings.home_db, "uplink", DEV, "home") == 50
    assert [f.privacy for f in state.fields()] == ["home"]  # device state moved with it
    keys.close()

"""The InfluxDB migration of the home-database split: a pre-split database's home points move."""

from __future__ import annotations

import httpx
import pytest
from typer.testing import CliRunner

from leedswin.cli import app
from leedswin.services import LocalInfluxDB
from tests.conftest import influxql

pytestmark = pytest.mark.integration

HOME, PUBLIC = "a000000000000001", "b000000000000002"
T0 = 1_760_000_000_000_000_000


def count(url: str, database: str, measurement: str, dev: str) -> int:
    series = influxql(
        url,
        database,
        f'SELECT count(*) FROM "{measurement}" WHERE "dev_eui" = \'{dev}\'',
        home=False,
    )
    return max(series[0]["values"][0][1:]) if series else 0


def test_split_home_moves_a_pre_split_databases_home_points(
    influxdb: LocalInfluxDB, influx_db: str
) -> None:
    # As the release before the split wrote them: every point in one database, tagged.
    lines = []
    for i in range(30):
        for dev, privacy in ((HOME, "home"), (PUBLIC, "public")):
            tags = f"dev_eui={dev},model=elsys_ers,privacy={privacy},site=s-{privacy}"
            lines.append(f'climate,{tags} temperature=21.5,humidity=40i,note="x" {T0 + i}')
            lines.append(f"uplink,{tags} f_cnt={i}i,rssi=-90 {T0 + i}")
    httpx.post(f"{influxdb.url}/query", data={"q": f'CREATE DATABASE "{influx_db}"'})
    response = httpx.post(
        f"{influxdb.url}/write", params={"db": influx_db}, content="\n".join(lines)
    )
    assert response.status_code == 204
    env = {"LEEDSWIN_INFLUX_URL": influxdb.url, "LEEDSWIN_INFLUX_DATABASE": influx_db}

    result = CliRunner().invoke(app, ["migrate", "split-home"], env=env)
    assert result.exit_code == 0, result.output
    assert "moved 60 points" in result.output
    home_db = f"{influx_db}_home"
    assert count(influxdb.url, influx_db, "climate", HOME) == 0
    assert count(influxdb.url, home_db, "climate", HOME) == 30
    assert count(influxdb.url, home_db, "uplink", HOME) == 30
    assert count(influxdb.url, influx_db, "climate", PUBLIC) == 30
    assert count(influxdb.url, home_db, "climate", PUBLIC) == 0
    # Field types survive (an integer stays an integer).
    keys = influxql(influxdb.url, home_db, 'SHOW FIELD KEYS FROM "climate"', home=False)
    assert dict(keys[0]["values"])["humidity"] == "integer"
    # Re-running finds nothing left to move.
    again = CliRunner().invoke(app, ["migrate", "split-home"], env=env)
    assert again.exit_code == 0 and "moved 0 points" in again.output

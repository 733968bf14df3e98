"""DAQI routes: current index per site and its history, from public devices only."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from api.main import create_app
from core.settings import InsightsSettings
from insights.jobs import InsightsJobs, floor_hour
from leedswin.services import LocalInfluxDB, LocalMosquitto
from storage.influx import V1Sink
from storage.points import encode, make_point
from storage.query import InfluxQL
from tests.api.conftest import ApiHarness, Dataset, make_keys, make_settings, serve
from tests.insights.test_jobs_integration import ns, tags

pytestmark = pytest.mark.integration

HOUR = timedelta(hours=1)


@pytest.fixture(scope="module")
def daqi_api(
    tmp_path_factory: pytest.TempPathFactory, influxdb: LocalInfluxDB, mosquitto: LocalMosquitto
) -> Iterator[tuple[ApiHarness, datetime]]:
    tmp_path = tmp_path_factory.mktemp("daqi")
    settings = make_settings(tmp_path, influxdb, mosquitto, f"daqi_{time.time_ns()}")
    _, influx_settings, _ = settings
    until = floor_hour(datetime.now(UTC))
    start = until - timedelta(days=2)
    levels = [10.0] * 24 + [80.0] * 24
    points = [
        make_point(
            "air_quality",
            tags("aq1", "briggate", "public", "air_quality"),
            {"pm2_5": v},
            ns(start + i * HOUR),
        )
        for i, v in enumerate(levels)
    ]
    points.append(
        make_point(
            "air_quality", tags("aqh", "home-1", "home", "air_quality"), {"pm2_5": 90.0}, ns(start)
        )
    )
    sink = V1Sink(influx_settings)
    sink.ensure_database()
    sink.write(encode(points))
    with InfluxQL(influx_settings) as query:
        report = InsightsJobs(InsightsSettings(), query, sink).run(start, until)
    assert report.errors == []
    sink.close()
    keys = make_keys(settings[0].registry)
    with serve(create_app(*settings)) as base_url, httpx.Client(base_url=base_url) as client:
        yield ApiHarness(client, keys, Dataset({}, 0, 0), settings[0]), start


def test_current_index_per_site(daqi_api: tuple[ApiHarness, datetime]) -> None:
    api, _ = daqi_api
    body = api.get("/v1/daqi/sites", "public").json()
    assert [s["site"] for s in body["data"]] == ["briggate"]  # the home sensor never shows
    current = body["data"][0]["current"]
    assert current["index"] == 10 and current["band"] == "Very High"
    assert current["indicative"] is True
    assert current["pollutants"]["pm2_5"]["index"] == 10
    assert body["data"][0]["advice"]["general"] == "Cut outdoor exertion."


def test_history_crosses_bands(daqi_api: tuple[ApiHarness, datetime]) -> None:
    api, start = daqi_api
    body = api.get(
        "/v1/daqi/sites/briggate",
        "public",
        start=start.isoformat(),
        end=(start + 48 * HOUR).isoformat(),
    ).json()
    by_hour = {int((datetime.fromisoformat(p["time"]) - start) / HOUR): p for p in body["data"]}
    assert by_hour[23]["index"] == 1
    assert by_hour[35]["pollutants"]["pm2_5"]["mean"] == pytest.approx(45.0)
    assert by_hour[35]["index"] == 5 and by_hour[35]["band"] == "Moderate"
    assert by_hour[47]["index"] == 10


def test_unknown_site_and_bad_names(daqi_api: tuple[ApiHarness, datetime]) -> None:
    api, _ = daqi_api
    assert api.get("/v1/daqi/sites/nowhere", "public").status_code == 404
    assert api.get("/v1/daqi/sites/home-1", "public").status_code == 404
    assert api.get("/v1/daqi/sites/bad;name", "public").status_code == 422
    assert api.get("/v1/daqi/sites", None).status_code == 401

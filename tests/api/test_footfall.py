"""Footfall route: hourly and daily site counts with last week's figures."""

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
def footfall_api(
    tmp_path_factory: pytest.TempPathFactory, influxdb: LocalInfluxDB, mosquitto: LocalMosquitto
) -> Iterator[tuple[ApiHarness, datetime]]:
    """Two counters at one site, 10 and 5 people an hour, for 9 days."""
    tmp_path = tmp_path_factory.mktemp("footfall")
    settings = make_settings(tmp_path, influxdb, mosquitto, f"footfall_{time.time_ns()}")
    _, influx_settings, _ = settings
    until = floor_hour(datetime.now(UTC))
    start = until - timedelta(days=9)
    points = []
    for dev, rate in (("ff1", 10), ("ff2", 5)):
        for i in range(9 * 24 + 1):
            moment = start + i * HOUR - timedelta(minutes=1)
            t = tags(dev, "headrow", "public", "footfall")
            points.append(
                make_point(
                    "footfall",
                    t,
                    {"people_in": float(rate * i % 65536), "people_out": float(i)},
                    ns(moment),
                )
            )
            points.append(make_point("uplink", t, {"f_cnt": i}, ns(moment)))
    sink = V1Sink(influx_settings)
    sink.ensure_database()
    sink.write(encode(points))
    with InfluxQL(influx_settings) as query:
        report = InsightsJobs(InsightsSettings(), query, sink).run(until - timedelta(days=2), until)
    assert report.errors == []
    sink.close()
    keys = make_keys(settings[0].registry)
    with serve(create_app(*settings)) as base_url, httpx.Client(base_url=base_url) as client:
        yield ApiHarness(client, keys, Dataset({}, 0, 0), settings[0]), until


def test_hourly_site_counts_with_week_ago(footfall_api: tuple[ApiHarness, datetime]) -> None:
    api, until = footfall_api
    body = api.get(
        "/v1/footfall/sites/headrow",
        "public",
        start=(until - 24 * HOUR).isoformat(),
        end=until.isoformat(),
    ).json()
    assert body["period"] == "hour" and body["count"] == 24
    for point in body["data"]:
        assert (point["people_in"], point["people_out"], point["net"]) == (15, 2, 13)
        assert point["week_ago_in"] == 15 and point["change_in"] == 0.0


def test_daily_site_counts(footfall_api: tuple[ApiHarness, datetime]) -> None:
    api, until = footfall_api
    body = api.get(
        "/v1/footfall/sites/headrow",
        "public",
        period="day",
        start=(until - timedelta(days=3)).isoformat(),
        end=until.isoformat(),
    ).json()
    assert body["period"] == "day" and body["count"] >= 2
    full = [
        p
        for p in body["data"]
        if datetime.fromisoformat(p["time"]) + timedelta(hours=p["hours"]) <= until
    ]
    assert full and all(p["people_in"] == 15 * p["hours"] for p in full)


def test_validation_and_unknown_site(footfall_api: tuple[ApiHarness, datetime]) -> None:
    api, _ = footfall_api
    assert api.get("/v1/footfall/sites/headrow", "public", period="week").status_code == 422
    assert api.get("/v1/footfall/sites/elsewhere", "public").status_code == 404


def test_identical_asks_share_one_answer_and_different_ones_do_not(
    footfall_api: tuple[ApiHarness, datetime],
) -> None:
    """The default range is shared by identical asks for the cache's 2 seconds (as the DAQI
    list is); another period, range or site is its own ask, and a 404 is never kept."""
    api, until = footfall_api
    first = api.get("/v1/footfall/sites/headrow", "public").json()
    assert api.get("/v1/footfall/sites/headrow", "public").json() == first
    daily = api.get(
        "/v1/footfall/sites/headrow",
        "public",
        period="day",
        start=(until - 3 * 24 * HOUR).isoformat(),
    ).json()
    assert daily["period"] == "day" and first["period"] == "hour"
    ranged = api.get(
        "/v1/footfall/sites/headrow", "public", start=(until - 2 * HOUR).isoformat()
    ).json()
    assert ranged["count"] < first["count"]
    for _ in range(2):
        assert api.get("/v1/footfall/sites/elsewhere", "public").status_code == 404

"""The network dashboard's device-health table shows the devices that went quiet as silent."""

from __future__ import annotations

import pytest

from firmware_sim.fleet import build_fleet
from tests.conftest import influxql
from tests.dashboards.conftest import HOUR, QUIET_DEVICES, QUIET_SEED, Filled
from tests.dashboards.grafana import built, defaults, substitute

pytestmark = pytest.mark.integration


def test_device_health_table_marks_the_quiet_fleet_silent(filled: Filled) -> None:
    [dashboard] = [d for _, d in built() if d["uid"] == "leedswin-network"]
    [panel] = [p for p in dashboard["panels"] if p["title"] == "Device health"]
    query = substitute(panel["targets"][0]["query"], defaults(dashboard))
    series = influxql(filled.url, filled.database, query)
    links = {s["tags"]["dev_eui"]: s["values"][0][s["columns"].index("link")] for s in series}
    quiet, _ = build_fleet(QUIET_SEED, QUIET_DEVICES, HOUR, 0)
    quiet_public = {d.dev_eui for d in quiet if d.privacy == "public"}
    assert quiet_public and {eui for eui, link in links.items() if link == "silent"} == quiet_public
    assert not set(links) & filled.home_dev_euis

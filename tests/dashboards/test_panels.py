"""Every panel of every dashboard returns data from the real InfluxDB the bridge filled.

Also the privacy proof on the same data: no query of a dashboard outside the
housing folder returns a home device or home site, even when someone edits the
dashboard URL to select a home's site or device in the variables.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from dashboards.build import BOARDS, HOUSING_FOLDER
from firmware_sim.fleet import build_fleet
from tests.conftest import influxql
from tests.dashboards.conftest import HOUR, QUIET_DEVICES, QUIET_SEED, Filled
from tests.dashboards.grafana import (
    built,
    defaults,
    queries,
    query_targets,
    regex_value,
    substitute,
)

pytestmark = pytest.mark.integration

BOARD_IDS = [board.uid for board in BOARDS]


def run(filled: Filled, query: str) -> list[dict[str, Any]]:
    """A query over both databases, as if its datasource could read everything.

    SELECTs span both databases (``influxql``); SHOW cannot, so its values are merged.
    """
    if not query.startswith("SHOW"):
        return influxql(filled.url, filled.database, query)
    merged: dict[str, dict[str, Any]] = {}
    for database in (filled.database, f"{filled.database}_home"):
        for series in influxql(filled.url, database, query):
            into = merged.setdefault(series["name"], {**series, "values": []})
            into["values"] += [v for v in series["values"] if v not in into["values"]]
    return list(merged.values())


def home_sites(filled: Filled) -> list[str]:
    series = influxql(
        filled.url,
        f"{filled.database}_home",
        'SHOW TAG VALUES FROM "uplink" WITH KEY = "site" WHERE "privacy" = \'home\'',
    )
    return [value for _, value in series[0]["values"]]


@pytest.mark.parametrize(("board", "dashboard"), built(), ids=BOARD_IDS)
def test_every_panel_returns_data(board: object, dashboard: dict, filled: Filled) -> None:
    values = defaults(dashboard)
    empty = []
    for panel in dashboard["panels"]:
        targets = query_targets(dashboard, panel)
        series = [s for t in targets for s in run(filled, substitute(t["query"], values))]
        if not series:
            empty.append(panel["title"])
    assert not empty, f"{dashboard['uid']}: panels without data: {empty}"


@pytest.mark.parametrize(("board", "dashboard"), built(), ids=BOARD_IDS)
def test_every_variable_has_values(board: object, dashboard: dict, filled: Filled) -> None:
    values = defaults(dashboard)
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            series = run(filled, substitute(variable["query"], values))
            assert series and series[0]["values"], variable["name"]


@pytest.mark.parametrize(("board", "dashboard"), built(), ids=BOARD_IDS)
def test_panels_follow_a_concrete_selection(board: object, dashboard: dict, filled: Filled) -> None:
    """Choosing the first value of each variable (as a user would) still gives data somewhere."""
    values = defaults(dashboard)
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            series = run(filled, substitute(variable["query"], values))
            values[variable["name"]] = regex_value([series[0]["values"][0][1]])
    returned = [
        panel["title"]
        for panel in dashboard["panels"]
        if any(run(filled, substitute(t["query"], values)) for t in query_targets(dashboard, panel))
    ]
    assert returned, f"{dashboard['uid']}: no panel shows the first {values}"


def test_public_dashboards_never_return_home_data(filled: Filled) -> None:
    sites = home_sites(filled)
    secrets = set(sites) | set(filled.home_dev_euis)
    home_selection = {
        "site": regex_value(sites),
        "device": regex_value(sorted(filled.home_dev_euis)),
        "model": ".*",
    }
    checked = 0
    for board, dashboard in built():
        if board.folder == HOUSING_FOLDER:
            continue
        for selection in (defaults(dashboard), defaults(dashboard) | home_selection):
            for where, query in queries(dashboard):
                text = json.dumps(run(filled, substitute(query, selection)))
                leaked = [secret for secret in secrets if secret in text]
                assert not leaked, f"{dashboard['uid']} {where} returned home data {leaked}"
                checked += 1
    assert checked > 80


def test_housing_dashboard_shows_homes(filled: Filled) -> None:
    [(_, dashboard)] = [(b, d) for b, d in built() if b.folder == HOUSING_FOLDER]
    text = json.dumps(
        [run(filled, substitute(q, defaults(dashboard))) for _, q in queries(dashboard)]
    )
    assert any(site in text for site in home_sites(filled))
    assert any(eui in text for eui in filled.home_dev_euis)


def test_silent_devices_are_the_ones_that_went_quiet(filled: Filled) -> None:
    """The quiet fleet stopped ~4 h ago after 10 uplinks each: with 'Silent after' = 2h, exactly
    its public devices show (no uplinks recently; the active fleet's devices do not)."""
    [(_, dashboard)] = [(b, d) for b, d in built() if d["uid"] == "leedswin-network"]
    [panel] = [
        p for p in dashboard["panels"] if p["title"] == "Silent devices" and p["type"] == "table"
    ]
    series = run(filled, substitute(panel["targets"][0]["query"], defaults(dashboard)))
    quiet, _ = build_fleet(QUIET_SEED, QUIET_DEVICES, HOUR, 0)
    assert {s["tags"]["dev_eui"]: s["values"][0][1] for s in series} == {
        d.dev_eui: 0 for d in quiet if d.privacy == "public"
    }
    assert all(s["columns"] == ["time", "recent uplinks"] for s in series)


def test_homes_by_risk_level_counts_every_home_once(filled: Filled) -> None:
    [(_, dashboard)] = [(b, d) for b, d in built() if b.folder == HOUSING_FOLDER]
    [panel] = [p for p in dashboard["panels"] if p["title"] == "Homes by risk level"]
    counts = {}
    for target in panel["targets"]:
        for series in run(filled, substitute(target["query"], defaults(dashboard))):
            counts[series["columns"][1]] = series["values"][0][1]
    homes = run(
        filled, 'SHOW TAG VALUES FROM "damp_risk" WITH KEY = "site" WHERE "privacy" = \'home\''
    )
    assert sum(counts.values()) == len(homes[0]["values"])
    assert counts.get("high", 0) + counts.get("severe", 0) >= 1  # the fleet's damp homes


#: Grafana draws a panel ``maxDataPoints`` wide: its width in pixels, 1,000 for a wide panel.
PANEL_POINTS = 1000


@pytest.mark.parametrize(("board", "dashboard"), built(), ids=BOARD_IDS)
def test_no_panel_returns_more_points_than_it_can_draw(
    board: object, dashboard: dict, filled: Filled
) -> None:
    """Every series of every panel, over 30 days at the 1-hour interval Grafana picks for a
    1,000-pixel panel, holds at most 1,000 points: distributions and intervals come from
    rollups or InfluxDB's aggregates, never every raw point."""
    values = defaults(dashboard)
    for panel in dashboard["panels"]:
        for target in query_targets(dashboard, panel):
            for series in run(filled, substitute(target["query"], values)):
                assert len(series["values"]) <= PANEL_POINTS, (panel["title"], series["name"])


@pytest.mark.parametrize(("board", "dashboard"), built(), ids=BOARD_IDS)
def test_panels_reusing_another_panels_rows_find_their_column(
    board: object, dashboard: dict, filled: Filled
) -> None:
    """A summary panel (Grafana's Dashboard datasource) reduces a column of another panel's
    rows: that panel queries InfluxDB itself and its rows have the column. The network
    dashboard's summaries equal what their own queries gave before they reused rows."""
    values = defaults(dashboard)
    reducing = {}
    for panel in dashboard["panels"]:
        reused = [t for t in panel["targets"] if "panelId" in t]
        if not reused:
            continue
        assert len(reused) == len(panel["targets"]) == 1, panel["title"]
        source = next(p for p in dashboard["panels"] if p["id"] == reused[0]["panelId"])
        assert all("query" in t for t in source["targets"]), panel["title"]
        column = panel["options"]["reduceOptions"]["fields"].strip("/^$")
        rows = [s for t in source["targets"] for s in run(filled, substitute(t["query"], values))]
        assert rows and all(column in s["columns"] for s in rows), (panel["title"], column)
        cells = [row[s["columns"].index(column)] for s in rows for row in s["values"]]
        [calculation] = panel["options"]["reduceOptions"]["calcs"]
        reducing[panel["title"]] = sum(cells) if calculation == "sum" else len(cells)
    if dashboard["uid"] != "leedswin-network":
        return
    public = "\"privacy\" = 'public' AND time > now() - 30d"
    direct = {
        "Uplinks": 'SELECT sum("f_cnt_count") FROM "uplink_1h"'
        f" WHERE \"level\" = 'device' AND {public}",
        "Devices reporting": 'SELECT count("n") FROM (SELECT sum("f_cnt_count") AS "n"'
        f' FROM "uplink_1h" WHERE "level" = \'device\' AND {public} GROUP BY "dev_eui")',
    }
    for title, query in direct.items():
        assert reducing[title] == run(filled, query)[0]["values"][0][1], title
    quiet, _ = build_fleet(QUIET_SEED, QUIET_DEVICES, HOUR, 0)
    assert reducing["Silent devices"] == sum(d.privacy == "public" for d in quiet)

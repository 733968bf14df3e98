"""Dashboard JSON is well formed, committed as generated, and public boards ask only for public data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from dashboards.build import BOARDS, FOLDERS, HOUSING_FOLDER, JSON_DIR, dumps, export, relative_path
from dashboards.model import (
    DASHBOARD_DATASOURCE,
    DATASOURCE_UID,
    GRID_WIDTH,
    HOUSING_DATASOURCE_UID,
)
from tests.dashboards.grafana import built, defaults, queries, substitute, used_variables

PROVISIONING = Path(__file__).parents[2] / "dashboards" / "provisioning"
BOARD_IDS = [board.uid for board in BOARDS]
UNITLESS = {"table"}


def test_committed_json_equals_the_generator() -> None:
    committed = sorted(p.relative_to(JSON_DIR) for p in JSON_DIR.rglob("*.json"))
    assert committed == sorted(relative_path(board) for board in BOARDS)
    for board in BOARDS:
        assert (JSON_DIR / relative_path(board)).read_text() == dumps(board.build()), (
            f"{board.uid} is stale: run `leedswin dashboards export dashboards/json`"
        )


def test_export_writes_the_committed_tree(tmp_path: Path) -> None:
    written = export(tmp_path)
    assert len(written) == len(BOARDS)
    for path in written:
        assert path.read_text() == (JSON_DIR / path.relative_to(tmp_path)).read_text()


def test_uids_are_unique_and_stable() -> None:
    dashboards = [dashboard for _, dashboard in built()]
    uids = [d["uid"] for d in dashboards]
    assert uids == BOARD_IDS
    assert len(set(uids)) == len(uids) == 5
    assert all(len(uid) <= 40 for uid in uids)  # Grafana's uid limit
    assert len({folder.uid for folder in FOLDERS}) == len(FOLDERS)


def _datasource_uid(board: object) -> str:
    """Only the housing dashboard reads the home database, through its own datasource."""
    restricted = board.folder == HOUSING_FOLDER  # type: ignore[attr-defined]
    return HOUSING_DATASOURCE_UID if restricted else DATASOURCE_UID


@pytest.mark.parametrize(("board", "dashboard"), built(), ids=BOARD_IDS)
def test_panels_are_well_formed(board: object, dashboard: dict) -> None:
    uid = _datasource_uid(board)
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    assert dashboard["description"] and dashboard["title"].startswith("Leeds WIN")
    for panel in dashboard["panels"]:
        where = panel["title"]
        assert panel["description"], where
        grid = panel["gridPos"]
        assert 0 <= grid["x"] and grid["x"] + grid["w"] <= GRID_WIDTH, where
        refs = [t["refId"] for t in panel["targets"]]
        assert refs and len(refs) == len(set(refs)), where
        if panel["datasource"] == DASHBOARD_DATASOURCE:
            # Reuses another panel's rows (before it in the list or not: Grafana waits).
            for target in panel["targets"]:
                assert target["datasource"] == DASHBOARD_DATASOURCE, where
                assert target["panelId"] in ids and target["panelId"] != panel["id"], where
        else:
            assert panel["datasource"] == {"type": "influxdb", "uid": uid}, where
            for target in panel["targets"]:
                assert target["datasource"]["uid"] == uid, where
                assert target["rawQuery"] is True and target["query"].startswith("SELECT"), where
        defaults_ = panel["fieldConfig"]["defaults"]
        if panel["type"] not in UNITLESS:
            assert "unit" in defaults_ or "decimals" in defaults_, f"{where}: no unit"
        steps = defaults_.get("thresholds", {}).get("steps", [])
        if steps:
            assert steps[0]["value"] is None, where
            values = [s["value"] for s in steps[1:]]
            assert values == sorted(values), where


@pytest.mark.parametrize(("board", "dashboard"), built(), ids=BOARD_IDS)
def test_every_variable_used_is_defined(board: object, dashboard: dict) -> None:
    defined = {v["name"] for v in dashboard["templating"]["list"]}
    for where, query in queries(dashboard):
        assert used_variables(query) <= defined, where
        substitute(query, defaults(dashboard))  # raises on an undefined variable
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            assert variable["query"].startswith("SHOW TAG VALUES FROM")
            assert variable["datasource"]["uid"] == _datasource_uid(board)


@pytest.mark.parametrize(("board", "dashboard"), built(), ids=BOARD_IDS)
def test_privacy_filter_in_every_query(board: object, dashboard: dict) -> None:
    """Housing queries ask for home devices only; every other query for public ones only."""
    restricted = board.folder == HOUSING_FOLDER  # type: ignore[attr-defined]
    wanted = "\"privacy\" = 'home'" if restricted else "\"privacy\" = 'public'"
    for where, query in queries(dashboard):
        # Every FROM of a measurement (subqueries included) sits under the privacy filter.
        assert query.count(wanted) == query.count('FROM "'), where
        assert ("'home'" in query) is restricted, where
        assert 'privacy" !=' not in query and 'privacy" =~' not in query, where
    assert (board.folder.uid == "leedswin-housing") is restricted  # type: ignore[attr-defined]


@pytest.mark.parametrize(("board", "dashboard"), built(), ids=BOARD_IDS)
def test_every_select_of_a_panel_query_bounds_time(board: object, dashboard: dict) -> None:
    """Each SELECT, subqueries' outer ones included, names a time range: without one InfluxDB
    1.x opens the subquery's series in every shard group the retention holds (measured on a
    year of history: 1.7 s instead of 0.3 s for the network dashboard's Silent devices)."""
    for where, query in queries(dashboard):
        if where.startswith("$"):
            continue  # template variables: SHOW TAG VALUES, no time range in InfluxQL 1.x
        selects = query.count("SELECT")
        bounded = query.count("$timeFilter") + query.count("time > now()")
        assert selects <= bounded, (where, query)


def test_only_the_housing_dashboard_is_restricted() -> None:
    restricted = [board.uid for board in BOARDS if board.folder.restricted]
    assert restricted == ["leedswin-housing"]


def test_provisioning_files_match_the_dashboards() -> None:
    datasources = yaml.safe_load((PROVISIONING / "datasources" / "leedswin.yaml").read_text())
    public, housing = datasources["datasources"]
    assert public["uid"] == DATASOURCE_UID and public["type"] == "influxdb"
    assert housing["uid"] == HOUSING_DATASOURCE_UID and housing["type"] == "influxdb"
    assert "HOME_DATABASE" in housing["jsonData"]["dbName"]
    assert public["user"] != housing["user"]
    providers = yaml.safe_load((PROVISIONING / "dashboards" / "leedswin.yaml").read_text())
    by_folder = {p["folderUid"]: p for p in providers["providers"]}
    assert set(by_folder) == {folder.uid for folder in FOLDERS}
    for folder in FOLDERS:
        provider = by_folder[folder.uid]
        assert provider["folder"] == folder.title
        assert Path(provider["options"]["path"]).name == folder.uid


def test_dumps_is_plain_json() -> None:
    for board in BOARDS:
        assert json.loads(dumps(board.build())) == board.build()

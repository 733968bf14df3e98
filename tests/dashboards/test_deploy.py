"""`dashboards.deploy` against a local HTTP endpoint that plays Grafana's API and records every call.

No Grafana can run here, so the fake keeps just enough state (datasources,
teams, folders, permissions, dashboards by uid) to answer grafana-client the
way Grafana's HTTP API documents, and the tests check the requests it got.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from typer.testing import CliRunner

from core.errors import ConfigError, PlatformError
from dashboards.build import BOARDS, HOUSING_FOLDER, PUBLIC_FOLDER
from dashboards.deploy import Datasource, connect, deploy
from dashboards.model import DATASOURCE_UID, HOUSING_DATASOURCE_UID
from leedswin.cli import app
from leedswin.services import free_port

TOKEN = "glsa_test_token"
TEAM = {"id": 7, "name": "Housing – damp and mould"}


@dataclass
class Call:
    method: str
    path: str
    body: Any
    authorization: str | None


@dataclass
class FakeGrafana:
    calls: list[Call] = field(default_factory=list)
    datasources: dict[str, Any] = field(default_factory=dict)
    folders: dict[str, Any] = field(default_factory=dict)
    permissions: dict[str, Any] = field(default_factory=dict)
    dashboards: dict[str, Any] = field(default_factory=dict)
    teams: list[Any] = field(default_factory=lambda: [TEAM, {"id": 8, "name": "Housing"}])
    refuse_token: bool = False

    def writes(self) -> list[Call]:
        return [c for c in self.calls if c.method != "GET"]

    def handle(self, method: str, url: str, body: Any) -> tuple[int, Any]:
        path, query = urlsplit(url).path, parse_qs(urlsplit(url).query)
        parts = path.strip("/").split("/")[1:]  # drop "api"
        if self.refuse_token:
            return 401, {"message": "invalid API key"}
        match method, parts:
            case "GET", ["datasources", "uid", uid]:
                return (200, self.datasources[uid]) if uid in self.datasources else (404, {})
            case "POST", ["datasources"]:
                self.datasources[body["uid"]] = body
                return 200, {"message": "Datasource added"}
            case "PUT", ["datasources", "uid", uid]:
                self.datasources[uid] = body
                return 200, {"message": "Datasource updated"}
            case "GET", ["teams", "search"]:
                name = query.get("name", [""])[0]
                return 200, {"teams": [t for t in self.teams if name.lower() in t["name"].lower()]}
            case "GET", ["folders", uid]:
                return (200, self.folders[uid]) if uid in self.folders else (404, {})
            case "POST", ["folders"]:
                self.folders[body["uid"]] = body
                return 200, body
            case "PUT", ["folders", uid]:
                self.folders[uid] = {**self.folders[uid], "title": body["title"]}
                return 200, self.folders[uid]
            case "POST", ["folders", uid, "permissions"]:
                self.permissions[uid] = body["items"]
                return 200, {"message": "Folder permissions updated"}
            case "GET", ["dashboards", "uid", uid]:
                return (200, self.dashboards[uid]) if uid in self.dashboards else (404, {})
            case "POST", ["dashboards", "db"]:
                dashboard = body["dashboard"]
                version = self.dashboards.get(dashboard["uid"], {}).get("dashboard", {})
                stored = {**dashboard, "id": 1, "version": version.get("version", 0) + 1}
                meta = {"folderUid": body["folderUid"]}
                self.dashboards[dashboard["uid"]] = {"dashboard": stored, "meta": meta}
                return 200, {"status": "success", "uid": dashboard["uid"]}
        return 404, {"message": f"not faked: {method} {path}"}


@pytest.fixture
def grafana() -> Iterator[tuple[FakeGrafana, str]]:
    fake = FakeGrafana()

    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            body = json.loads(raw) if raw else None
            fake.calls.append(
                Call(self.command, self.path, body, self.headers.get("Authorization"))
            )
            status, answer = fake.handle(self.command, self.path, body)
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = _serve

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield fake, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(5)


INFLUX = Datasource("http://influxdb:8086", "leedswin", "grafana", "secret")
HOUSING = Datasource("http://influxdb:8086", "leedswin_home", "grafana-housing", "other")


def test_first_deploy_creates_everything(grafana: tuple[FakeGrafana, str]) -> None:
    fake, url = grafana
    report = deploy(
        connect(url, TOKEN), TEAM["name"], datasource=INFLUX, housing_datasource=HOUSING
    )

    assert report.datasource == "created"
    assert fake.datasources[DATASOURCE_UID]["jsonData"]["dbName"] == "leedswin"
    assert fake.datasources[DATASOURCE_UID]["secureJsonData"] == {"password": "secret"}
    housing = fake.datasources[HOUSING_DATASOURCE_UID]
    assert (housing["jsonData"]["dbName"], housing["user"]) == ("leedswin_home", "grafana-housing")
    assert report.folders_created == [PUBLIC_FOLDER.uid, HOUSING_FOLDER.uid]
    assert {uid: f["title"] for uid, f in fake.folders.items()} == {
        "leedswin": "Leeds WIN",
        "leedswin-housing": "Leeds WIN – Housing (restricted)",
    }
    # Only the restricted folder's permissions are replaced: the team alone, view only.
    assert fake.permissions == {"leedswin-housing": [{"teamId": 7, "permission": 1}]}
    assert report.housing_team_id == 7
    assert report.dashboards_written == [board.uid for board in BOARDS]
    posts = [c.body for c in fake.calls if c.path == "/api/dashboards/db"]
    assert len(posts) == 5
    for board, post in zip(BOARDS, posts, strict=True):
        assert post["overwrite"] is True
        assert post["folderUid"] == board.folder.uid
        assert post["dashboard"]["uid"] == board.uid and post["dashboard"]["id"] is None
        assert post["dashboard"]["panels"] == board.build()["panels"]
    assert {c.authorization for c in fake.calls} == {f"Bearer {TOKEN}"}
    # Folders exist before any dashboard is put into them, permissions before the housing one.
    order = [c.path for c in fake.writes()]
    assert order.index("/api/folders/leedswin-housing/permissions") < order.index(
        "/api/dashboards/db"
    )


def test_second_deploy_changes_nothing(grafana: tuple[FakeGrafana, str]) -> None:
    fake, url = grafana
    api = connect(url, TOKEN)
    deploy(api, TEAM["name"], datasource=INFLUX, housing_datasource=HOUSING)
    versions = {uid: d["dashboard"]["version"] for uid, d in fake.dashboards.items()}
    fake.calls.clear()

    report = deploy(api, TEAM["name"])

    assert report.datasource == "kept"
    assert report.folders_created == [] and report.dashboards_written == []
    assert report.dashboards_unchanged == [board.uid for board in BOARDS]
    # The one write is re-asserting the restricted folder's permission list (same content).
    assert [(c.method, c.path) for c in fake.writes()] == [
        ("POST", "/api/folders/leedswin-housing/permissions")
    ]
    assert {uid: d["dashboard"]["version"] for uid, d in fake.dashboards.items()} == versions


def test_changed_or_moved_dashboard_is_overwritten(grafana: tuple[FakeGrafana, str]) -> None:
    fake, url = grafana
    api = connect(url, TOKEN)
    deploy(api, None, datasource=INFLUX, housing_datasource=HOUSING)
    fake.dashboards["leedswin-climate"]["dashboard"]["title"] = "edited in the UI"
    fake.dashboards["leedswin-housing"]["meta"]["folderUid"] = "leedswin"
    fake.folders["leedswin"]["title"] = "renamed"

    report = deploy(api, None)

    assert sorted(report.dashboards_written) == ["leedswin-climate", "leedswin-housing"]
    assert report.folders_renamed == ["leedswin"]
    assert fake.dashboards["leedswin-housing"]["meta"]["folderUid"] == "leedswin-housing"
    assert fake.dashboards["leedswin-climate"]["dashboard"]["title"].startswith("Leeds WIN")


def test_without_a_team_the_housing_folder_is_admins_only(
    grafana: tuple[FakeGrafana, str],
) -> None:
    fake, url = grafana
    report = deploy(connect(url, TOKEN), None, datasource=INFLUX, housing_datasource=HOUSING)
    assert report.housing_team_id is None
    assert fake.permissions == {"leedswin-housing": []}


def test_unknown_team_is_refused_before_any_folder_or_dashboard(
    grafana: tuple[FakeGrafana, str],
) -> None:
    fake, url = grafana
    with pytest.raises(ConfigError, match="no team named 'Housing team'"):
        deploy(connect(url, TOKEN), "Housing team", datasource=INFLUX, housing_datasource=HOUSING)
    assert not fake.folders and not fake.dashboards


def test_missing_datasource_without_influx_url_is_a_config_error(
    grafana: tuple[FakeGrafana, str],
) -> None:
    fake, url = grafana
    with pytest.raises(ConfigError, match="no datasource with uid 'leedswin-influxdb'"):
        deploy(connect(url, TOKEN), TEAM["name"])
    assert fake.writes() == []


def test_refused_token_is_a_config_error(grafana: tuple[FakeGrafana, str]) -> None:
    fake, url = grafana
    fake.refuse_token = True
    with pytest.raises(ConfigError, match="refused the token"):
        deploy(connect(url, "wrong"), TEAM["name"], datasource=INFLUX, housing_datasource=HOUSING)


def test_unreachable_grafana_is_a_platform_error() -> None:
    with pytest.raises(PlatformError, match="unreachable"):
        deploy(connect(f"http://127.0.0.1:{free_port()}", TOKEN, timeout=2), None)


def test_cli_export_and_deploy(grafana: tuple[FakeGrafana, str], tmp_path: Path) -> None:
    fake, url = grafana
    runner = CliRunner()
    exported = runner.invoke(app, ["dashboards", "export", str(tmp_path)])
    assert exported.exit_code == 0, exported.output
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.json")) == sorted(
        f"{board.folder.uid}/{board.uid}.json" for board in BOARDS
    )

    args = ["dashboards", "deploy", "--grafana-url", url, "--token", TOKEN]
    args += ["--housing-team", TEAM["name"], "--influx-url", "http://influxdb:8086"]
    deployed = runner.invoke(
        app, args, env={"LEEDSWIN_GRAFANA_INFLUX_HOME_URL": "http://home:8086"}
    )
    assert deployed.exit_code == 0, deployed.output
    assert len(fake.dashboards) == 5 and fake.permissions["leedswin-housing"][0]["teamId"] == 7
    # Home data on a server of their own: the housing datasource points there.
    assert fake.datasources[HOUSING_DATASOURCE_UID]["url"] == "http://home:8086"
    assert fake.datasources[DATASOURCE_UID]["url"] == "http://influxdb:8086"

    refused = runner.invoke(app, [*args[:6], "--housing-team", "nobody"])
    assert refused.exit_code == 2
    assert "no team named 'nobody'" in refused.output

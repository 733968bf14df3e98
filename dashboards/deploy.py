"""Put the dashboards into a running Grafana over its HTTP API (grafana-client), idempotently.

One call gives a council Grafana everything: the InfluxDB datasource (when a
URL is given; otherwise it must already exist, e.g. from the provisioning
file), both folders, the restricted folder's permissions, and the five
dashboards upserted by uid. A dashboard identical to the one already there is
left alone, so a second run writes nothing and adds no dashboard versions.

The housing folder's permission list is *replaced*: the default Viewer and
Editor role grants go, and only the configured team (plus Grafana admins, who
always see everything) can open it. Without a team it fails closed to admins
only.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Literal

from grafana_client import GrafanaApi
from grafana_client.client import GrafanaClientError, GrafanaException

from core.errors import ConfigError, PlatformError
from dashboards.build import BOARDS, FOLDERS, Folder
from dashboards.model import DATASOURCE_UID, HOUSING_DATASOURCE_UID, Json

log = logging.getLogger(__name__)

#: Grafana's folder permission levels.
PERMISSIONS: dict[str, int] = {"view": 1, "edit": 2}
#: Dashboard keys Grafana manages itself; ignored when deciding whether anything changed.
VOLATILE = ("id", "version")


@dataclass(frozen=True)
class Datasource:
    """Where the datasource points when deploy creates or updates it."""

    url: str
    database: str
    user: str | None = None
    password: str | None = None


@dataclass
class DeployReport:
    """What a deploy changed; empty lists on a rerun with nothing new."""

    datasource: Literal["created", "updated", "kept"] = "kept"
    housing_datasource: Literal["created", "updated", "kept"] = "kept"
    folders_created: list[str] = field(default_factory=list)
    folders_renamed: list[str] = field(default_factory=list)
    dashboards_written: list[str] = field(default_factory=list)
    dashboards_unchanged: list[str] = field(default_factory=list)
    housing_team_id: int | None = None


def connect(url: str, token: str | None, timeout: float = 10.0) -> GrafanaApi:
    """A client for ``url`` with a service-account token (or user:password in the URL)."""
    return GrafanaApi.from_url(url, credential=token, timeout=timeout)


def deploy(
    api: GrafanaApi,
    housing_team: str | None,
    permission: Literal["view", "edit"] = "view",
    datasource: Datasource | None = None,
    housing_datasource: Datasource | None = None,
) -> DeployReport:
    """Datasources, folders, housing permissions, dashboards; raises ConfigError/PlatformError.

    Two datasources: the public one (public database, read-only credentials that
    cannot read homes) and the housing one (home database, housing credentials).
    """
    report = DeployReport()
    try:
        report.datasource = _datasource(api, datasource)
        report.housing_datasource = _datasource(
            api, housing_datasource, HOUSING_DATASOURCE_UID, "Leeds WIN InfluxDB (housing)"
        )
        team_id = _team_id(api, housing_team) if housing_team else None
        report.housing_team_id = team_id
        for folder in FOLDERS:
            _folder(api, folder, report)
            if folder.restricted:
                items = (
                    []
                    if team_id is None
                    else [{"teamId": team_id, "permission": PERMISSIONS[permission]}]
                )
                api.folder.update_folder_permissions(folder.uid, items)
        for board in BOARDS:
            _dashboard(api, board.build(), board.folder, report)
    except GrafanaClientError as exc:
        if exc.status_code in (401, 403):
            raise ConfigError(
                f"Grafana refused the token ({exc.status_code}): {exc.message}"
            ) from exc
        raise PlatformError(
            f"Grafana rejected a request ({exc.status_code}): {exc.message}"
        ) from exc
    except GrafanaException as exc:
        raise PlatformError(f"Grafana failed: {exc.message}") from exc
    except OSError as exc:  # niquests' connection errors and timeouts are OSErrors
        raise PlatformError(f"Grafana unreachable: {exc}") from exc
    log.info(
        "event=dashboards_deployed datasource=%s folders_created=%d written=%d unchanged=%d",
        report.datasource,
        len(report.folders_created),
        len(report.dashboards_written),
        len(report.dashboards_unchanged),
    )
    return report


def _missing(exc: GrafanaClientError) -> bool:
    return exc.status_code == 404


def _datasource(
    api: GrafanaApi,
    wanted: Datasource | None,
    uid: str = DATASOURCE_UID,
    name: str = "Leeds WIN InfluxDB",
) -> Literal["created", "updated", "kept"]:
    try:
        current: Json | None = api.datasource.get_datasource_by_uid(uid)
    except GrafanaClientError as exc:
        if not _missing(exc):
            raise
        current = None
    if wanted is None:
        if current is None:
            raise ConfigError(
                f"Grafana has no datasource with uid {uid!r}: provision"
                " dashboards/provisioning/datasources/leedswin.yaml or pass --influx-url"
            )
        return "kept"
    body: dict[str, Any] = {
        "uid": uid,
        "name": name,
        "type": "influxdb",
        "access": "proxy",
        "url": wanted.url,
        "user": wanted.user or "",
        "jsonData": {"dbName": wanted.database, "httpMode": "GET", "timeInterval": "1m"},
    }
    if wanted.password:
        body["secureJsonData"] = {"password": wanted.password}
    if current is None:
        api.datasource.create_datasource(body)
        return "created"
    same = all(current.get(key) == body[key] for key in ("url", "user", "type", "jsonData"))
    if same and not wanted.password:
        return "kept"
    api.datasource.update_datasource_by_uid(uid, body)
    return "updated"


def _team_id(api: GrafanaApi, name: str) -> int:
    teams = [team for team in api.teams.get_team_by_name(name) if team.get("name") == name]
    if not teams:
        raise ConfigError(f"Grafana has no team named {name!r} for the housing folder")
    return int(teams[0]["id"])


def _folder(api: GrafanaApi, folder: Folder, report: DeployReport) -> None:
    try:
        current = api.folder.get_folder(folder.uid)
    except GrafanaClientError as exc:
        if not _missing(exc):
            raise
        api.folder.create_folder(folder.title, uid=folder.uid)
        report.folders_created.append(folder.uid)
        return
    if current.get("title") != folder.title:
        api.folder.update_folder(folder.uid, title=folder.title, overwrite=True)
        report.folders_renamed.append(folder.uid)


def _comparable(dashboard: Json) -> Json:
    return {key: value for key, value in dashboard.items() if key not in VOLATILE}


def _dashboard(api: GrafanaApi, dashboard: Json, folder: Folder, report: DeployReport) -> None:
    try:
        current = api.dashboard.get_dashboard(dashboard["uid"])
    except GrafanaClientError as exc:
        if not _missing(exc):
            raise
        current = None
    if (
        current is not None
        and current.get("meta", {}).get("folderUid") == folder.uid
        and _comparable(current.get("dashboard", {})) == _comparable(dashboard)
    ):
        report.dashboards_unchanged.append(dashboard["uid"])
        return
    api.dashboard.update_dashboard(
        {
            "dashboard": {**dashboard, "id": None},
            "folderUid": folder.uid,
            "overwrite": True,
            "message": "leedswin dashboards deploy",
        }
    )
    report.dashboards_written.append(dashboard["uid"])

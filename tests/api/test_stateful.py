"""Stateful property test of the API on a real server: keys and Awaab's Law alerts over time.

Hypothesis drives sequences of creating keys (any name, including control
characters), revoking them (real ids and made-up ones), reading with them, and
acting on alerts with arbitrary bodies (any action, note length, time: years 1
to 9999, naive or aware). After every step the model's invariants hold: no 5xx,
a revoked key gets 401, an active one 200, every listing renders, a closed
alert keeps its first ``closed_at``, and nothing refused was stored.
"""

from __future__ import annotations

import time
import typing
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    invariant,
    rule,
)

from api.main import create_app
from api.routes.housing import Action
from insights.alerts import AlertStore
from insights.damp import RiskLevel
from leedswin.services import LocalInfluxDB, LocalMosquitto
from storage.registry import open_registry
from tests.api.conftest import Keys, make_keys, make_settings, serve, write_points

pytestmark = pytest.mark.integration

HOMES = [f"c0000000000000{i:02x}" for i in range(4)]


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory, influxdb: LocalInfluxDB, mosquitto: LocalMosquitto
) -> Iterator[tuple[httpx.Client, Keys, Path]]:
    tmp_path = tmp_path_factory.mktemp("stateful")
    config = make_settings(
        tmp_path,
        influxdb,
        mosquitto,
        f"stateful_{time.time_ns()}",
        rate_limit_per_minute=100_000,
        bad_keys_per_minute=100_000,
    )
    write_points(influxdb.url, config[1].database, [])
    keys = make_keys(config[0].registry)
    conn = open_registry(config[0].registry)
    store = AlertStore(conn)
    opened = datetime.now(UTC) - timedelta(days=3)
    for index, home in enumerate(HOMES):
        store.raise_level(home, f"h-{index}", RiskLevel.HIGH, opened, {"mould_index": 1.0})
    conn.close()
    with serve(create_app(*config)) as base_url, httpx.Client(base_url=base_url) as client:
        yield client, keys, config[0].registry


_AWARE = st.datetimes(
    min_value=datetime(1, 1, 2),
    max_value=datetime(9999, 12, 30),
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=-11)), timezone(timedelta(hours=13))]),
)
_RECENT = st.integers(-5 * 86400, 600).map(lambda s: datetime.now(UTC) + timedelta(seconds=s))
_TIMES = st.one_of(st.none(), _AWARE, _RECENT, st.datetimes().map(datetime.isoformat))
_NAMES = st.one_of(
    st.text(min_size=0, max_size=40),
    st.sampled_from(["ops\nforged line", "tab\tname", "\u2028", " ", "ok"]),
)


def _jsonable(value: object) -> object:
    return value.isoformat() if isinstance(value, datetime) else value


class ApiMachine(RuleBasedStateMachine):
    """The model: which keys are active, and each alert's status and closed_at."""

    client: httpx.Client
    admin: str
    housing: str

    keys = Bundle("keys")

    def __init__(self) -> None:
        super().__init__()
        self.active: dict[str, str] = {}  # key_id -> token
        self.revoked: dict[str, str] = {}
        # The server outlives each example: the model starts from what it holds now.
        listing = self.client.get(
            "/v1/housing/alerts", params={"status": "all"}, headers={"X-API-Key": self.housing}
        ).json()["data"]
        self.closed_at: dict[int, str] = {
            a["id"]: a["closed_at"] for a in listing if a["closed_at"]
        }
        self.events: dict[int, int] = {a["id"]: len(a["events"]) for a in listing}

    def _admin(self) -> dict[str, str]:
        return {"X-API-Key": self.admin}

    @rule(target=keys, name=_NAMES, scope=st.sampled_from(["public", "housing", "admin"]))
    def create_key(self, name: str, scope: str) -> str:
        response = self.client.post(
            "/v1/keys", json={"name": name, "scope": scope}, headers=self._admin()
        )
        assert response.status_code in (201, 422), response.text
        if response.status_code == 422:
            return ""
        body = response.json()
        assert body["name"] == name and "\n" not in name
        self.active[body["key_id"]] = body["token"]
        return str(body["key_id"])

    @rule(key_id=consumes(keys))
    def revoke_key(self, key_id: str) -> None:
        response = self.client.delete(f"/v1/keys/{key_id or 'nosuchkey'}", headers=self._admin())
        if key_id in self.active:
            assert response.status_code == 204, response.text
            self.revoked[key_id] = self.active.pop(key_id)
        else:
            assert response.status_code in (404, 405), response.text

    @rule(key_id=keys)
    def use_key(self, key_id: str) -> None:
        token = self.active.get(key_id) or self.revoked.get(key_id)
        if token is None:
            return
        response = self.client.get("/v1/devices", headers={"X-API-Key": token})
        assert response.status_code == (200 if key_id in self.active else 401), response.text

    @rule(
        alert_id=st.integers(1, len(HOMES) + 1),
        action=st.sampled_from(typing.get_args(Action)),
        note=st.one_of(st.text(max_size=50), st.integers(1990, 2100).map(lambda n: "n" * n)),
        at=_TIMES,
    )
    def act(self, alert_id: int, action: str, note: str, at: object) -> None:
        body: dict[str, object] = {"action": action, "note": note}
        if at is not None:
            body["at"] = _jsonable(at)
        response = self.client.post(
            f"/v1/housing/alerts/{alert_id}/actions",
            json=body,
            headers={"X-API-Key": self.housing},
        )
        assert response.status_code in (200, 404, 409, 422), response.text
        if alert_id > len(HOMES):
            assert response.status_code in (404, 422)  # the body is validated first
            return
        if response.status_code == 409:
            assert action == "closed" and alert_id in self.closed_at
        if response.status_code != 200:
            assert note not in response.text or len(note) < 100
            return
        alert = response.json()
        self.events[alert_id] = len(alert["events"])
        if action == "closed":
            assert alert_id not in self.closed_at, "closed twice"
            self.closed_at[alert_id] = alert["closed_at"]

    @rule(home=st.sampled_from(HOMES))
    def read_home(self, home: str) -> None:
        page = self.client.get(f"/v1/housing/homes/{home}", headers={"X-API-Key": self.housing})
        assert page.status_code in (200, 404), page.text  # no damp series here: 404

    @invariant()
    def alerts_render_and_keep_their_history(self) -> None:
        response = self.client.get(
            "/v1/housing/alerts", params={"status": "all"}, headers={"X-API-Key": self.housing}
        )
        assert response.status_code == 200, response.text
        listing = {a["id"]: a for a in response.json()["data"]}
        assert response.json()["skipped"] == 0
        for alert_id, closed_at in self.closed_at.items():
            assert listing[alert_id]["closed_at"] == closed_at
        for alert_id, count in self.events.items():
            assert len(listing[alert_id]["events"]) == count


def test_keys_and_alerts_stay_consistent(served: tuple[httpx.Client, Keys, Path]) -> None:
    client, keys, _ = served
    ApiMachine.client = client
    ApiMachine.admin = keys.admin
    ApiMachine.housing = keys.housing
    machine = ApiMachine.TestCase
    machine.settings = settings(
        max_examples=10,
        stateful_step_count=15,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    machine().runTest()

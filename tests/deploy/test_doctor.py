"""`leedswin doctor` against real Mosquitto and InfluxDB, configured right and wrong."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from core.settings import InfluxSettings
from leedswin.cli import app
from leedswin.demo import INFLUX_USERS
from leedswin.services import (
    BRIDGE_ACCOUNT,
    HOUSING_ACCOUNT,
    NETWORK_ACCOUNT,
    LocalInfluxDB,
    LocalMosquitto,
    broker_acl,
)
from storage.influx import make_sink
from storage.points import encode, make_point
from storage.provision import Account, provision
from storage.query import InfluxQL
from storage.registry import SCHEMA_VERSION, open_registry
from storage.retention import expire_home

pytestmark = pytest.mark.integration

PASSWORDS = {
    name: f"pw-{uuid.uuid4().hex[:8]}"
    for name in (BRIDGE_ACCOUNT, NETWORK_ACCOUNT, HOUSING_ACCOUNT, "innovator")
}
ADMIN = Account("admin", "admin-" + uuid.uuid4().hex)
INFLUX = {
    role: Account(name, f"{name}-{uuid.uuid4().hex[:8]}") for role, name in INFLUX_USERS.items()
}


class WrongAclMosquitto(LocalMosquitto):
    """The shipped ACL plus one wrong line: every account may read the restricted tree."""

    def command(self) -> list[str]:
        command = super().command()
        (self.root / "acl").write_text(
            "pattern read leedswin/v1/restricted/readings/#\n" + broker_acl()
        )
        return command


@pytest.fixture(scope="module")
def broker() -> Iterator[LocalMosquitto]:
    with LocalMosquitto(accounts=PASSWORDS) as server:
        yield server


@pytest.fixture(scope="module")
def database() -> Iterator[LocalInfluxDB]:
    with LocalInfluxDB(auth=True) as server:
        for name in ("good", "norp"):
            provision(InfluxSettings(url=server.url, database=name), ADMIN, INFLUX)
        admin = InfluxQL(
            InfluxSettings(
                url=server.url, database="norp", username=ADMIN.username, password=ADMIN.password
            ),
            include_home=False,
        )
        admin.query('DROP RETENTION POLICY "autogen" ON "norp_home"')
        admin.close()
        yield server


def env(
    broker: LocalMosquitto, database: LocalInfluxDB, registry: Path, **changes: str
) -> dict[str, str]:
    values = {
        "LEEDSWIN_MQTT_URL": broker.url,
        "LEEDSWIN_MQTT_USERNAME": BRIDGE_ACCOUNT,
        "LEEDSWIN_MQTT_PASSWORD": PASSWORDS[BRIDGE_ACCOUNT],
        "LEEDSWIN_DOCTOR_PROBE_USERNAME": "innovator",
        "LEEDSWIN_DOCTOR_PROBE_PASSWORD": PASSWORDS["innovator"],
        "LEEDSWIN_DOCTOR_HOUSING_USERNAME": HOUSING_ACCOUNT,
        "LEEDSWIN_DOCTOR_HOUSING_PASSWORD": PASSWORDS[HOUSING_ACCOUNT],
        "LEEDSWIN_INFLUX_URL": database.url,
        "LEEDSWIN_INFLUX_DATABASE": "good",
        "LEEDSWIN_INFLUX_USERNAME": INFLUX["bridge"].username,
        "LEEDSWIN_INFLUX_PASSWORD": INFLUX["bridge"].password,
        "LEEDSWIN_INFLUX_PUBLIC_USERNAME": INFLUX["public"].username,
        "LEEDSWIN_INFLUX_PUBLIC_PASSWORD": INFLUX["public"].password,
        "LEEDSWIN_API_REGISTRY": str(registry),
    }
    return {**values, **changes}


@pytest.fixture
def registry(tmp_path: Path) -> Path:
    path = tmp_path / "registry.sqlite3"
    open_registry(path).close()
    return path


def doctor(environment: dict[str, str], *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["doctor", *args], env=environment)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def failures(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("FAIL")]


def test_a_correct_deployment_passes_every_check(broker, database, registry) -> None:
    code, output = doctor(env(broker, database, registry))
    assert failures(output) == [], output
    assert code == 0, output
    for expected in (
        "broker accepts account leedswin-bridge",
        "probe account may not publish leedswin/v1/readings/…",
        "probe account receives nothing restricted",
        "housing account receives the restricted tree",
        "retention policy autogen on good",
        "skip  retention policy of good_home",
        "skip  no point in good_home older than its retention (396d) and a day",
        "leedswin-bridge (bridge) may not read good_home",
        "leedswin-bridge (bridge) may write good_home",
        "leedswin-public (public) may not read good_home",
        "leedswin-public (public) may read good",
        f"registry schema version {SCHEMA_VERSION}",
        "clocks agree",
    ):
        assert expected in output, output


def test_the_insights_role_expects_its_grants(broker, database, registry) -> None:
    environment = env(
        broker,
        database,
        registry,
        LEEDSWIN_INFLUX_USERNAME=INFLUX["insights"].username,
        LEEDSWIN_INFLUX_PASSWORD=INFLUX["insights"].password,
    )
    code, output = doctor(environment, "--role", "insights", "--skip-broker")
    assert code == 0, output
    # The same user checked as the bridge is wrong: insights may read.
    code, output = doctor(environment, "--role", "bridge", "--skip-broker")
    assert code == 1
    assert any("may not read good_home: allowed: REVOKE READ" in line for line in failures(output))


def test_a_wrong_password_is_named(broker, database, registry) -> None:
    code, output = doctor(env(broker, database, registry, LEEDSWIN_MQTT_PASSWORD="wrong"))
    assert code == 1
    assert [line for line in failures(output) if "broker accepts account leedswin-bridge" in line]


def test_a_wrong_influx_password_is_named(broker, database, registry) -> None:
    code, output = doctor(
        env(broker, database, registry, LEEDSWIN_INFLUX_PASSWORD="wrong"), "--skip-broker"
    )
    assert code == 1
    assert any("leedswin-bridge (bridge) may write good" in line for line in failures(output))


def test_a_wrong_acl_is_named(database, registry) -> None:
    with WrongAclMosquitto(accounts=PASSWORDS) as wrong:
        code, output = doctor(env(wrong, database, registry))
    assert code == 1
    named = failures(output)
    assert any("probe account receives nothing restricted" in line for line in named), output


def test_a_missing_retention_policy_is_named(broker, database, registry) -> None:
    environment = env(
        broker,
        database,
        registry,
        LEEDSWIN_INFLUX_DATABASE="norp",
        LEEDSWIN_INFLUX_USERNAME=INFLUX["insights"].username,
        LEEDSWIN_INFLUX_PASSWORD=INFLUX["insights"].password,
    )
    code, output = doctor(environment, "--role", "insights")
    assert code == 1
    named = failures(output)
    assert any("retention policy autogen on norp_home: missing" in line for line in named), output
    assert "CREATE RETENTION POLICY" in output
    # Writes to it fail too (the default policy is gone); nothing else is blamed.
    assert all("norp_home" in line for line in named), output


def test_an_old_registry_is_named(broker, database, tmp_path) -> None:
    import sqlite3

    old = tmp_path / "old.sqlite3"
    sqlite3.connect(old).close()
    code, output = doctor(env(broker, database, old), "--skip-broker")
    assert code == 1
    refusal = f"registry schema version 0 (this release: {SCHEMA_VERSION})"
    assert any(refusal in line for line in failures(output))


def test_a_home_server_of_its_own_is_checked_there(broker, database, registry) -> None:
    with LocalInfluxDB(auth=True) as home:
        provision(
            InfluxSettings(url=database.url, home_url=home.url, database="split"), ADMIN, INFLUX
        )
        code, output = doctor(
            env(
                broker,
                database,
                registry,
                LEEDSWIN_INFLUX_DATABASE="split",
                LEEDSWIN_INFLUX_HOME_URL=home.url,
            )
        )
    assert failures(output) == [], output
    assert code == 0, output
    for expected in (
        f"InfluxDB reachable at {home.url}",
        "leedswin-public (public) has no account on the home server",
        "leedswin-bridge (bridge) may write split_home",
        "leedswin-public (public) may not read split_home",
        "leedswin-public (public) may read split",
    ):
        assert expected in output, output


def test_a_public_account_on_the_home_server_fails(broker, database, registry) -> None:
    """As importing the one-server script on the home server would leave it."""
    with LocalInfluxDB(auth=True) as home:
        provision(InfluxSettings(url=home.url, database="split"), ADMIN, INFLUX)
        provision(
            InfluxSettings(url=database.url, home_url=home.url, database="split"), ADMIN, INFLUX
        )
        _, output = doctor(
            env(
                broker,
                database,
                registry,
                LEEDSWIN_INFLUX_DATABASE="split",
                LEEDSWIN_INFLUX_HOME_URL=home.url,
            )
        )
    assert any("has no account on the home server" in line for line in failures(output)), output


def test_home_data_past_their_retention_are_named(broker, database, registry) -> None:
    """Home points older than the configured retention and a day mean the daily expiry is not
    running (7-day shard groups alone keep them up to a week longer); after it, none are."""
    insights = InfluxSettings(
        url=database.url,
        database="aged",
        username=INFLUX["insights"].username,
        password=INFLUX["insights"].password,
        home_retention="1d",
    )
    provision(insights.model_copy(update={"home_retention": None}), ADMIN, INFLUX)
    three_days_ago = time.time_ns() - 3 * 86_400 * 10**9
    sink = make_sink(insights)
    sink.write(
        encode(
            [make_point("climate", {"privacy": "home", "site": "h1"}, {"rh": 80.0}, three_days_ago)]
        )
    )
    sink.close()
    environment = env(
        broker,
        database,
        registry,
        LEEDSWIN_INFLUX_DATABASE="aged",
        LEEDSWIN_INFLUX_USERNAME=INFLUX["insights"].username,
        LEEDSWIN_INFLUX_PASSWORD=INFLUX["insights"].password,
        LEEDSWIN_INFLUX_HOME_RETENTION="1d",
    )
    label = "no point in aged_home older than its retention (1d) and a day"
    _, output = doctor(environment, "--role", "insights", "--skip-broker")
    assert any(label in line and "climate" in line for line in failures(output)), output
    # The configured 1d is not the policy's 396d: the fix names the shard groups a 1-day
    # policy needs (InfluxDB refuses a policy shorter than its groups).
    assert 'DURATION 1d SHARD DURATION 1h DEFAULT' in output, output
    expire_home(insights, datetime.now(UTC))
    _, output = doctor(environment, "--role", "insights", "--skip-broker")
    assert f"ok    {label}" in output, output
    # The bridge may not read home data: the check is skipped, not failed.
    bridge = env(
        broker,
        database,
        registry,
        LEEDSWIN_INFLUX_DATABASE="aged",
        LEEDSWIN_INFLUX_HOME_RETENTION="1d",
    )
    _, output = doctor(bridge, "--skip-broker")
    assert f"skip  {label}" in output, output

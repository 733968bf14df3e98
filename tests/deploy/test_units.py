"""deploy/: the systemd units, the Mosquitto snippet and ACL, the InfluxDB script.

The generated files must match their generators; the units must pass
``systemd-analyze verify`` and carry the hardening; and a deployment built
from these files alone (Mosquitto from the snippet and ACL, InfluxDB from the
script) must pass `leedswin doctor` and run each program exactly as its unit
starts it (ExecStart, Environment=, LoadCredential=) until SIGTERM.
"""

from __future__ import annotations

import getpass
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from core.settings import InfluxSettings
from leedswin import deploy
from leedswin.services import (
    BRIDGE_ACCOUNT,
    HOUSING_ACCOUNT,
    NETWORK_ACCOUNT,
    LocalInfluxDB,
    LocalMosquitto,
    broker_acl,
    free_port,
    write_password_file,
)

DEPLOY = Path(__file__).parents[2] / "deploy"
UNITS = sorted((DEPLOY / "systemd").glob("*.service"))
INSTALLED = "/opt/leedswin/bin/leedswin"
CREDENTIALS = "/etc/leedswin/credentials/"
LEEDSWIN = str(Path(sys.executable).parent / "leedswin")
#: Bridge drain: 30 s for the MQTT session, 30 s for the writer (gateway_bridge.service.serve).
BRIDGE_DRAIN = 60


@dataclass
class Unit:
    """A unit file's settings; a key given several times (Environment=) keeps every value."""

    path: Path
    sections: dict[str, dict[str, list[str]]]

    @classmethod
    def read(cls, path: Path) -> Unit:
        sections: dict[str, dict[str, list[str]]] = {}
        current: dict[str, list[str]] = {}
        for raw in path.read_text().splitlines():
            line = raw.strip()
            if not line or line.startswith(("#", ";")):
                continue
            if line.startswith("["):
                current = sections.setdefault(line.strip("[]"), {})
                continue
            key, _, value = line.partition("=")
            current.setdefault(key.strip(), []).append(value.strip())
        return cls(path, sections)

    def get(self, key: str, section: str = "Service") -> str:
        return self.sections[section][key][-1]

    def all(self, key: str, section: str = "Service") -> list[str]:
        return self.sections[section].get(key, [])


def test_generated_files_are_current() -> None:
    assert (DEPLOY / deploy.MOSQUITTO_ACL).read_text() == deploy.mosquitto_acl()
    assert (DEPLOY / deploy.MOSQUITTO_CONF).read_text() == deploy.mosquitto_conf()
    assert (DEPLOY / deploy.INFLUX_SCRIPT).read_text() == deploy.influx_script(), (
        "deploy/ is stale: run `leedswin deploy-files deploy`"
    )
    for server, path in deploy.INFLUX_SCRIPTS_SPLIT.items():
        assert (DEPLOY / path).read_text() == deploy.influx_script(server=server)
    # The ACL the demo and the tests run, line for line.
    assert broker_acl() in (DEPLOY / deploy.MOSQUITTO_ACL).read_text()


@pytest.mark.parametrize("path", UNITS, ids=lambda p: p.name)
def test_units_are_hardened(path: Path) -> None:
    unit = Unit.read(path)
    assert unit.get("User") == "leedswin" and unit.get("Group") == "leedswin"
    for key, value in {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "Restart": "on-failure",
        "KillSignal": "SIGTERM",
    }.items():
        assert unit.get(key) == value, key
    assert unit.get("StateDirectory").split()[0] == "leedswin"
    assert unit.get("ExecStart").startswith(f"{INSTALLED} ")
    # Secrets only through credentials, never on the command line or in Environment=.
    assert all("PASSWORD" not in env and "TOKEN" not in env for env in unit.all("Environment"))
    assert unit.all("LoadCredential")
    assert all(c.split(":", 1)[1].startswith(CREDENTIALS) for c in unit.all("LoadCredential"))
    if "bridge" in path.name:
        assert int(unit.get("TimeoutStopSec")) > BRIDGE_DRAIN
        assert "leedswin/spool" in unit.get("StateDirectory").split()


@pytest.mark.parametrize("path", UNITS, ids=lambda p: p.name)
def test_systemd_analyze_verify(path: Path, tmp_path: Path) -> None:
    """`systemd-analyze verify` checks a unit offline; it needs ExecStart's binary to exist,
    so the copy verified points at this venv's `leedswin` instead of /opt/leedswin."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze not installed (Debian package systemd)")
    copy = tmp_path / path.name
    copy.write_text(path.read_text().replace(INSTALLED, LEEDSWIN))
    result = subprocess.run(
        [analyze, "verify", str(copy)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert path.name not in result.stderr, result.stderr


# ---- a deployment built from deploy/ alone ---------------------------------------------------

MQTT_NAMES = {
    "mqtt-bridge": BRIDGE_ACCOUNT,
    "mqtt-network": NETWORK_ACCOUNT,
    "mqtt-housing": HOUSING_ACCOUNT,
    "mqtt-innovator": "innovator",
}


class SnippetMosquitto(LocalMosquitto):
    """Mosquitto configured by deploy/mosquitto/, paths moved into its own directory."""

    def __init__(self, root: Path, passwords: dict[str, str]) -> None:
        super().__init__(root)
        self.passwords = passwords

    def command(self) -> list[str]:
        binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        write_password_file(self.root / "leedswin.passwd", self.passwords)
        shutil.copy(DEPLOY / deploy.MOSQUITTO_ACL, self.root / "leedswin.acl")
        snippet = (DEPLOY / deploy.MOSQUITTO_CONF).read_text()
        snippet = snippet.replace("/etc/mosquitto/", f"{self.root}/")
        (self.root / "data").mkdir(exist_ok=True)
        config = self.root / "mosquitto.conf"
        config.write_text(
            f"user {getpass.getuser()}\n"
            f"listener {self.port} 127.0.0.1\n"
            f"persistence_location {self.root / 'data'}/\n"
            "log_dest stderr\n" + snippet
        )
        return [binary, "-c", str(config)]


@dataclass
class Deployment:
    root: Path
    config: Path
    credentials: Path
    broker: LocalMosquitto
    influx: LocalInfluxDB
    api_port: int
    metrics_port: int


def run_script(influx: LocalInfluxDB, script: str, admin: tuple[str, str]) -> None:
    """Each statement of the script over /query, as `influx -import` sends them."""
    statements = [line for line in script.splitlines() if line and not line.startswith("#")]
    for number, statement in enumerate(statements):
        auth = None if number == 0 else admin  # the first creates the admin
        response = httpx.post(f"{influx.url}/query", data={"q": statement}, auth=auth)
        assert response.status_code == 200 and "error" not in response.text, (
            statement,
            response.text,
        )


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    root = tmp_path_factory.mktemp("deployment")
    credentials = root / "credentials"
    credentials.mkdir()
    names = [
        *MQTT_NAMES,
        "influx-admin",
        *(f"influx-{r}" for r in ("bridge", "insights", "housing", "public")),
    ]
    for name in names:
        (credentials / name).write_text(secrets.token_urlsafe(12) + "\n")
    passwords = {user: (credentials / f).read_text().strip() for f, user in MQTT_NAMES.items()}
    api_port, metrics_port = free_port(), free_port()
    with (
        SnippetMosquitto(root / "mosquitto", passwords) as broker,
        LocalInfluxDB(root / "influxdb", auth=True) as influx,
    ):
        run_script(
            influx,
            deploy.influx_script(InfluxSettings(), credentials),
            ("leedswin-admin", (credentials / "influx-admin").read_text().strip()),
        )
        state = root / "state"  # /var/lib/leedswin, made by StateDirectory=
        (state / "spool").mkdir(parents=True)
        config = root / "leedswin.toml"
        config.write_text(
            f'[mqtt]\nurl = "{broker.url}"\n'
            f'[influx]\nurl = "{influx.url}"\n'
            f'[bridge]\nspool_dir = "{state / "spool"}"\nmetrics_port = {metrics_port}\n'
            f'[api]\nregistry = "{state / "registry.sqlite3"}"\nport = {api_port}\n'
            "[insights]\ninterval = 3600\n"
        )
        yield Deployment(root, config, credentials, broker, influx, api_port, metrics_port)


def unit_process(unit: Unit, deployment: Deployment, name: str) -> tuple[list[str], dict[str, str]]:
    """ExecStart's argv and the environment systemd would give it (credentials copied into a
    directory of their own, as LoadCredential= does), with the test's config file."""
    argv = unit.get("ExecStart").split()
    assert argv[0] == INSTALLED
    argv[0] = LEEDSWIN
    loaded = deployment.root / f"credentials-{name}"
    loaded.mkdir(exist_ok=True)
    for credential in unit.all("LoadCredential"):
        env_name, source = credential.split(":", 1)
        shutil.copy(deployment.credentials / source.removeprefix(CREDENTIALS), loaded / env_name)
    env = {key: value for key, value in os.environ.items() if not key.startswith("LEEDSWIN_")}
    env["LEEDSWIN_HOME"] = str(deployment.root / "no-demo")
    for assignment in unit.all("Environment"):
        key, _, value = assignment.partition("=")
        env[key] = value
    env["LEEDSWIN_CONFIG"] = str(deployment.config)
    env["CREDENTIALS_DIRECTORY"] = str(loaded)
    return argv, env


def wait_for(check, timeout: float, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"exited {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if check():
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"did not come up:\n{log.read_text()[-3000:]}")


@pytest.mark.integration
def test_doctor_passes_on_a_deployment_from_deploy_files(deployment: Deployment) -> None:
    unit = Unit.read(DEPLOY / "systemd" / "leedswin-bridge.service")
    argv, env = unit_process(unit, deployment, "doctor")
    env["LEEDSWIN_DOCTOR_PROBE_USERNAME"] = "innovator"
    env["LEEDSWIN_DOCTOR_PROBE_PASSWORD_FILE"] = str(deployment.credentials / "mqtt-innovator")
    env["LEEDSWIN_INFLUX_PUBLIC_USERNAME"] = "leedswin-public"
    env["LEEDSWIN_INFLUX_PUBLIC_PASSWORD_FILE"] = str(deployment.credentials / "influx-public")
    result = subprocess.run(
        [LEEDSWIN, "doctor", "--role", "bridge", "--registry", str(deployment.root / "r.sqlite3")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    # The registry does not exist before the API's first start: the one expected failure.
    failed = [line for line in result.stdout.splitlines() if line.startswith("FAIL")]
    assert len(failed) == 1 and "r.sqlite3 exists" in failed[0], result.stdout


@pytest.mark.integration
@pytest.mark.parametrize(
    ("name", "up"),
    [
        ("leedswin-bridge.service", "bridge"),
        ("leedswin-api.service", "api"),
        ("leedswin-insights.service", "insights"),
    ],
)
def test_each_unit_runs_as_started_by_systemd_and_stops_on_sigterm(
    deployment: Deployment, name: str, up: str
) -> None:
    unit = Unit.read(DEPLOY / "systemd" / name)
    argv, env = unit_process(unit, deployment, up)
    log = deployment.root / f"{up}.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        if up == "bridge":
            url = f"http://127.0.0.1:{deployment.metrics_port}/readyz"
            wait_for(lambda: httpx.get(url).status_code == 200, 30, process, log)
        elif up == "api":
            url = f"http://127.0.0.1:{deployment.api_port}/readyz"
            wait_for(lambda: httpx.get(url).status_code == 200, 30, process, log)
        else:
            wait_for(lambda: "insights run since=" in log.read_text(), 60, process, log)
        process.send_signal(signal.SIGTERM)
        code = process.wait(int(unit.get("TimeoutStopSec")))
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    # systemd.service(5): exit 0 and death by SIGTERM are both clean; uvicorn re-raises the
    # signal after its graceful shutdown, which its log shows completed.
    assert code in (0, -signal.SIGTERM), log.read_text()[-3000:]
    if up != "api":
        assert code == 0
    else:
        assert "Application shutdown complete" in log.read_text()
        assert (deployment.root / "state" / "registry.sqlite3").stat().st_mode & 0o777 == 0o600


def test_rendered_scripts_with_real_passwords_are_owner_only(tmp_path: Path) -> None:
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    for role in ("admin", "bridge", "insights", "housing", "public"):
        (credentials / f"influx-{role}").write_text(f"pw-{role}\n")
    written = deploy.render(tmp_path / "out", credentials)
    scripts = [p for p in written if p.suffix == ".influxql"]
    assert len(scripts) == 3
    for path in scripts:
        assert "pw-admin" in path.read_text()
        assert path.stat().st_mode & 0o077 == 0, path
    home = (tmp_path / "out" / deploy.INFLUX_SCRIPTS_SPLIT["home"]).read_text()
    assert "pw-public" not in home

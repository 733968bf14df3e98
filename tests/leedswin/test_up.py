"""`leedswin up` as a new user meets it: README commands work beside it without flags."""

from __future__ import annotations

import os
import re
import socket
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from core.settings import InfluxSettings, MqttSettings
from leedswin.commands import fleet as fleet_command
from leedswin.commands.up import port_in_use
from leedswin.services import free_port

pytestmark = pytest.mark.integration

LEEDSWIN = str(Path(sys.executable).parent / "leedswin")
ROOT = Path(__file__).resolve().parents[2]


def test_port_check_ignores_time_wait_but_sees_a_listener() -> None:
    port = free_port()
    with socket.socket() as server:
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", port))
        server.listen()
        assert port_in_use(port)
        client = socket.create_connection(("127.0.0.1", port))
        accepted, _ = server.accept()
        accepted.close()  # the server side closes first: its socket lingers in TIME_WAIT
        client.close()
    assert not port_in_use(port)


def fleet_section_commands() -> list[str]:
    """The command lines of the README's "Running the fleet" block for the demo."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Running the fleet", 1)[1].split("\n## ", 1)[0]
    block = section.split("```sh\n", 1)[1].split("```", 1)[0]
    return [line for line in block.splitlines() if line.strip()]


def test_readme_commands_work_against_the_running_demo(tmp_path: Path) -> None:
    # As a new user runs it: from the checkout, the demo in ./.leedswin (no LEEDSWIN_HOME).
    home = tmp_path / ".leedswin"
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEEDSWIN_")}
    env["PATH"] = f"{Path(LEEDSWIN).parent}{os.pathsep}{env.get('PATH', '')}"
    port = free_port()
    up = subprocess.Popen(
        [
            LEEDSWIN,
            "up",
            "--duration",
            "60",
            "--backfill-hours",
            "1",
            "--devices",
            "6",
            "--api-port",
            str(port),
        ],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert up.stdout is not None
        banner = ""
        deadline = time.monotonic() + 60
        while "live:" not in banner and time.monotonic() < deadline:
            line = up.stdout.readline()
            if not line:
                break
            banner += line
        assert "live:" in banner, banner
        admin = re.search(r"admin key\s+(\S+)", banner)
        assert admin and f"http://127.0.0.1:{port}/docs" in banner
        # The demo's secrets are its owner's only.
        for name in ("demo.env", "credentials.json"):
            assert stat.S_IMODE((home / name).stat().st_mode) == 0o600
        # KEY=$(leedswin keys create …) as in the README, no flags: the demo's registry.
        key = subprocess.run(
            [LEEDSWIN, "keys", "create", "--name", "Open Data Leeds", "--scope", "public"],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
            devices = client.get("/v1/devices", headers={"X-API-Key": key})
            assert devices.status_code == 200 and devices.json()["count"] > 0
            assert {d["privacy"] for d in devices.json()["data"]} == {"public"}
            keys = client.get("/v1/keys", headers={"X-API-Key": admin.group(1)})
            assert keys.status_code == 200 and "Open Data Leeds" in keys.text
        # The README's "Running the fleet" commands, as written.
        commands = fleet_section_commands()
        assert any(c.startswith("leedswin fleet run --once") for c in commands)
        for command in commands:
            done = subprocess.run(
                ["bash", "-euo", "pipefail", "-c", command],
                env=env,
                cwd=tmp_path,
                capture_output=True,
                text=True,
            )
            assert done.returncode == 0, (command, done.stdout, done.stderr)
            if command.startswith("leedswin fleet status"):
                assert '"dev_eui"' in done.stdout or done.stdout == ""
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
            fleet = client.get("/v1/fleet/devices", headers={"X-API-Key": admin.group(1)})
            assert fleet.status_code == 200 and fleet.json()["count"] > 0
            assert all(d["ward"] for d in fleet.json()["data"])
        assert sorted(p.name for p in tmp_path.iterdir()) == [".leedswin", "examples"]
        # No secret and no per-request URL in what a person reads.
        up.terminate()
        _, stderr = up.communicate(timeout=60)
        assert "HTTP Request" not in stderr and "p=" not in stderr
        assert "password" not in stderr.lower()
        assert stderr.count("level=INFO") < 20, stderr
    finally:
        if up.poll() is None:
            up.kill()
        up.communicate(timeout=60)  # closes the pipes a failed assertion left open


def test_fleet_threads_use_the_device_registry_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`up` sets no LEEDSWIN_BRIDGE_DEVICE_REGISTRY: the fleet must get the demo's registry
    from its argument, or every ward is null."""
    monkeypatch.delenv("LEEDSWIN_BRIDGE_DEVICE_REGISTRY", raising=False)
    monkeypatch.delenv("LEEDSWIN_CHIRPSTACK_SYNC_MINUTES", raising=False)
    seen: list[Path | None] = []

    def run_fleet(*args: object) -> None:
        seen.append(args[4])  # type: ignore[arg-type]

    monkeypatch.setattr(fleet_command, "run_fleet", run_fleet)
    devices = tmp_path / "devices.yaml"
    threads = fleet_command.start_fleet_threads(
        InfluxSettings(),
        MqttSettings(),
        tmp_path / "registry.sqlite3",
        threading.Event(),
        device_registry=devices,
    )
    for thread in threads:
        thread.join()
    assert seen == [devices]

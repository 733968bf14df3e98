"""`leedswin registry sync` against a real gRPC server speaking ChirpStack v4's API.

The server is ``grpc.server`` on a loopback port with the servicer classes
generated in ``chirpstack_api.api``; it checks ``authorization: Bearer`` like
ChirpStack does and pages its List answers by ``limit``/``offset``.
"""

from __future__ import annotations

import stat
from collections.abc import Iterator
from concurrent import futures
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest
import yaml
from chirpstack_api import api, common
from google.protobuf.timestamp_pb2 import Timestamp
from typer.testing import CliRunner

from leedswin.cli import app
from storage.devices import load_devices
from tests.tls import self_signed

TOKEN = "test-token-123"
TENANT = "52f14cd4-c6f1-4fbd-8f87-4025e1d49242"
APPS = ("app-public", "app-homes")
PROFILE_AM319 = "dp-am319"
PROFILE_ERS = "dp-ers"
PROFILE_GONE = "dp-deleted"


@dataclass
class State:
    """What the fake ChirpStack holds, and what it was asked."""

    devices: dict[str, list[api.DeviceListItem]] = field(default_factory=dict)
    profiles: dict[str, api.DeviceProfile] = field(default_factory=dict)
    list_calls: list[tuple[str, int, int]] = field(default_factory=list)


def _authorised(context: grpc.ServicerContext) -> None:
    metadata = dict(context.invocation_metadata())
    if metadata.get("authorization") != f"Bearer {TOKEN}":
        context.abort(grpc.StatusCode.UNAUTHENTICATED, "authorization token invalid")


def _page(items: list[Any], request: Any) -> list[Any]:
    return items[request.offset : request.offset + request.limit]


class Tenants(api.TenantServiceServicer):
    def __init__(self, state: State) -> None:
        self.state = state

    def List(self, request: Any, context: grpc.ServicerContext) -> api.ListTenantsResponse:  # noqa: N802
        _authorised(context)
        items = [api.TenantListItem(id=TENANT, name="Leeds City Council")]
        return api.ListTenantsResponse(total_count=len(items), result=_page(items, request))


class Applications(api.ApplicationServiceServicer):
    def __init__(self, state: State) -> None:
        self.state = state

    def List(self, request: Any, context: grpc.ServicerContext) -> api.ListApplicationsResponse:  # noqa: N802
        _authorised(context)
        assert request.tenant_id == TENANT
        items = [api.ApplicationListItem(id=a, name=a) for a in APPS]
        return api.ListApplicationsResponse(total_count=len(items), result=_page(items, request))


class Devices(api.DeviceServiceServicer):
    def __init__(self, state: State) -> None:
        self.state = state

    def List(self, request: Any, context: grpc.ServicerContext) -> api.ListDevicesResponse:  # noqa: N802
        _authorised(context)
        self.state.list_calls.append((request.application_id, request.offset, request.limit))
        items = self.state.devices.get(request.application_id, [])
        return api.ListDevicesResponse(total_count=len(items), result=_page(items, request))


class Profiles(api.DeviceProfileServiceServicer):
    def __init__(self, state: State) -> None:
        self.state = state

    def Get(self, request: Any, context: grpc.ServicerContext) -> api.GetDeviceProfileResponse:  # noqa: N802
        _authorised(context)
        profile = self.state.profiles.get(request.id)
        if profile is None:
            context.abort(grpc.StatusCode.NOT_FOUND, "Object does not exist")
        return api.GetDeviceProfileResponse(device_profile=profile)


def device(
    eui: str, profile: str, profile_name: str, tags: dict[str, str], battery: float | None = None
) -> api.DeviceListItem:
    seen = Timestamp()
    seen.FromSeconds(1_790_000_000)
    item = api.DeviceListItem(
        dev_eui=eui,
        name=f"sensor {eui}",
        device_profile_id=profile,
        device_profile_name=profile_name,
        tags=tags,
        last_seen_at=seen,
    )
    if battery is not None:
        item.device_status.CopyFrom(api.DeviceStatus(margin=7, battery_level=battery))
    return item


def fill(state: State) -> None:
    """Two applications: 25 public AM319s (3 pages of 10) and three awkward home devices."""
    state.profiles = {
        PROFILE_AM319: api.DeviceProfile(
            id=PROFILE_AM319,
            tenant_id=TENANT,
            name="Milesight AM319",
            region=common.Region.EU868,
            uplink_interval=600,
        ),
        PROFILE_ERS: api.DeviceProfile(
            id=PROFILE_ERS, tenant_id=TENANT, name="ERS home sensors", uplink_interval=900
        ),
    }
    # 25 public AM319s: more than two pages of 10.
    state.devices["app-public"] = [
        device(
            f"24e124710c4{i:05x}",
            PROFILE_AM319,
            "Milesight AM319",
            {"site": f"library-{i % 3}", "ward": "Headingley", "privacy": "public"},
            battery=80.0,
        )
        for i in range(25)
    ]
    state.devices["app-homes"] = [
        # Model from its tag; the profile name names no model. No privacy tag: stays unknown.
        device(
            "a81758fffe000001",
            PROFILE_ERS,
            "ERS home sensors",
            {"model": "elsys-ers", "site": "home-7f3a", "ward": "Armley"},
        ),
        # No tags at all and a profile that was deleted: no model, reported and skipped.
        device("a81758fffe000002", PROFILE_GONE, "", {}),
        # No tags, but a profile naming a model: synced with privacy unknown.
        device("24e124710c499999", PROFILE_AM319, "Milesight AM319", {}),
    ]


def start(state: State, credentials: grpc.ServerCredentials | None = None) -> tuple[Any, int]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    api.add_TenantServiceServicer_to_server(Tenants(state), server)
    api.add_ApplicationServiceServicer_to_server(Applications(state), server)
    api.add_DeviceServiceServicer_to_server(Devices(state), server)
    api.add_DeviceProfileServiceServicer_to_server(Profiles(state), server)
    if credentials is None:
        port = server.add_insecure_port("127.0.0.1:0")
    else:
        port = server.add_secure_port("127.0.0.1:0", credentials)
    server.start()
    return server, port


@pytest.fixture
def chirpstack() -> Iterator[tuple[str, State]]:
    state = State()
    fill(state)
    server, port = start(state)
    try:
        yield f"127.0.0.1:{port}", state
    finally:
        server.stop(grace=None)


def run(target: str, registry: Path, *args: str, token: str = TOKEN) -> Any:
    env = {
        "LEEDSWIN_CHIRPSTACK_API_TOKEN": token,
        "LEEDSWIN_CHIRPSTACK_PAGE_SIZE": "10",
    }
    return CliRunner().invoke(
        app,
        ["registry", "sync", "--chirpstack", target, "--registry", str(registry), *args],
        env=env,
    )


def test_sync_fills_registry_with_every_page(chirpstack: tuple[str, State], tmp_path: Path) -> None:
    target, state = chirpstack
    registry = tmp_path / "devices.yaml"
    result = run(target, registry)
    assert result.exit_code == 0, result.output
    devices = load_devices(registry)
    assert len(devices) == 27  # 25 + tagged home sensor + untagged AM319; untagged orphan skipped
    # Pagination: the public application took three pages of 10.
    assert [c for c in state.list_calls if c[0] == "app-public"] == [
        ("app-public", 0, 10),
        ("app-public", 10, 10),
        ("app-public", 20, 10),
    ]
    first = devices["24e124710c400000"]
    assert (first.model, first.site, first.ward, first.privacy) == (
        "milesight-am319",
        "library-0",
        "Headingley",
        "public",
    )
    assert first.uplink_interval == 600
    home = devices["a81758fffe000001"]
    assert (home.model, home.site, home.ward, home.privacy, home.uplink_interval) == (
        "elsys-ers",
        "home-7f3a",
        "Armley",
        None,  # never public unless stated
        900,
    )
    untagged = devices["24e124710c499999"]
    assert (untagged.model, untagged.privacy, untagged.site) == ("milesight-am319", None, "")
    assert "a81758fffe000002" not in devices
    assert "device profile dp-deleted not found" in result.output
    assert "a81758fffe000002: no model" in result.output


def test_matches_what_the_server_holds(chirpstack: tuple[str, State], tmp_path: Path) -> None:
    target, state = chirpstack
    registry = tmp_path / "devices.csv"
    assert run(target, registry).exit_code == 0
    devices = load_devices(registry)
    held = {
        d.dev_eui: d.tags.get("site", "")
        for items in state.devices.values()
        for d in items
        if d.device_profile_id != PROFILE_GONE
    }
    assert {eui: r.site for eui, r in devices.items()} == held


def test_dry_run_prints_difference_and_writes_nothing(
    chirpstack: tuple[str, State], tmp_path: Path
) -> None:
    target, state = chirpstack
    registry = tmp_path / "devices.yaml"
    assert run(target, registry).exit_code == 0
    registry.chmod(0o640)
    before = registry.read_text()
    state.devices["app-public"][0].tags["site"] = "moved-site"
    removed = state.devices["app-public"].pop()
    result = run(target, registry, "--dry-run")
    assert result.exit_code == 0, result.output
    assert registry.read_text() == before
    assert "~ 24e124710c400000 site: 'library-0' -> 'moved-site'" in result.output
    assert f"- {removed.dev_eui} marked removed" in result.output

    # The real run applies it, keeps the file's mode, and marks (not drops) the vanished device.
    assert run(target, registry).exit_code == 0
    assert stat.S_IMODE(registry.stat().st_mode) == 0o640
    devices = load_devices(registry)
    assert devices["24e124710c400000"].site == "moved-site"
    gone = devices[removed.dev_eui]
    assert gone.status == "removed" and gone.removed_on
    assert not list(tmp_path.glob(".devices.yaml*")), "temporary files left behind"
    # A second run changes nothing, and a device that returns is back in service.
    assert "0 added, 0 updated, 0 marked removed" in run(target, registry).output
    state.devices["app-public"].append(removed)
    run(target, registry)
    assert load_devices(registry)[removed.dev_eui].status == ""


def test_hand_stated_privacy_survives_a_device_without_tags(
    chirpstack: tuple[str, State], tmp_path: Path
) -> None:
    target, _ = chirpstack
    registry = tmp_path / "devices.yaml"
    registry.write_text(
        yaml.safe_dump(
            {
                "devices": [
                    {
                        "dev_eui": "24e124710c499999",
                        "model": "x",
                        "privacy": "home",
                        "site": "home-11",
                    }
                ]
            }
        )
    )
    assert run(target, registry).exit_code == 0
    kept = load_devices(registry)["24e124710c499999"]
    assert (kept.model, kept.privacy, kept.site) == ("milesight-am319", "home", "home-11")


def test_wrong_token_is_a_clear_error(chirpstack: tuple[str, State], tmp_path: Path) -> None:
    target, _ = chirpstack
    registry = tmp_path / "devices.yaml"
    result = run(target, registry, token="wrong-token")
    assert result.exit_code == 3
    assert "refused the API token (UNAUTHENTICATED)" in result.output
    assert "wrong-token" not in result.output
    assert not registry.exists()


def test_token_from_file_and_unreachable_server(tmp_path: Path) -> None:
    secret = tmp_path / "token"
    secret.write_text(TOKEN + "\n")
    result = CliRunner().invoke(
        app,
        ["registry", "sync", "--chirpstack", "127.0.0.1:1", "--registry", str(tmp_path / "d.yaml")],
        env={"LEEDSWIN_CHIRPSTACK_API_TOKEN_FILE": str(secret), "LEEDSWIN_CHIRPSTACK_TIMEOUT": "2"},
    )
    assert result.exit_code == 1
    assert "UNAVAILABLE" in result.output


def test_missing_token_is_a_settings_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["registry", "sync", "--chirpstack", "127.0.0.1:1", "--registry", str(tmp_path / "x")]
    )
    assert result.exit_code == 2
    assert "LEEDSWIN_CHIRPSTACK_API_TOKEN" in result.output


def test_sync_over_tls(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    state = State()
    fill(state)
    credentials = grpc.ssl_server_credentials([(key.read_bytes(), cert.read_bytes())])
    server, port = start(state, credentials)
    try:
        registry = tmp_path / "devices.yaml"
        result = CliRunner().invoke(
            app,
            [
                "registry",
                "sync",
                "--chirpstack",
                f"127.0.0.1:{port}",
                "--registry",
                str(registry),
                "--tls",
            ],
            env={"LEEDSWIN_CHIRPSTACK_API_TOKEN": TOKEN, "LEEDSWIN_CHIRPSTACK_CA_FILE": str(cert)},
        )
        assert result.exit_code == 0, result.output
        assert len(load_devices(registry)) == 27
        # Plain text to a TLS server fails clearly.
        plain = run(f"127.0.0.1:{port}", tmp_path / "other.yaml")
        assert plain.exit_code == 1 and "UNAVAILABLE" in plain.output
    finally:
        server.stop(grace=None)

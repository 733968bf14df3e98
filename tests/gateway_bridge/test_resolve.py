"""Model, site and privacy of a device: registry first, then the event; privacy fails closed."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import UnknownDeviceError
from gateway_bridge.events import Uplink
from gateway_bridge.resolve import Resolver
from storage.devices import DeviceRegistry

EUI = "a84041000181c061"


def uplink(profile: str = "", **tags: str) -> Uplink:
    return Uplink(EUI, 1, 5, 1, b"", "test", device_profile=profile, tags=dict(tags))


@pytest.fixture
def registry(tmp_path: Path) -> DeviceRegistry:
    path = tmp_path / "devices.csv"
    path.write_text(
        "dev_eui,model,site,privacy,ward\n"
        f"{EUI},milesight-am104,flat-12,,Armley\n"
        "a84041000181c062,elsys-ers,library,public,\n"
    )
    return DeviceRegistry(path)


def test_registry_wins_over_the_event(registry: DeviceRegistry) -> None:
    device = Resolver(registry).resolve(
        uplink("elsys-ers", model="elsys-ers", site="x", privacy="public", ward="y")
    )
    assert (device.model, device.site, device.ward) == ("milesight-am104", "flat-12", "Armley")
    # The registry leaves privacy empty; the event tag then decides.
    assert device.privacy == "public"


def test_profile_name_is_a_model_key_case_insensitively() -> None:
    assert Resolver().resolve(uplink("Elsys-ERS")).model == "elsys-ers"


def test_free_form_profile_falls_through_to_the_model_tag() -> None:
    device = Resolver().resolve(uplink("Elsys indoor sensors", model="ELSYS-ERS-CO2"))
    assert device.model == "elsys-ers-co2"


def test_unknown_tag_model_is_kept_for_the_decoder_to_refuse() -> None:
    assert Resolver().resolve(uplink(model="acme-9000")).model == "acme-9000"


def test_no_model_anywhere() -> None:
    with pytest.raises(UnknownDeviceError) as info:
        Resolver().resolve(uplink("some profile"))
    assert info.value.code == "unknown_device"
    assert EUI in str(info.value)


@pytest.mark.parametrize(
    "privacy",
    [None, "", "Public ", "PUBLIC ", "Public", " public", "public\n", "private", "PUBLIC-ish"],
)
def test_privacy_fails_closed_to_home(privacy: str | None) -> None:
    # Only the exact tag value "public" publishes an unregistered device.
    tags = {"model": "elsys-ers"} if privacy is None else {"model": "elsys-ers", "privacy": privacy}
    assert Resolver().resolve(uplink(**tags)).privacy == "home"


def test_registry_home_beats_a_public_tag(tmp_path: Path) -> None:
    path = tmp_path / "devices.yaml"
    path.write_text(f"devices:\n  - {{dev_eui: {EUI}, model: elsys-ers, privacy: home}}\n")
    device = Resolver(DeviceRegistry(path)).resolve(uplink(privacy="public", site="flat-3"))
    assert (device.privacy, device.site) == ("home", "flat-3")

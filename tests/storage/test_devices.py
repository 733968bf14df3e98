"""Device registry files: YAML and CSV, validation naming the line, reload on change."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from core.errors import ConfigError
from storage.devices import DeviceRecord, DeviceRegistry, load_devices

YAML = """\
devices:
  - dev_eui: A84041000181C061
    model: elsys_ers
    site: chapeltown-library
    privacy: public
    ward: Chapel Allerton
    lat: 53.8206
    lon: -1.5357
  - dev_eui: a84041000181c062
    model: elsys_ers_co2
    site: tenant-1234
    privacy: home
  - dev_eui: a84041000181c063
    model: milesight_vs133
"""

CSV = """\
dev_eui,model,site,privacy,ward,lat,lon
a84041000181c061,elsys_ers,chapeltown-library,public,Chapel Allerton,53.8206,-1.5357
a84041000181c062,elsys_ers_co2,tenant-1234,home,,,
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_yaml(tmp_path: Path) -> None:
    devices = load_devices(write(tmp_path, "devices.yaml", YAML))
    assert devices["a84041000181c061"] == DeviceRecord(
        "a84041000181c061",
        "elsys_ers",
        "chapeltown-library",
        "public",
        "Chapel Allerton",
        53.8206,
        -1.5357,
    )
    assert devices["a84041000181c062"].privacy == "home"
    assert devices["a84041000181c063"].privacy is None  # unknown: the bridge makes it home


def test_csv(tmp_path: Path) -> None:
    devices = load_devices(write(tmp_path, "devices.csv", CSV))
    assert devices["a84041000181c061"].lat == 53.8206
    assert devices["a84041000181c062"] == DeviceRecord(
        "a84041000181c062", "elsys_ers_co2", "tenant-1234", "home"
    )


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("zz84041000181c06,elsys_ers,s,public,,,", "not 16 hex digits"),
        ("a84041000181c064,,s,public,,,", "model is required"),
        ("a84041000181c064,elsys_ers,s,private,,,", "must be public or home"),
        ("a84041000181c064,elsys_ers,s,home,,53.8,-1.5", "only public devices"),
        ("a84041000181c064,elsys_ers,s,public,,53.8,", "both lat and lon"),
        ("a84041000181c064,elsys_ers,s,public,,95,-1.5", "lat 95.0 outside"),
        ("a84041000181c064,elsys_ers,s,public,,north,-1.5", "lat 'north' is not a number"),
        ("a84041000181c061,elsys_ers,s,public,,,", "listed twice"),
        ("a84041000181c064,elsys_ers,s,public,,,,extra", "more values than header"),
    ],
)
def test_csv_errors_name_the_line(tmp_path: Path, row: str, message: str) -> None:
    path = write(tmp_path, "devices.csv", CSV + row + "\n")
    with pytest.raises(ConfigError, match=message) as info:
        load_devices(path)
    assert f"{path}:4" in str(info.value)


def test_yaml_errors_name_the_line(tmp_path: Path) -> None:
    text = YAML + "  - dev_eui: a84041000181c064\n    model: elsys_ers\n    privacy: Home-ish\n"
    path = write(tmp_path, "devices.yaml", text)
    with pytest.raises(ConfigError, match=f"{path}:15: privacy"):
        load_devices(path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("devices: {}\n", "top-level `devices:` list"),
        ("devices:\n  - just-a-string\n", "not a mapping"),
        ("devices: [\n", "invalid YAML"),
        (
            "devices:\n  - dev_eui: a84041000181c064\n    model: x\n    privacyy: home\n",
            "unknown column",
        ),
    ],
)
def test_yaml_shape_errors(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_devices(write(tmp_path, "devices.yml", text))


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        DeviceRegistry(tmp_path / "nope.yaml")


def test_reloads_when_the_file_changes_and_keeps_the_last_good_one(tmp_path: Path) -> None:
    path = write(tmp_path, "devices.csv", CSV)
    registry = DeviceRegistry(path, check_interval=0)
    assert registry.get("a84041000181c063") is None
    path.write_text(CSV + "a84041000181c063,elsys_ers,new-site,public,,,\n")
    os.utime(path, ns=(1, 10**18))
    assert registry.get("a84041000181c063") is not None
    assert registry.get("a84041000181c063").site == "new-site"  # type: ignore[union-attr]
    path.write_text(CSV + "broken,row\n")
    os.utime(path, ns=(1, 2 * 10**18))
    assert registry.reload_if_changed() is False
    assert len(registry) == 3


def test_no_file_means_no_devices() -> None:
    registry = DeviceRegistry(None)
    assert registry.get("a84041000181c061") is None
    assert len(registry) == 0

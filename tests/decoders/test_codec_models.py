"""Configured models: field maps, unit conversion, normalized payloads, examples, reload, registry."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

import decoders
from core.errors import CodecError, ConfigError, DecodeError, UnknownModelError
from decoders.configured import (
    ModelCatalog,
    check_examples,
    install,
    load_model,
    readings_from_object,
)
from decoders.fieldmap import CONVERSIONS, map_normalized
from leedswin.cli import app
from leedswin.commands.models import decode_with_codec
from storage.devices import DeviceRegistry, load_devices

MODELS = Path(__file__).parent / "codecs" / "models"
LHT65N_FRAMES = [
    "cbf60b0d01e6010add7fff",  # SHT and probe
    "cbf6ff3801e6000000 0000",  # -2.00 degC, no probe
    "8bb807d003e8017fff0000",  # probe absent (0x7FFF)
    "4c1a0a2800640100640000",  # low battery status 1
]


@pytest.fixture
def catalog() -> Iterator[ModelCatalog]:
    cat = ModelCatalog(MODELS)
    install(cat)
    yield cat
    install(None)


def test_native_decoder_and_codec_agree_on_the_same_bytes(catalog: ModelCatalog) -> None:
    for frame in LHT65N_FRAMES:
        payload = bytes.fromhex(frame.replace(" ", ""))
        native = decoders.decode_uplink("dragino-lht65n", 2, payload)
        codec = decoders.decode_uplink("dragino-lht65n-js", 2, payload)
        assert len(codec.frames) == len(native.frames) == 1, frame
        assert codec.frames[0].readings == pytest.approx(native.frames[0].readings), frame
        assert codec.frames[0].withheld == native.frames[0].withheld


def test_nested_paths_arrays_and_unit_conversion(catalog: ModelCatalog) -> None:
    # 68.0 degF -> 20.0 degC, 3300 mV -> 3.3 V; humidity 0xff/2 = 127.5 % is out of range
    decoded = decoders.decode_uplink(
        "airnest-pm", 10, bytes.fromhex("4148000041a2000041f0000002a8ff0ce4")
    )
    (frame,) = decoded.frames
    assert frame.readings == pytest.approx(
        {"pm1_0": 12.5, "pm2_5": 20.25, "pm10": 30.0, "temperature": 20.0, "battery_voltage": 3.3}
    )
    assert frame.withheld == {"relative_humidity": 127.5}


def test_conversion_table() -> None:
    assert CONVERSIONS["degF", "degC"](212) == pytest.approx(100)
    assert CONVERSIONS["K", "degC"](273.15) == pytest.approx(0)
    assert CONVERSIONS["Pa", "hPa"](101325) == pytest.approx(1013.25)
    assert CONVERSIONS["mV", "V"](3600) == pytest.approx(3.6)


def test_normalized_payload_maps_without_a_field_map(catalog: ModelCatalog) -> None:
    model = catalog.get("climalog-h2")
    assert model is not None and not model.mappings
    decoded = model.decode_uplink(
        3, bytes.fromhex("02001e07d037278d0000ff383c2792"), recv_time_ns=1_796_040_000 * 10**9
    )
    assert [f.time_ns for f in decoded.frames] == [
        (1_796_040_000 - 1800) * 10**9,
        1_796_040_000 * 10**9,
    ]
    assert decoded.frames[0].readings == {
        "temperature": 20.0,
        "relative_humidity": 55.0,
        "pressure": 1012.5,
    }
    assert decoded.frames[1].readings["temperature"] == -2.0


def test_normalized_payload_single_object_and_bad_values() -> None:
    decoded = map_normalized(
        {"air": {"temperature": "hot", "co2": 612, "lightIntensity": 40}, "wind": {"speed": 3}}
    )
    assert decoded.frames[0].readings == {"co2": 612.0, "illuminance": 40.0}
    assert decoded.status == {"withheld.temperature": "air.temperature: not a number: 'hot'"}


def test_non_numbers_are_withheld_with_a_reason_and_numeric_strings_read() -> None:
    model = load_model(MODELS / "upstream-cs.yaml")
    decoded = readings_from_object(
        model, {"temperature": None, "humidity": "41.50", "battery_mv": True}
    )
    assert decoded.frames[0].readings == {"relative_humidity": 41.5}
    assert decoded.status == {
        "withheld.temperature": "temperature: not a number: None",
        "withheld.battery_voltage": "battery_mv: not a number: True",
    }


def test_upstream_object_through_the_field_map() -> None:
    model = load_model(MODELS / "upstream-cs.yaml")
    assert model.codec is None and model.upstream_object == "decoded"
    decoded = readings_from_object(model, {"temperature": 19.25, "humidity": 180, "x": 1})
    assert decoded.frames[0].readings == {"temperature": 19.25}
    assert decoded.frames[0].withheld == {"relative_humidity": 180.0}
    assert readings_from_object(model, None).frames == ()
    with pytest.raises(DecodeError, match="decoded upstream"):
        model.decode(1, b"\x01")


def test_codec_failure_names_model_port_and_payload(catalog: ModelCatalog) -> None:
    with pytest.raises(CodecError) as caught:
        decoders.decode_uplink("dragino-lht65n-js", 2, b"\x01")
    assert caught.value.code == "codec_error"
    assert str(caught.value) == (
        "dragino-lht65n-js fPort 2 payload 01: lht65n.js: LHT65N frame is 11 bytes, got 1"
    )
    with pytest.raises(DecodeError, match="fPort not used"):
        decoders.decode_uplink("dragino-lht65n-js", 3, b"\x01")


def test_get_spec_knows_configured_models_only_when_installed(catalog: ModelCatalog) -> None:
    assert decoders.get_spec("pedestrian-door").need == "footfall"
    people_in = decoders.get_spec("pedestrian-door").field_map()["people_in"]
    assert people_in.counter is not None and people_in.counter.kind == "cumulative"
    install(None)
    with pytest.raises(UnknownModelError):
        decoders.get_spec("pedestrian-door")


def write_model(directory: Path, name: str, doc: dict, codec: str | None = None) -> Path:
    path = directory / name
    path.write_text(yaml.safe_dump(doc))
    if codec is not None:
        (directory / doc["codec"]).write_text(codec)
    return path


THERMO = "function decodeUplink(i) { return {data: {t: i.bytes[0] - 40}}; }"
BASE = {
    "vendor": "T",
    "model": "T1",
    "need": "damp",
    "codec": "t.js",
    "fields": {"t": "temperature"},
}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"need": "comfort"}, "need 'comfort' must be one of"),
        ({"fields": {"t": "temprature"}}, "'temprature' is not a canonical quantity"),
        ({"fields": {"t": {"quantity": "temperature", "unit": "mK"}}}, "no conversion from 'mK'"),
        ({"fields": {"a..b": "temperature"}}, "not of the form a.b"),
        ({"codec": "missing.js"}, "cannot read codec"),
        ({"key": "elsys-ers"}, "is a native decoder's"),
        ({"privacy": "public"}, "unknown key"),
        (
            {"examples": [{"input": {"fPort": 1, "bytes": [60]}, "output": {"data": {"t": 21}}}]},
            r"example 1: data \{'t': 20\} != expected \{'t': 21\}",
        ),
        (
            {"examples": [{"input": {"fPort": 1, "bytes": [60]}, "readings": {"temperature": 2}}]},
            "readings",
        ),
    ],
)
def test_bad_model_files_are_config_errors_naming_the_file(
    tmp_path: Path, change: dict, message: str
) -> None:
    (tmp_path / "t.js").write_text(THERMO)
    path = write_model(tmp_path, "t.yaml", {"key": "t1", **BASE, **change})
    with pytest.raises(ConfigError, match=message) as caught:
        ModelCatalog(tmp_path)
    assert str(path) in str(caught.value)


def test_catalog_rereads_the_directory_and_keeps_the_last_good_one(tmp_path: Path) -> None:
    (tmp_path / "t.js").write_text(THERMO)
    write_model(tmp_path, "t.yaml", {"key": "t1", **BASE})
    catalog = ModelCatalog(tmp_path, check_interval=0)
    assert catalog.get("t1") is not None and catalog.get("t2") is None
    write_model(tmp_path, "t2.yaml", {"key": "t2", **BASE})
    assert catalog.get("t2") is not None  # added without a restart
    bad = tmp_path / "t3.yaml"
    bad.write_text("key: [")
    assert catalog.get("t2") is not None  # a broken edit keeps the last good catalog
    bad.unlink()
    (tmp_path / "t.js").write_text(THERMO.replace("- 40", "- 50"))
    stat = (tmp_path / "t.js").stat()
    os.utime(tmp_path / "t.js", ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    model = catalog.get("t1")
    assert model is not None and model.decode(1, bytes([60])).frames[0].readings == {
        "temperature": 10.0
    }


def test_examples_from_a_vendor_codec_yaml(tmp_path: Path) -> None:
    model = load_model(MODELS / "climalog.yaml")
    assert len(model.examples) == 1 and check_examples(model) == []


def test_device_registry_model_keys_are_validated(tmp_path: Path, catalog: ModelCatalog) -> None:
    registry = tmp_path / "devices.yaml"
    registry.write_text(
        "devices:\n"
        "  - {dev_eui: '0000000000000001', model: pedestrian-door, privacy: public}\n"
        "  - {dev_eui: '0000000000000002', model: elsys-ers}\n"
        "  - {dev_eui: '0000000000000003', model: elsys-ers-c02}\n"
    )
    with pytest.raises(ConfigError, match=rf"{registry}:4: model 'elsys-ers-c02' is neither"):
        DeviceRegistry(registry, known_model=catalog.is_known)
    registry.write_text(registry.read_text().replace("c02", "co2"))
    assert len(load_devices(registry, catalog.is_known)) == 3


def test_decode_with_codec_prints_data_and_readings() -> None:
    payload = bytes.fromhex("cbf60b0d01e6010add7fff")
    out = decode_with_codec(MODELS / "lht65n.js", 2, payload)
    assert out["data"]["TempC_SHT"] == 28.29 and out["errors"] == []
    out = decode_with_codec(MODELS / "lht65n.js", 2, payload, MODELS / "dragino-lht65n-js.yaml")
    assert out["readings"][0]["readings"]["temperature"] == 28.29
    out = decode_with_codec(MODELS / "lht65n.js", 2, b"\x00")
    assert out == {
        "data": None,
        "warnings": [],
        "errors": ["lht65n.js: LHT65N frame is 11 bytes, got 1"],
    }


def test_cli_models_check_and_list(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["models", "check", str(MODELS)])
    assert result.exit_code == 0, result.output
    assert (
        "ok   dragino-lht65n-js.yaml (dragino-lht65n-js, codec): 2 examples pass" in result.output
    )
    shutil.copy(MODELS / "lht65n.js", tmp_path / "lht65n.js")
    doc = yaml.safe_load((MODELS / "dragino-lht65n-js.yaml").read_text())
    doc["examples"][0]["output"]["data"]["TempC_SHT"] = 28.3
    (tmp_path / "m.yaml").write_text(yaml.safe_dump(doc))
    result = runner.invoke(app, ["models", "check", str(tmp_path)])
    assert result.exit_code == 2
    assert "FAIL m.yaml (dragino-lht65n-js): 1 of 2 examples" in result.output
    result = runner.invoke(app, ["models", "--models-dir", str(MODELS)])
    assert result.exit_code == 0
    assert '"decoded": "network server (event object)"' in result.output
    assert '"decoded": "native"' in result.output


def test_decode_with_codec_refuses_unreadable_or_broken_codecs(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read codec"):
        decode_with_codec(tmp_path / "missing.js", 1, b"")
    broken = tmp_path / "broken.js"
    broken.write_text("function decodeUplink(i) {")
    with pytest.raises(ConfigError, match="SyntaxError"):
        decode_with_codec(broken, 1, b"")


def alias_bomb(width: int = 10, depth: int = 8) -> str:
    """Anchors ``width`` wide and ``depth`` deep: 10**8 strings once expanded."""
    lines = ['a0: &a0 "lol"']
    for level in range(1, depth + 1):
        refs = ", ".join(f"*a{level - 1}" for _ in range(width))
        lines.append(f"a{level}: &a{level} [{refs}]")
    return "\n".join(lines) + "\n"


def test_model_file_with_yaml_aliases_is_refused_before_expansion(tmp_path: Path) -> None:
    (tmp_path / "t.js").write_text(THERMO)
    text = yaml.safe_dump({"key": "t1", **BASE}) + "examples:\n"
    text += "  - input: {fPort: 1, bytes: [60]}\n    description: *a8\n"
    path = tmp_path / "t.yaml"
    path.write_text(alias_bomb() + text)
    with pytest.raises(ConfigError, match="aliases") as caught:
        load_model(path)
    assert str(path) in str(caught.value)


def test_model_file_over_one_mib_is_refused(tmp_path: Path) -> None:
    (tmp_path / "t.js").write_text(THERMO)
    path = tmp_path / "t.yaml"
    path.write_text(yaml.safe_dump({"key": "t1", **BASE}) + "#" + "x" * (1024 * 1024) + "\n")
    with pytest.raises(ConfigError, match="larger than 1048576 bytes") as caught:
        load_model(path)
    assert str(path) in str(caught.value)


@pytest.mark.parametrize(
    "codec", ["../outside.js", "/etc/passwd", "sub/../../outside.js", "link.js"]
)
def test_codec_outside_the_model_directory_is_refused(tmp_path: Path, codec: str) -> None:
    models = tmp_path / "models"
    models.mkdir()
    (tmp_path / "outside.js").write_text(THERMO)
    (models / "link.js").symlink_to(tmp_path / "outside.js")
    path = write_model(models, "t.yaml", {"key": "t1", **BASE, "codec": codec})
    with pytest.raises(ConfigError, match="outside the model file's directory") as caught:
        load_model(path)
    assert str(path) in str(caught.value)


def test_codec_in_a_subdirectory_of_the_models_is_allowed(tmp_path: Path) -> None:
    (tmp_path / "codecs").mkdir()
    (tmp_path / "codecs" / "t.js").write_text(THERMO)
    path = write_model(tmp_path, "t.yaml", {"key": "t1", **BASE, "codec": "codecs/t.js"})
    assert load_model(path).key == "t1"


def test_device_registry_with_yaml_aliases_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "devices.yaml"
    path.write_text(alias_bomb() + "devices: []\n")
    with pytest.raises(ConfigError, match="aliases") as caught:
        load_devices(path)
    assert str(path) in str(caught.value)

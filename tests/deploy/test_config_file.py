"""The configuration file: every setting in it, env vars and flags over it, secrets from files
and systemd credentials, and the committed sample generated from the settings models."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from core.errors import ConfigError
from core.settings import (
    ApiSettings,
    InfluxSettings,
    InsightsSettings,
    MqttSettings,
    build,
    table_name,
)
from leedswin.cli import app
from leedswin.commands.settings import COMPONENTS, sample_config

SAMPLE = Path(__file__).parents[2] / "deploy" / "leedswin.toml.sample"


def test_the_committed_sample_is_current() -> None:
    assert SAMPLE.read_text() == sample_config(), (
        "deploy/leedswin.toml.sample is stale: run `leedswin settings --sample > deploy/leedswin.toml.sample`"
    )


def test_the_sample_names_every_setting_and_uncommented_is_valid_toml() -> None:
    text = sample_config()
    uncommented = re.sub(r"^# (\w+ = )", r"\1", text, flags=re.MULTILINE)
    parsed = tomllib.loads(uncommented)
    for component in COMPONENTS:
        assert set(parsed[table_name(component)]) == set(component.model_fields), component
        assert f"[LEEDSWIN_{table_name(component).upper()}_" in text


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "leedswin.toml"
    (tmp_path / "influx-password").write_text("from-a-file\n")
    path.write_text(
        "[mqtt]\n"
        'url = "mqtt://broker.example:1883"\n'
        'username = "leedswin-bridge"\n'
        'topics = ["application/+/device/+/event/up"]\n'
        "[influx]\n"
        'database = "council"\n'
        'retention = "104w"\n'
        f'password_file = "{tmp_path / "influx-password"}"\n'
        "[api]\n"
        "port = 8100\n"
        "[insights]\n"
        'gas_units = { "aq-1" = "ppb" }\n'
    )
    monkeypatch.setenv("LEEDSWIN_CONFIG", str(path))
    return path


def test_the_file_sets_every_kind_of_value(config: Path) -> None:
    mqtt = build(MqttSettings)
    assert (mqtt.url, mqtt.username, mqtt.topics) == (
        "mqtt://broker.example:1883",
        "leedswin-bridge",
        ("application/+/device/+/event/up",),
    )
    influx = build(InfluxSettings)
    assert (influx.database, influx.retention, influx.home_db) == (
        "council",
        "104w",
        "council_home",
    )
    assert influx.password is not None and influx.password.get_secret_value() == "from-a-file"
    assert build(ApiSettings).port == 8100
    assert build(InsightsSettings).gas_units == {"aq-1": "ppb"}


def test_env_vars_and_flags_beat_the_file(config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEEDSWIN_INFLUX_DATABASE", "from_env")
    assert build(InfluxSettings).database == "from_env"
    assert build(InfluxSettings, database="from_flag").database == "from_flag"
    assert build(MqttSettings).url == "mqtt://broker.example:1883"


def test_systemd_credentials_are_read_by_env_var_name(
    config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    (credentials / "LEEDSWIN_MQTT_PASSWORD").write_text("from-systemd")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(credentials))
    password = build(MqttSettings).password
    assert password is not None and password.get_secret_value() == "from-systemd"


def test_a_bad_value_or_file_is_a_config_error(config: Path) -> None:
    config.write_text("[api]\nport = 70000\n")
    with pytest.raises(ConfigError, match="ApiSettings"):
        build(ApiSettings)
    config.write_text("[api\n")
    with pytest.raises(ConfigError, match="leedswin.toml"):
        build(ApiSettings)


def test_unknown_tables_and_keys_are_refused_by_the_cli(config: Path) -> None:
    config.write_text("[mqtt]\nurl = 'mqtt://a:1'\npasword = 'typo'\n")
    result = CliRunner().invoke(app, ["settings"])
    assert result.exit_code == 2
    assert "[mqtt] has unknown keys pasword" in result.output
    config.write_text("[mqqt]\n")
    result = CliRunner().invoke(app, ["--config", str(config), "settings"])
    assert result.exit_code == 2 and "unknown table [mqqt]" in result.output


def test_version_comes_from_the_package_metadata() -> None:
    from importlib.metadata import version

    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"leedswin {version('leedswin')}"

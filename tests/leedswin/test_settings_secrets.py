"""Credentials as settings: a *_FILE variant for every secret, never shown, demo.env honoured."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import ConfigError
from core.settings import InfluxSettings, MqttSettings, build


def test_password_files_are_read_and_stripped(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("s3cret-value\n")
    mqtt = build(MqttSettings, username="leedswin-bridge", password_file=secret)
    influx = build(InfluxSettings, password_file=secret, public_password_file=secret)
    assert mqtt.password is not None and mqtt.password.get_secret_value() == "s3cret-value"
    assert influx.password is not None and influx.public_password is not None
    assert influx.public().password == influx.public_password
    for settings in (mqtt, influx):
        assert "s3cret-value" not in repr(settings) and "s3cret-value" not in str(settings)


def test_a_missing_password_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="password_file"):
        build(MqttSettings, password_file=tmp_path / "nope")


def test_the_public_view_swaps_credentials_and_the_home_view_the_database() -> None:
    influx = InfluxSettings(
        username="leedswin-housing",
        password="h",
        public_username="leedswin-public",
        public_password="p",
    )
    assert influx.public().username == "leedswin-public"
    assert (
        influx.home().database == "leedswin_home" and influx.home().username == "leedswin-housing"
    )
    assert InfluxSettings(username="x").public().username == "x"  # no public user: unchanged


def test_bad_retention_is_refused() -> None:
    with pytest.raises(ConfigError, match="retention"):
        build(InfluxSettings, home_retention="a year")
    assert build(InfluxSettings, home_retention="52w").home_retention == "52w"


def test_commands_read_the_demo_env_file_and_the_environment_beats_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEEDSWIN_HOME", str(tmp_path))
    (tmp_path / "demo.env").write_text(
        'LEEDSWIN_MQTT_URL="mqtt://127.0.0.1:4242"\nLEEDSWIN_MQTT_USERNAME="leedswin-sim"\n'
    )
    assert build(MqttSettings).url == "mqtt://127.0.0.1:4242"
    monkeypatch.setenv("LEEDSWIN_MQTT_USERNAME", "someone")
    assert build(MqttSettings).username == "someone"
    assert build(MqttSettings, url="mqtt://h:1").url == "mqtt://h:1"

"""Typed settings for every component, read from ``LEEDSWIN_*`` env vars.

Each component has its own class and env prefix (``LEEDSWIN_MQTT_URL``,
``LEEDSWIN_INFLUX_DATABASE``…). The CLI entry point builds the ones a command
needs, with its flags passed as keyword overrides (they beat the environment),
and hands them down; nothing here is built at import time.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.errors import ConfigError


def _config(prefix: str) -> SettingsConfigDict:
    return SettingsConfigDict(env_prefix=prefix, env_ignore_empty=True, extra="ignore", frozen=True)


#: Where `leedswin up` keeps the demo's data and the settings every other command reads.
HOME_ENV = "LEEDSWIN_HOME"
DEFAULT_HOME = Path(".leedswin")
DEMO_ENV_FILE = "demo.env"

_DURATION = re.compile(r"(INF|[1-9][0-9]{0,8}(h|d|w))")


def state_dir() -> Path:
    """The demo's directory: ``$LEEDSWIN_HOME``, else ``./.leedswin``."""
    return Path(os.environ.get(HOME_ENV) or DEFAULT_HOME)


def demo_env_file() -> Path:
    """The env file `leedswin up` writes; every command reads it (real env vars beat it)."""
    return state_dir() / DEMO_ENV_FILE


def _secrets_from_files(data: Any, pairs: tuple[tuple[str, str], ...]) -> Any:
    """``<name>_file`` -> ``<name>``: the secret is read from the file (Docker/systemd style)."""
    if not isinstance(data, dict):
        return data
    for secret, file_key in pairs:
        path = data.get(file_key)
        if path and not data.get(secret):
            try:
                data = {**data, secret: Path(path).read_text().strip()}
            except OSError as exc:
                raise ValueError(f"{file_key}: cannot read {path}: {exc.strerror}") from None
    return data


class MqttSettings(BaseSettings):
    """Broker connection and the bridge's session on it."""

    model_config = _config("LEEDSWIN_MQTT_")

    url: str = Field("mqtt://127.0.0.1:1883", description="mqtt://host:port")
    username: str | None = Field(None, description="This component's broker account")
    password: SecretStr | None = None
    password_file: Path | None = Field(None, description="File holding the password (beats none)")
    client_id: str = Field(
        "leedswin-bridge",
        description="Stable id: the broker keeps this session's queue while the bridge is down",
    )
    session_expiry: int = Field(
        3600, ge=0, description="Seconds the broker keeps the session after a disconnect"
    )
    max_in_flight: int = Field(
        1000,
        ge=1,
        le=65535,
        description="Receive Maximum: unacknowledged QoS 1 messages the broker may send us",
    )
    keepalive: int = Field(30, ge=5)
    topics: tuple[str, ...] = Field(
        ("application/+/device/+/event/up", "v3/+/devices/+/up"),
        description="Uplink topic filters: ChirpStack v4 and The Things Stack v3",
    )
    share_group: str | None = Field(
        None, description="Subscribe as $share/<group>/… so several bridges split the load"
    )

    @model_validator(mode="before")
    @classmethod
    def _read_files(cls, data: Any) -> Any:
        return _secrets_from_files(data, (("password", "password_file"),))

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("mqtt", "tcp") or not parts.hostname:
            raise ValueError(f"MQTT URL must look like mqtt://host:port, got {value!r}")
        return value

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or "127.0.0.1"

    @property
    def port(self) -> int:
        return urlsplit(self.url).port or 1883


class InfluxSettings(BaseSettings):
    """Time-series store. v1 API (database/RP) unless a bucket is given (v2: org/bucket/token).

    Home readings and everything derived from them live in their own database
    (bucket), because InfluxDB grants access per database, not per tag: the
    writer routes each point by its ``privacy`` tag, and readers given these
    settings query both. ``public()`` is the view for public-facing readers,
    with the ``public_*`` credentials that cannot read the home database.
    """

    model_config = _config("LEEDSWIN_INFLUX_")

    url: str = "http://127.0.0.1:8086"
    database: str = Field(
        "leedswin", description="v1 database of public data; also the v1 /query target on 2.x"
    )
    retention_policy: str | None = None
    home_database: str | None = Field(
        None,
        description="v1 database of home data and everything derived from them (default <database>_home)",
    )
    home_retention_policy: str | None = None
    retention: str | None = Field(
        "104w",
        description="Retention of raw public data: the public database's default policy, set by `leedswin up` and `leedswin privacy retention` (INF: forever)",
    )
    home_retention: str | None = Field(
        "396d",
        description="Retention of raw home data and everything derived from them (13 months): the home database's default policy",
    )
    username: str | None = Field(
        None,
        description="This component's user (bridge: write both; insights, housing readers: both)",
    )
    password: SecretStr | None = None
    password_file: Path | None = Field(None, description="File holding the password")
    token: SecretStr | None = Field(None, description="API token (InfluxDB 2.x/3.x)")
    token_file: Path | None = Field(None, description="File holding the token")
    public_username: str | None = Field(
        None, description="Read-only user of the public database: the API's public path"
    )
    public_password: SecretStr | None = None
    public_password_file: Path | None = None
    public_token: SecretStr | None = Field(None, description="2.x read token of the public bucket")
    public_token_file: Path | None = None
    erasure_username: str | None = Field(
        None,
        description="User that may DELETE in both databases: the API's tenancy erasure (else refused)",
    )
    erasure_password: SecretStr | None = None
    erasure_password_file: Path | None = None
    erasure_token: SecretStr | None = Field(None, description="2.x token that may delete")
    erasure_token_file: Path | None = None
    org: str | None = None
    bucket: str | None = Field(None, description="Setting a bucket selects the v2 write API")
    home_bucket: str | None = Field(None, description="v2 bucket of home data (needed with bucket)")
    batch_size: int = Field(5000, ge=1, le=100_000, description="Points per write request")
    flush_interval: float = Field(0.2, gt=0, description="Seconds before a partial batch is sent")
    timeout: float = Field(10.0, gt=0)
    max_retry_delay: float = Field(30.0, gt=0, description="Cap of the exponential backoff")
    create_database: bool = Field(True, description="CREATE DATABASE on first use (v1 only)")

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"InfluxDB URL must look like http://host:port, got {value!r}")
        return value.rstrip("/")

    @model_validator(mode="before")
    @classmethod
    def _read_files(cls, data: Any) -> Any:
        return _secrets_from_files(
            data,
            (
                ("password", "password_file"),
                ("token", "token_file"),
                ("public_password", "public_password_file"),
                ("public_token", "public_token_file"),
                ("erasure_password", "erasure_password_file"),
                ("erasure_token", "erasure_token_file"),
            ),
        )

    @field_validator("retention", "home_retention")
    @classmethod
    def _check_duration(cls, value: str | None) -> str | None:
        if value is not None and not _DURATION.fullmatch(value):
            raise ValueError(f"retention must look like 52w, 90d, 24h or INF, got {value!r}")
        return value

    @model_validator(mode="after")
    def _check_v2(self) -> InfluxSettings:
        if self.bucket and not (self.org and self.token):
            raise ValueError("the v2 API (bucket set) needs org and token too")
        if self.bucket and not self.home_bucket:
            raise ValueError("the v2 API needs home_bucket too: home data never share a bucket")
        if self.home_db == self.database or (self.bucket and self.home_bucket == self.bucket):
            raise ValueError("home data need a database (bucket) of their own")
        return self

    @property
    def api_version(self) -> Literal[1, 2]:
        return 2 if self.bucket else 1

    @property
    def home_db(self) -> str:
        """The home database's name."""
        return self.home_database or f"{self.database}_home"

    def home(self) -> InfluxSettings:
        """The same connection aimed at the home database (bucket), for its writer."""
        return self.model_copy(
            update={
                "database": self.home_db,
                "retention_policy": self.home_retention_policy,
                "bucket": self.home_bucket,
            }
        )

    def public(self) -> InfluxSettings:
        """The public view: the ``public_*`` credentials, when given, instead of this component's."""
        update: dict[str, Any] = {}
        if self.public_username or self.public_token:
            update = {
                "username": self.public_username,
                "password": self.public_password,
                "token": self.public_token,
            }
        return self.model_copy(update=update)

    def erasure(self) -> InfluxSettings | None:
        """The connection with the ``erasure_*`` credentials; None when none are configured."""
        if not (self.erasure_username or self.erasure_token):
            return None
        return self.model_copy(
            update={
                "username": self.erasure_username,
                "password": self.erasure_password,
                "token": self.erasure_token,
            }
        )


class BridgeSettings(BaseSettings):
    """What the bridge does with uplinks besides writing them."""

    model_config = _config("LEEDSWIN_BRIDGE_")

    device_registry: Path | None = Field(
        None, description="YAML or CSV: dev_eui -> model, site, privacy (public|home), ward"
    )
    models_dir: Path | None = Field(
        None,
        description="Directory of configured model files (YAML + JavaScript codec), re-read on change",
    )
    publish_readings: bool = Field(
        True, description="Republish each stored reading on leedswin/v1/readings/… for live feeds"
    )
    metrics_port: int | None = Field(
        None, description="Serve /metrics, /healthz and /readyz on 127.0.0.1:<port>"
    )
    spool_dir: Path | None = Field(
        None,
        description="On-disk buffer for InfluxDB outages longer than the broker's queue "
        "(one bridge process per directory)",
    )
    spool_max_bytes: int = Field(
        256 * 1024 * 1024,
        ge=1024 * 1024,
        description="Spool size limit; when full the bridge stops acknowledging instead",
    )
    spill_after: float = Field(
        5.0, ge=0, description="Seconds of failing InfluxDB writes before batches go to the spool"
    )


class ApiSettings(BaseSettings):
    """The HTTP API."""

    model_config = _config("LEEDSWIN_API_")

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    registry: Path = Field(
        Path("leedswin.sqlite3"), description="SQLite file: API keys, alerts, audit trail"
    )
    rate_limit_per_minute: int = Field(600, ge=1)
    max_points: int = Field(10_000, ge=1, description="Most rows one request may return")
    max_range_days: int = Field(366, ge=1, description="Widest time range one query may scan")
    metrics_port: int | None = Field(
        None,
        ge=1,
        le=65535,
        description="Also serve /metrics without a key on 127.0.0.1:<port> (on the API port it needs an admin key)",
    )
    cors_origins: tuple[str, ...] = Field(
        (),
        description='Browser origins allowed to call the API, JSON list: ["https://app.example"]',
    )
    bad_keys_per_minute: int = Field(
        30,
        ge=1,
        description="Wrong or missing keys one client address may send per minute before 429",
    )
    forwarded_allow_ips: tuple[str, ...] = Field(
        (),
        description="Reverse proxies (IPs or CIDRs, JSON list) whose X-Forwarded-For gives the"
        " client address; empty: trust none, the client is the socket's peer",
    )
    audit_retention_days: int = Field(
        730,
        ge=1,
        le=36_500,
        description="Days the audit log of personal-data access keeps each record (purged daily)",
    )


class InsightsSettings(BaseSettings):
    """Scheduled derived series: damp risk, DAQI, footfall counts."""

    model_config = _config("LEEDSWIN_INSIGHTS_")

    interval: float = Field(300.0, gt=0, description="Seconds between scheduled runs")
    outdoor_dev_eui: str | None = Field(None, description="Sensor giving outdoor temperature")
    outdoor_temperature: float = Field(5.0, description="°C used when no outdoor sensor reads")
    f_rsi: float = Field(0.75, gt=0, lt=1, description="Temperature factor of the cold spot")
    timezone: str = Field("Europe/London", description="Local time of footfall hours and days")
    recompute_hours: int = Field(
        48, ge=1, description="Each scheduled run recomputes this many past hours (late uplinks)"
    )
    mould_lookback_days: int = Field(
        56, ge=28, description="Days of history the VTT mould index starts from on each run"
    )
    gas_units: dict[str, Literal["ugm3", "ppb", "ppm"]] = Field(
        {},
        description="Model key -> unit of its no2/o3 readings (JSON), overriding the unit its decoder declares",
    )
    reference_models: tuple[str, ...] = Field(
        (), description="Models whose DAQI is not labelled indicative (reference-grade monitors)"
    )


class GrafanaSettings(BaseSettings):
    """Where `leedswin dashboards deploy` puts the dashboards, and who may see housing data."""

    model_config = _config("LEEDSWIN_GRAFANA_")

    url: str | None = Field(None, description="Grafana base URL, e.g. https://grafana.example")
    token: SecretStr | None = Field(None, description="Service-account token with the Admin role")
    housing_team: str | None = Field(
        None, description="Team given the restricted housing folder; without one only admins"
    )
    housing_permission: Literal["view", "edit"] = "view"
    influx_url: str | None = Field(
        None, description="InfluxDB URL as Grafana reaches it; creates/updates the datasource"
    )
    influx_database: str = Field("leedswin", description="Database (v1) or DBRP mapping (2.x)")
    influx_user: str | None = Field(
        None, description="Public datasource: reads the public database only"
    )
    influx_password: SecretStr | None = Field(None, description="Password, or a 2.x read token")
    influx_home_database: str | None = Field(
        None, description="Housing datasource's database (default <influx_database>_home)"
    )
    influx_housing_user: str | None = Field(
        None, description="Housing datasource: reads the home database"
    )
    influx_housing_password: SecretStr | None = None


def _secret(value: SecretStr | None, path: Path | None, name: str) -> str | None:
    """A secret from its env var or, failing that, from the file its ``*_FILE`` variant names."""
    if value is not None:
        return value.get_secret_value()
    if path is None:
        return None
    try:
        return path.read_text(encoding="utf-8").strip() or None
    except OSError as exc:
        raise ConfigError(f"{name}_FILE {path}: {exc.strerror}") from exc


class ChirpStackSettings(BaseSettings):
    """The ChirpStack v4 gRPC API, the source `leedswin registry sync` fills the registry from."""

    model_config = _config("LEEDSWIN_CHIRPSTACK_")

    server: str | None = Field(None, description="HOST:PORT of the ChirpStack gRPC API")
    api_token: SecretStr | None = Field(None, description="API key (ChirpStack UI: API keys)")
    api_token_file: Path | None = Field(None, description="File holding the API token instead")
    tls: bool = Field(False, description="Connect with TLS (system roots, or ca_file)")
    ca_file: Path | None = Field(None, description="PEM CA bundle for TLS")
    tenant_ids: tuple[str, ...] = Field(
        (), description="Tenants to read (JSON list); empty: every tenant the key may list"
    )
    page_size: int = Field(100, ge=1, le=1000, description="Items per List request")
    timeout: float = Field(10.0, gt=0, description="Seconds per gRPC call")
    sync_minutes: float | None = Field(
        None, gt=0, description="Sync the device registry every N minutes inside `leedswin up`"
    )

    @field_validator("server")
    @classmethod
    def _check_server(cls, value: str | None) -> str | None:
        if value is not None:
            host, _, port = value.rpartition(":")
            if not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ValueError(f"ChirpStack server must look like HOST:PORT, got {value!r}")
        return value

    def token(self) -> str | None:
        return _secret(self.api_token, self.api_token_file, "LEEDSWIN_CHIRPSTACK_API_TOKEN")


class FleetSettings(BaseSettings):
    """Device health (silent, battery, link) and the notifications sent about it."""

    model_config = _config("LEEDSWIN_FLEET_")

    interval: float = Field(60.0, gt=0, description="Seconds between device-health runs")
    lookback_days: float = Field(
        7.0, gt=0, description="Days of uplinks read per run (battery and link trends)"
    )
    late_after: float = Field(
        1.5, gt=1, description="Late once the gap exceeds this many expected intervals"
    )
    silent_after: float = Field(
        2.0, gt=1, description="Silent once this many intervals are missed (issue: within two)"
    )
    notifications: Path | None = Field(
        None, description="YAML file of notification channels, recipients and rules"
    )


def build(cls: type[BaseSettings], **overrides: Any) -> Any:
    """Build one settings class: CLI overrides beat env vars, which beat the demo's env file.

    The demo's file (``demo_env_file()``, written by `leedswin up`) makes every command
    run beside a running demo use its servers, credentials and key registry as is.
    Bad values -> ConfigError.
    """
    given = {key: value for key, value in overrides.items() if value is not None}
    try:
        return cls(_env_file=demo_env_file(), **given)
    except ValueError as exc:
        raise ConfigError(f"{cls.__name__}: {exc}") from exc

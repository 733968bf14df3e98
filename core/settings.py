"""Typed settings for every component, from a TOML file, ``LEEDSWIN_*`` env vars and flags.

Each component has its own class, env prefix (``LEEDSWIN_MQTT_URL``,
``LEEDSWIN_INFLUX_DATABASE``…) and table of the configuration file (``[mqtt]``
``url``, ``[influx]`` ``database``…; the file is ``$LEEDSWIN_CONFIG``, else
``/etc/leedswin/leedswin.toml`` if it exists). The CLI entry point builds the
ones a command needs, with its flags passed as keyword overrides, and hands
them down; nothing here is built at import time. Precedence, highest first:
flags, env vars, the demo's env file, systemd credentials
(``$CREDENTIALS_DIRECTORY/<ENV VAR NAME>``), the configuration file, defaults.
"""

from __future__ import annotations

import os
import re
import ssl
import tomllib
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from core.errors import ConfigError


def _config(prefix: str) -> SettingsConfigDict:
    return SettingsConfigDict(env_prefix=prefix, env_ignore_empty=True, extra="ignore", frozen=True)


#: Where `leedswin up` keeps the demo's data and the settings every other command reads.
HOME_ENV = "LEEDSWIN_HOME"
DEFAULT_HOME = Path(".leedswin")
DEMO_ENV_FILE = "demo.env"
#: The configuration file: this env var (or `leedswin --config`), else the default if present.
CONFIG_ENV = "LEEDSWIN_CONFIG"
DEFAULT_CONFIG = Path("/etc/leedswin/leedswin.toml")
#: systemd sets it for a unit with LoadCredential=; each credential is named after its env var.
CREDENTIALS_ENV = "CREDENTIALS_DIRECTORY"

_DURATION = re.compile(r"(INF|[1-9][0-9]{0,8}(h|d|w))")


def state_dir() -> Path:
    """The demo's directory: ``$LEEDSWIN_HOME``, else ``./.leedswin``."""
    return Path(os.environ.get(HOME_ENV) or DEFAULT_HOME)


def demo_env_file() -> Path:
    """The env file `leedswin up` writes; every command reads it (real env vars beat it)."""
    return state_dir() / DEMO_ENV_FILE


def config_file() -> Path | None:
    """The configuration file settings are read from, or None (env vars and defaults only)."""
    given = os.environ.get(CONFIG_ENV)
    if given:
        return Path(given)
    return DEFAULT_CONFIG if DEFAULT_CONFIG.is_file() else None


def table_name(cls: type[BaseSettings]) -> str:
    """The configuration file's table of a settings class: its env prefix without LEEDSWIN_."""
    prefix = str(cls.model_config.get("env_prefix", ""))
    return prefix.removeprefix("LEEDSWIN_").rstrip("_").lower()


class _Settings(BaseSettings):
    """Adds the configuration file's table and systemd credentials to pydantic-settings' sources."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources = [init_settings, env_settings, dotenv_settings, file_secret_settings]
        path = config_file()
        if path is not None and table_name(settings_cls) in _read_config(path):
            sources.append(
                TomlConfigSettingsSource(
                    settings_cls, toml_file=path, toml_table_header=(table_name(settings_cls),)
                )
            )
        return tuple(sources)


def _read_config(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except OSError as exc:
        raise ConfigError(f"configuration file {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"configuration file {path}: {exc}") from None


def check_config(path: Path, classes: tuple[type[BaseSettings], ...]) -> None:
    """Unknown tables or keys in the configuration file -> ConfigError naming them (typos)."""
    known = {table_name(cls): cls for cls in classes}
    for table, values in _read_config(path).items():
        if table not in known or not isinstance(values, dict):
            raise ConfigError(
                f"configuration file {path}: unknown table [{table}]; known: {', '.join(known)}"
            )
        unknown = sorted(set(values) - set(known[table].model_fields))
        if unknown:
            raise ConfigError(
                f"configuration file {path}: [{table}] has unknown keys {', '.join(unknown)}"
            )


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


def _tls_context(
    ca_file: Path | None, cert_file: Path | None = None, key_file: Path | None = None
) -> ssl.SSLContext:
    """A client TLS context that verifies the server (``ca_file`` or the system CAs)."""
    try:
        context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"CA file {ca_file}: {exc}") from exc
    if cert_file is not None:
        try:
            context.load_cert_chain(str(cert_file), str(key_file) if key_file else None)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"client certificate {cert_file} / key {key_file}: {exc}") from exc
    return context


class MqttSettings(_Settings):
    """Broker connection and the bridge's session on it."""

    model_config = _config("LEEDSWIN_MQTT_")

    url: str = Field(
        "mqtt://127.0.0.1:1883", description="mqtt://host:port, or mqtts://host:port for TLS"
    )
    ca_file: Path | None = Field(
        None,
        description="PEM CA bundle that signed the broker's certificate (mqtts; default: system CAs)",
    )
    cert_file: Path | None = Field(
        None, description="PEM client certificate, for brokers that require one (mqtts)"
    )
    key_file: Path | None = Field(
        None, description="PEM private key of cert_file (if not in cert_file itself)"
    )
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
        if parts.scheme not in ("mqtt", "tcp", "mqtts", "ssl") or not parts.hostname:
            raise ValueError(
                f"MQTT URL must look like mqtt://host:port or mqtts://host:port, got {value!r}"
            )
        return value

    @model_validator(mode="after")
    def _check_tls(self) -> MqttSettings:
        if not self.tls and (self.ca_file or self.cert_file or self.key_file):
            raise ValueError("ca_file, cert_file and key_file need an mqtts:// URL")
        if self.key_file and not self.cert_file:
            raise ValueError("key_file needs cert_file")
        return self

    @property
    def tls(self) -> bool:
        """True for ``mqtts://`` (``ssl://``): MQTT over TLS (OASIS MQTT 5.0 §4.2: port 8883)."""
        return urlsplit(self.url).scheme in ("mqtts", "ssl")

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or "127.0.0.1"

    @property
    def port(self) -> int:
        return urlsplit(self.url).port or (8883 if self.tls else 1883)

    def tls_context(self) -> ssl.SSLContext | None:
        """The TLS context for an ``mqtts://`` URL (None for plain ``mqtt://``).

        Verifies the broker's certificate and host name against ``ca_file`` (or
        the system's CAs) and presents ``cert_file``/``key_file`` when given.
        Raises ``ConfigError`` naming a file that cannot be read or used.
        """
        if not self.tls:
            return None
        return _tls_context(self.ca_file, self.cert_file, self.key_file)


class InfluxSettings(_Settings):
    """Time-series store. v1 API (database/RP) unless a bucket is given (v2: org/bucket/token).

    Home readings and everything derived from them live in their own database
    (bucket), because InfluxDB grants access per database, not per tag: the
    writer routes each point by its ``privacy`` tag, and readers given these
    settings query both. ``public()`` is the view for public-facing readers,
    with the ``public_*`` credentials that cannot read the home database.
    """

    model_config = _config("LEEDSWIN_INFLUX_")

    url: str = Field("http://127.0.0.1:8086", description="http://host:port or https://host:port")
    home_url: str | None = Field(
        None,
        description="A separate InfluxDB for the home database (default: the same server). "
        "On 1.x, any user of a server sees its running queries (SHOW QUERIES) and anyone "
        "its per-database counters (/debug/vars): a server of their own keeps home "
        "activity from the public credentials",
    )
    ca_file: Path | None = Field(
        None,
        description="PEM CA bundle that signed InfluxDB's certificate (https; default: system CAs)",
    )
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

    @field_validator("url", "home_url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
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

    def tls_verify(self) -> ssl.SSLContext | bool:
        """What an HTTP client verifies an ``https://`` InfluxDB with: ``ca_file``, else the system CAs."""
        return _tls_context(self.ca_file) if self.ca_file else True

    @property
    def home_separate(self) -> bool:
        """Whether the home database lives on a server of its own (``home_url``)."""
        return self.home_url is not None and self.home_url != self.url

    def home(self) -> InfluxSettings:
        """The connection to the home database (bucket), on ``home_url`` when set, for its writer."""
        return self.model_copy(
            update={
                "url": self.home_url or self.url,
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


class BridgeSettings(_Settings):
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


class ApiSettings(_Settings):
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


class InsightsSettings(_Settings):
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


class GrafanaSettings(_Settings):
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
    influx_home_url: str | None = Field(
        None,
        description="Housing datasource's InfluxDB as Grafana reaches it, when home data have "
        "a server of their own (default influx_url)",
    )
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


class ChirpStackSettings(_Settings):
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


class FleetSettings(_Settings):
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


class DoctorSettings(_Settings):
    """Accounts `leedswin doctor` probes the broker's ACL with, besides the component's own."""

    model_config = _config("LEEDSWIN_DOCTOR_")

    probe_username: str | None = Field(
        None,
        description="Broker account with public-feed rights only (an innovator's): must be refused the rest",
    )
    probe_password: SecretStr | None = None
    probe_password_file: Path | None = Field(None, description="File holding its password")
    housing_username: str | None = Field(
        None,
        description="Broker account that must receive the restricted tree (optional; an "
        "account is its client id, so the check briefly takes over the API's live-feed session)",
    )
    housing_password: SecretStr | None = None
    housing_password_file: Path | None = Field(None, description="File holding its password")
    max_clock_skew: float = Field(
        5.0, gt=0, description="Seconds InfluxDB's clock may differ from ours"
    )

    @model_validator(mode="before")
    @classmethod
    def _read_files(cls, data: Any) -> Any:
        return _secrets_from_files(
            data,
            (
                ("probe_password", "probe_password_file"),
                ("housing_password", "housing_password_file"),
            ),
        )


def build(cls: type[BaseSettings], **overrides: Any) -> Any:
    """Build one settings class: CLI overrides beat env vars, which beat the demo's env file,
    systemd credentials and then the configuration file (``config_file()``).

    The demo's file (``demo_env_file()``, written by `leedswin up`) makes every command
    run beside a running demo use its servers, credentials and key registry as is.
    Bad values, or an unreadable configuration file -> ConfigError.
    """
    given = {key: value for key, value in overrides.items() if value is not None}
    credentials = os.environ.get(CREDENTIALS_ENV)
    try:
        return cls(
            _env_file=demo_env_file(),
            _secrets_dir=credentials if credentials and Path(credentials).is_dir() else None,
            **given,
        )
    except ValueError as exc:
        raise ConfigError(f"{cls.__name__}: {exc}") from exc

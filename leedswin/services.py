"""Private Mosquitto and InfluxDB servers on free loopback ports, for tests and ``leedswin up``.

Each server gets its own generated config and data directory, binds only to
127.0.0.1, and is stopped by the PID we started: never by process name, so a
machine's other brokers and databases are never touched. The data directory
outlives a restart, which is what the fault tests rely on (persistent MQTT
sessions, stored points).
"""

from __future__ import annotations

import getpass
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Self

from core.errors import ConfigError

LOOPBACK = "127.0.0.1"

#: Broker accounts of the platform. Innovators get accounts of their own names.
BRIDGE_ACCOUNT = "leedswin-bridge"
NETWORK_ACCOUNT = "leedswin-network"
#: A second uplink writer: `leedswin sim` beside the demo, without taking over its simulator.
SIM_ACCOUNT = "leedswin-sim"
HOUSING_ACCOUNT = "leedswin-housing"


#: ``leedswin bridge --workers K`` logs worker ``i`` in as ``<bridge account>-<i>``
#: (``gateway_bridge.workers``); the ACL grants the bridge's topics to this many.
BRIDGE_WORKER_ACCOUNTS = 8


def bridge_accounts(bridge: str = BRIDGE_ACCOUNT) -> tuple[str, ...]:
    """The bridge's account and its workers' (``<bridge>-0`` … ``-7``)."""
    return (bridge, *(f"{bridge}-{i}" for i in range(BRIDGE_WORKER_ACCOUNTS)))


def broker_acl(
    bridge: str = BRIDGE_ACCOUNT,
    network: tuple[str, ...] = (NETWORK_ACCOUNT, SIM_ACCOUNT),
    housing: str = HOUSING_ACCOUNT,
) -> str:
    """Mosquitto ``acl_file`` text: who may read and write which topics.

    ``pattern`` lines apply to every authenticated account (``topic`` lines before
    the first ``user`` would apply only to anonymous clients, which are refused):
    anyone with an account reads the public live feed, nobody else writes it.
    Uplinks are written by the network server (ChirpStack v4, The Things Stack v3)
    and read only by the bridge; the restricted tree is written by the bridge and
    read only by the housing account.
    """
    return (
        "# Every account: the public live feed, read only.\n"
        "pattern read leedswin/v1/readings/#\n"
        + "".join(
            f"\nuser {name}\n"
            "topic read application/+/device/+/event/up\n"
            "topic read v3/+/devices/+/up\n"
            "topic write leedswin/v1/readings/#\n"
            "topic write leedswin/v1/restricted/readings/#\n"
            for name in bridge_accounts(bridge)
        )
        + "".join(
            f"\nuser {name}\n"
            "topic write application/+/device/+/event/up\n"
            "topic write v3/+/devices/+/up\n"
            for name in network
        )
        + f"\nuser {housing}\n"
        "topic read leedswin/v1/restricted/readings/#\n"
    )


def write_password_file(path: Path, accounts: dict[str, str]) -> None:
    """A Mosquitto password file (hashed by ``mosquitto_passwd``), readable by us only."""
    binary = require_binary("mosquitto_passwd", "mosquitto")
    path.unlink(missing_ok=True)
    path.touch(mode=0o600)
    for username, password in accounts.items():
        if ":" in username or not username.strip():
            raise ConfigError(f"bad broker account name {username!r}")
        subprocess.run(
            [binary, "-b", str(path), username, password],
            check=True,
            capture_output=True,
        )
    os.chmod(path, 0o600)


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def require_binary(name: str, package: str) -> str:
    """Path of a server binary, or a ConfigError saying which Debian package to install."""
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin")
    if not found:
        raise ConfigError(
            f"{name} not found: install the Debian package with `apt-get install {package}`"
        )
    return found


class LocalServer:
    """A child server process we own: start, wait until it answers, stop by PID."""

    name = "server"

    def __init__(self, root: Path | None = None, port: int | None = None) -> None:
        self._own_root = root is None
        self.root = (
            Path(tempfile.mkdtemp(prefix=f"leedswin-{self.name}-")) if root is None else root
        )
        self.root.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = self.root / f"{self.name}.log"

    def command(self) -> list[str]:
        raise NotImplementedError

    def is_ready(self) -> bool:
        raise NotImplementedError

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def start(self, timeout: float = 30.0) -> None:
        """Start the server and return once it answers; raise with its log if it does not."""
        if self.process and self.process.poll() is None:
            return
        with open(self.log_path, "ab") as log:
            # A session of its own: a terminal's Ctrl-C reaches only us, and we stop the
            # server by PID after whatever depends on it (the bridge) has drained.
            self.process = subprocess.Popen(
                self.command(),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            if self.is_ready():
                return
            time.sleep(0.05)
        self.stop()
        tail = self.log_path.read_text(errors="replace")[-2000:]
        raise ConfigError(f"{self.name} on {LOOPBACK}:{self.port} did not start:\n{tail}")

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM our child, SIGKILL it if it lingers."""
        if not self.process or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def kill(self) -> None:
        """SIGKILL our child: a crash, for fault tests."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def restart(self) -> None:
        self.stop()
        self.start()

    def close(self) -> None:
        self.stop()
        if self._own_root:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


@dataclass(frozen=True)
class ServerTls:
    """PEM files of a TLS listener: its certificate and key, and the CA its clients must be
    signed by (``client_ca``: clients must present a certificate; None: they need not)."""

    cert_file: Path
    key_file: Path
    client_ca: Path | None = None


class LocalMosquitto(LocalServer):
    """Mosquitto with queues deep enough that it never drops QoS 1 messages silently.

    With ``accounts`` (username -> password) the broker is closed: no anonymous
    clients, the ``broker_acl()`` rules, and ``use_username_as_clientid`` so no
    account can take over another's session (the bridge's client id) and knock
    it off: a client's id is its username, whatever it asks for.
    """

    name = "mosquitto"

    def __init__(
        self,
        root: Path | None = None,
        port: int | None = None,
        max_queued_messages: int = 10_000_000,
        accounts: dict[str, str] | None = None,
        tls: ServerTls | None = None,
    ) -> None:
        super().__init__(root, port)
        self.tls = tls
        # Fault tests lower it to show an outage longer than the broker will queue.
        self.max_queued_messages = max_queued_messages
        self.accounts = dict(accounts) if accounts else None

    @property
    def url(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://{LOOPBACK}:{self.port}"

    def command(self) -> list[str]:
        binary = require_binary("mosquitto", "mosquitto")
        data = self.root / "data"
        data.mkdir(exist_ok=True)
        config = self.root / "mosquitto.conf"
        if self.accounts:
            passwords, acl = self.root / "passwords", self.root / "acl"
            write_password_file(passwords, self.accounts)
            acl.write_text(broker_acl())
            access = (
                "allow_anonymous false\n"
                f"password_file {passwords}\n"
                f"acl_file {acl}\n"
                "use_username_as_clientid true\n"
            )
        else:
            access = "allow_anonymous true\n"
        # The default max_queued_messages (1000) drops a burst silently (measured).
        # Root would drop to user `mosquitto`, which cannot write our temp dirs:
        # stay as ourselves.
        tls = ""
        if self.tls is not None:
            # Mosquitto's listener options (mosquitto.conf(5)): certfile/keyfile serve TLS;
            # cafile + require_certificate make clients present a certificate signed by it.
            tls = f"certfile {self.tls.cert_file}\nkeyfile {self.tls.key_file}\n"
            if self.tls.client_ca is not None:
                tls += f"cafile {self.tls.client_ca}\nrequire_certificate true\n"
        config.write_text(
            f"user {getpass.getuser()}\n"
            f"listener {self.port} {LOOPBACK}\n"
            f"{tls}"
            f"{access}"
            f"max_queued_messages {self.max_queued_messages}\n"
            "max_queued_bytes 0\n"
            "max_inflight_messages 0\n"
            "persistence true\n"
            f"persistence_location {data}/\n"
            "autosave_interval 1\n"
            "log_dest stderr\n"
            "log_type error\n"
            "log_type warning\n"
            "set_tcp_nodelay true\n"
        )
        return [binary, "-c", str(config)]

    def is_ready(self) -> bool:
        try:
            with socket.create_connection((LOOPBACK, self.port), timeout=0.5):
                return True
        except OSError:
            return False


class LocalInfluxDB(LocalServer):
    """InfluxDB 1.x (`influxd`) with every listener on loopback and nothing reported home.

    ``auth=True`` turns authentication on: until the first admin user is created
    (``storage.provision``), only ``CREATE USER … WITH ALL PRIVILEGES`` is accepted.
    """

    name = "influxd"

    def __init__(
        self,
        root: Path | None = None,
        port: int | None = None,
        auth: bool = False,
        retention_check_interval: str = "30m",
        tls: ServerTls | None = None,
        access_log: bool = False,
        snapshot_cold: str = "10m",
    ) -> None:
        """``retention_check_interval``: how often expired shard groups are dropped (tests of
        retention shorten InfluxDB's 30 min default). ``access_log``: every HTTP request,
        query string included, in ``log_path`` (tests of what reaches which server).
        ``snapshot_cold``: how long a shard takes no writes before its in-memory cache is
        written to TSM files (InfluxDB's ``cache-snapshot-write-cold-duration``; benchmarks
        shorten it so a bulk load's tail is on disk before they measure)."""
        super().__init__(root, port)
        self.rpc_port = free_port()
        self.auth = auth
        self.access_log = access_log
        self.retention_check_interval = retention_check_interval
        self.snapshot_cold = snapshot_cold
        self.tls = tls

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{LOOPBACK}:{self.port}"

    def command(self) -> list[str]:
        binary = require_binary("influxd", "influxdb")
        config = self.root / "influxdb.conf"
        config.write_text(
            "reporting-disabled = true\n"
            f'bind-address = "{LOOPBACK}:{self.rpc_port}"\n'
            "[meta]\n"
            f'  dir = "{self.root / "meta"}"\n'
            "  logging-enabled = false\n"
            "[data]\n"
            f'  dir = "{self.root / "data"}"\n'
            f'  wal-dir = "{self.root / "wal"}"\n'
            "  query-log-enabled = false\n"
            f'  cache-snapshot-write-cold-duration = "{self.snapshot_cold}"\n'
            "[monitor]\n"
            "  store-enabled = false\n"
            "[subscriber]\n"
            "  enabled = false\n"
            "[http]\n"
            f'  bind-address = "{LOOPBACK}:{self.port}"\n'
            f"  log-enabled = {'true' if self.access_log else 'false'}\n"
            "  pprof-enabled = false\n"
            f"  auth-enabled = {'true' if self.auth else 'false'}\n"
            + (
                "  https-enabled = true\n"
                f'  https-certificate = "{self.tls.cert_file}"\n'
                f'  https-private-key = "{self.tls.key_file}"\n'
                if self.tls
                else ""
            )
            + "[logging]\n"
            '  level = "warn"\n'
            "  suppress-logo = true\n"
            "[continuous_queries]\n"
            "  enabled = false\n"
            "[retention]\n"
            "  enabled = true\n"
            f'  check-interval = "{self.retention_check_interval}"\n'
        )
        return [binary, "-config", str(config)]

    def is_ready(self) -> bool:
        # Readiness only: is influxd answering? (Clients verify its certificate themselves.)
        context = ssl._create_unverified_context() if self.tls else None
        try:
            with urllib.request.urlopen(
                f"{self.url}/ping", timeout=0.5, context=context
            ) as response:
                return bool(response.status == 204)
        except OSError:
            return False


__all__ = [
    "BRIDGE_ACCOUNT",
    "HOUSING_ACCOUNT",
    "NETWORK_ACCOUNT",
    "SIM_ACCOUNT",
    "LocalInfluxDB",
    "LocalMosquitto",
    "LocalServer",
    "ServerTls",
    "BRIDGE_WORKER_ACCOUNTS",
    "bridge_accounts",
    "broker_acl",
    "free_port",
    "require_binary",
    "write_password_file",
]

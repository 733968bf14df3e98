"""The benchmark's peer: Node-RED with node-red-contrib-influxdb, as councils wire it today.

``NodeRed`` runs Node-RED headless (``settings.js``: no editor, no admin API,
no HTTP nodes) in a temporary userDir, with the flow of ``flow.json``: ``mqtt
in`` at QoS 1 on the uplink topics, a function node (``decode.js``) that turns
a Dragino LHT65N uplink into the same ``climate`` and ``uplink`` points, tags
and event time the bridge writes, split public / home like the bridge's
privacy router, a join of 1,000 uplinks and an ``influxdb batch`` node per
database. Two differences the node imposes: it writes every number as a
float (node-influx has no integer type without a schema), and it
acknowledges MQTT on receipt, before the write (MQTT.js acks in its message
handler).

Node-RED and the InfluxDB nodes are installed from npm at pinned versions into
a cache outside the repository (``~/.cache/leedswin/bench/nodered``) on first
use. Node-RED 5 needs Node.js 22; 4.1 runs on the Node.js 20 that Debian ships.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import IO

from leedswin.services import free_port

HERE = Path(__file__).parent
NODE_RED = "node-red@4.1.15"
INFLUXDB_NODES = "node-red-contrib-influxdb@0.7.0"
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "leedswin/bench/nodered"
#: Broker account of the peer: may read the uplink topics, nothing else (bench.e2e's ACL).
ACCOUNT = "leedswin-nodered"
#: The model whose uplinks the flow's function node decodes (``decode.js``).
MODEL = "dragino-lht65n"


class NodeRedMissing(RuntimeError):
    """npm or node is not installed, or the install failed."""


def installed() -> Path:
    """Path of Node-RED's ``red.js``, installing the pinned packages into the cache first."""
    red = CACHE / "node_modules/node-red/red.js"
    marker = CACHE / f".installed-{NODE_RED}-{INFLUXDB_NODES}"
    if red.exists() and marker.exists():
        return red
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        raise NodeRedMissing(
            "the Node-RED peer needs Node.js and npm (Debian: apt-get install nodejs npm); "
            "or run without --peer nodered"
        )
    CACHE.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [npm, "install", "--no-audit", "--no-fund", "--omit=dev", "--prefix", str(CACHE)]
        + [NODE_RED, INFLUXDB_NODES],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0 or not red.exists():
        raise NodeRedMissing(f"npm install of {NODE_RED} failed:\n{done.stderr[-2000:]}")
    marker.touch()
    return red


def flow(
    broker_port: int, password: str, influx_port: int, database: str, home_db: str
) -> tuple[list[dict], dict]:
    """``flow.json`` with this run's ports and databases, and its credentials file."""
    nodes: list[dict] = json.loads((HERE / "flow.json").read_text())
    for node in nodes:
        if node["type"] == "mqtt-broker":
            node["port"] = str(broker_port)
            node["clientid"] = ACCOUNT
        elif node["type"] == "influxdb":
            node["port"] = str(influx_port)
            node["database"] = database if node["id"] == "influx-public" else home_db
        elif node["id"] == "decode":
            node["func"] = (HERE / "decode.js").read_text()
    credentials = {"broker": {"user": ACCOUNT, "password": password}}
    return nodes, credentials


class NodeRed:
    """One headless Node-RED process; ready once its MQTT node has subscribed."""

    def __init__(self, nodes: list[dict], credentials: dict, timeout: float = 60.0) -> None:
        red = installed()
        self._dir = tempfile.TemporaryDirectory(prefix="leedswin-nodered-")
        user_dir = Path(self._dir.name)
        (user_dir / "flows.json").write_text(json.dumps(nodes))
        (user_dir / "flows_cred.json").write_text(json.dumps(credentials))
        self.log: list[str] = []
        self._subscribed = threading.Event()
        env = {**os.environ, "LEEDSWIN_NODERED_PORT": str(free_port())}
        self.process = subprocess.Popen(
            ["node", str(red), "--settings", str(HERE / "settings.js"), "--userDir", str(user_dir)]
            + ["flows.json"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        assert self.process.stdout is not None
        self._reader = threading.Thread(target=self._read, args=(self.process.stdout,), daemon=True)
        self._reader.start()
        if not self._subscribed.wait(timeout):
            self.stop()
            raise RuntimeError("Node-RED did not connect to the broker:\n" + self.output())
        time.sleep(1.0)  # "Connected" is logged before the SUBSCRIBE is answered

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self.log.append(line)
            del self.log[:-200]
            if "Connected to broker" in line:
                self._subscribed.set()

    @property
    def pid(self) -> int:
        return self.process.pid

    def output(self) -> str:
        return "".join(self.log[-60:])

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self._dir.cleanup()

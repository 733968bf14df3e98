"""End-to-end bridge benchmark: ``python -m bench.e2e --uplinks 200000 [--workers 2]``.

One run, on private loopback servers (``LocalMosquitto``, ``LocalInfluxDB``):

1. generate the uplinks with ``firmware_sim`` (many devices, realistic ChirpStack
   v4 events) and pickle them for the publisher processes — outside every
   measured window;
2. ceilings: broker → one trivial paho subscriber at QoS 1 (``bench.clients
   subscribe``), and InfluxDB ingest of the same uplinks' points pre-encoded in
   5,000-point batches over one connection;
3. throughput: ``leedswin bridge`` as real subprocess(es), a burst of N uplinks at
   QoS 1 from ``bench.clients publish``; first publish → ``count("f_cnt")`` on
   ``uplink`` equals N; points lost, CPU seconds and peak RSS (``VmHWM``) per
   process, read from ``/proc``;
4. latency: uplinks at a fixed rate; publish → receipt of the bridge's live-feed
   message, which the bridge sends only after InfluxDB accepted the points.

Prints a table and one JSON line; the bridge figures are also given as ratios of
the two ceilings, which moves far less than absolute figures when the machine's
speed drifts.
"""

from __future__ import annotations

import os
import pickle
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import orjson
import paho.mqtt.client as mqtt
import typer
from rich.console import Console
from rich.table import Table

from bench import nodered
from core.settings import InfluxSettings
from decoders import get_spec
from firmware_sim.events import Format
from firmware_sim.fleet import build_fleet
from firmware_sim.publisher import SimOptions, Simulator
from gateway_bridge.events import parse_event
from gateway_bridge.pipeline import Pipeline
from gateway_bridge.resolve import Resolver
from leedswin.services import (
    BRIDGE_ACCOUNT,
    HOUSING_ACCOUNT,
    NETWORK_ACCOUNT,
    LocalInfluxDB,
    LocalMosquitto,
    bridge_accounts,
    broker_acl,
    free_port,
)
from storage.points import encode

app = typer.Typer(add_completion=False)
console = Console(stderr=True)

LEEDSWIN = str(Path(sys.executable).with_name("leedswin"))
CLK_TCK = os.sysconf("SC_CLK_TCK")
INFLUX_BATCH = 5000


# -- /proc -----------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """utime + stime of a live process."""
    text = Path(f"/proc/{pid}/stat").read_text()
    fields = text[text.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        found += [int(p) for p in text]
    return found


# -- messages --------------------------------------------------------------------------


def generate(
    count: int, devices: int, fmt: Format, seed: int, model: str = ""
) -> list[tuple[str, bytes]]:
    """``count`` uplinks of ``devices`` devices, round-robin over every model or of ``model`` only."""
    if count <= 0:
        return []  # uplinks=0 would mean an endless simulation
    per_device = -(-count // devices)
    options = SimOptions(devices=devices, uplinks=per_device, seed=seed, format=fmt)
    simulator = Simulator(options)
    if model:
        simulator.devices, _ = build_fleet(
            seed, devices, options.interval, models=[get_spec(model)]
        )
    out: list[tuple[str, bytes]] = []
    for topic, payload, kind in simulator.messages():
        if kind == "uplink":
            out.append((topic, payload))
            if len(out) == count:
                break
    return out


def shards(messages: list[tuple[str, bytes]], parts: int) -> list[list[tuple[str, bytes]]]:
    return [messages[i::parts] for i in range(parts)]


# -- the closed broker -----------------------------------------------------------------

#: Bench-only accounts besides the platform's: the ceiling's publisher and subscriber.
CEILING_ACCOUNT = "leedswin-bench-ceiling"
ACCOUNTS = {
    name: uuid.uuid4().hex
    for name in (BRIDGE_ACCOUNT, NETWORK_ACCOUNT, HOUSING_ACCOUNT, nodered.ACCOUNT, CEILING_ACCOUNT)
}
# ``--workers K``: worker i logs in as ``<bridge account>-<i>`` with the bridge's password.
ACCOUNTS |= dict.fromkeys(bridge_accounts(), ACCOUNTS[BRIDGE_ACCOUNT])


class BenchMosquitto(LocalMosquitto):
    """The platform's closed broker (accounts, ``broker_acl``) plus the bench's two accounts.

    Node-RED's account reads the uplink topics only; the ceiling's account reads
    and writes ``bench/ceiling/#`` only. ``use_username_as_clientid`` is left out
    because the publisher processes share the network server's account.
    """

    def __init__(self) -> None:
        super().__init__(accounts=ACCOUNTS)

    def command(self) -> list[str]:
        command = super().command()
        (self.root / "acl").write_text(
            broker_acl()
            + f"\nuser {nodered.ACCOUNT}\n"
            + "topic read application/+/device/+/event/up\n"
            + "topic read v3/+/devices/+/up\n"
            + f"\nuser {CEILING_ACCOUNT}\n"
            + "topic readwrite bench/ceiling/#\n"
        )
        config = self.root / "mosquitto.conf"
        config.write_text(config.read_text().replace("use_username_as_clientid true\n", ""))
        return command


def account_env(name: str) -> dict[str, str]:
    return {"BENCH_MQTT_USERNAME": name, "BENCH_MQTT_PASSWORD": ACCOUNTS[name]}


# -- child processes -------------------------------------------------------------------


class Child:
    """A ``bench.clients`` process: waits for ``go`` on stdin, answers with JSON lines."""

    def __init__(self, *args: str, account: str = NETWORK_ACCOUNT) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.clients", *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, **account_env(account)},
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line or not orjson.loads(line).get("ready"):
            raise RuntimeError(f"bench.clients {args[0]} did not start")

    def go(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write("go\n")
        self.process.stdin.flush()

    def result(self, timeout: float) -> dict[str, Any]:
        assert self.process.stdout is not None
        out, _ = self.process.communicate(timeout=timeout)
        return dict(orjson.loads(out.strip().splitlines()[-1]))


def publishers(
    broker: LocalMosquitto,
    messages: list[tuple[str, bytes]],
    count: int,
    root: Path,
    *extra: str,
    account: str = NETWORK_ACCOUNT,
) -> list[Child]:
    started = []
    for i, shard in enumerate(shards(messages, count)):
        path = root / f"shard-{uuid.uuid4().hex[:6]}-{i}.pickle"
        path.write_bytes(pickle.dumps(shard))
        started.append(
            Child(
                "publish",
                "--messages",
                str(path),
                "--port",
                str(broker.port),
                *extra,
                account=account,
            )
        )
    return started


class BridgeProcesses:
    """``leedswin bridge [--workers K]``; ready once every worker's metrics say subscribed."""

    def __init__(
        self,
        broker: LocalMosquitto,
        influx: LocalInfluxDB,
        database: str,
        workers: int,
        max_in_flight: int,
        env: dict[str, str],
    ) -> None:
        self.metrics_port = free_port()
        self.workers = workers
        args = [
            LEEDSWIN,
            "bridge",
            "--mqtt-url",
            broker.url,
            "--influx-url",
            influx.url,
            "--influx-database",
            database,
            "--client-id",
            f"bench-{uuid.uuid4().hex[:6]}",
            "--max-in-flight",
            str(max_in_flight),
            "--metrics-port",
            str(self.metrics_port),
        ]
        if workers > 1:
            args += ["--workers", str(workers)]
        self.log = tempfile.TemporaryFile()
        self.state_dir = tempfile.TemporaryDirectory()
        account = {
            "LEEDSWIN_MQTT_USERNAME": BRIDGE_ACCOUNT,
            "LEEDSWIN_MQTT_PASSWORD": ACCOUNTS[BRIDGE_ACCOUNT],
            # As in production: the bridge keeps device state in the API's registry.
            "LEEDSWIN_API_REGISTRY": str(Path(self.state_dir.name) / "registry.sqlite3"),
        }
        self.process = subprocess.Popen(
            args, stdout=self.log, stderr=subprocess.STDOUT, env={**os.environ, **account, **env}
        )
        deadline = time.monotonic() + 60
        while not all(self._subscribed(self.metrics_port + i) for i in range(workers)):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"bridge did not subscribe:\n{self.output()}")
            time.sleep(0.1)

    def _subscribed(self, port: int) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=1) as r:
                return "leedswin_bridge_connected 1.0" in r.read().decode()
        except OSError:
            return False

    def pids(self) -> list[int]:
        """The bridge process, or the supervisor and its workers."""
        if self.workers == 1:
            return [self.process.pid]
        return [self.process.pid, *children(self.process.pid)]

    def named(self) -> dict[str, int]:
        pids = self.pids()
        if self.workers == 1:
            return {"bridge": pids[0]}
        return {"bridge supervisor": pids[0]} | {
            f"bridge worker {i}": pid for i, pid in enumerate(pids[1:])
        }

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")[-3000:]

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(120)
        self.state_dir.cleanup()
        return code


def uplink_count(url: str, database: str) -> int:
    """Uplinks stored in the public database and its home database (the bridge splits them)."""
    total = 0
    for db in (database, InfluxSettings(url=url, database=database).home_db):
        params = urllib.parse.urlencode({"db": db, "q": 'SELECT count("f_cnt") FROM uplink'})
        with urllib.request.urlopen(f"{url}/query?{params}", timeout=30) as response:
            result = orjson.loads(response.read())["results"][0]
        series = result.get("series") or []
        total += int(series[0]["values"][0][1]) if series else 0
    return total


def wait_for_count(
    url: str, database: str, expected: int, stall: float = 15.0
) -> tuple[int, float]:
    """Poll until ``expected`` uplinks are visible (or no progress for ``stall`` s)."""
    seen, progress = -1, time.monotonic()
    while True:
        now = time.monotonic()
        count = uplink_count(url, database)
        if count >= expected:
            return count, now
        if count != seen:
            seen, progress = count, now
        elif now - progress > stall:
            return count, progress
        time.sleep(0.05 if expected - count < 2000 else 0.25)


# -- ceilings --------------------------------------------------------------------------


def broker_ceiling(
    broker: LocalMosquitto, messages: list[tuple[str, bytes]], root: Path
) -> dict[str, float]:
    sub = Child(
        "subscribe",
        "--count",
        str(len(messages)),
        "--port",
        str(broker.port),
        account=CEILING_ACCOUNT,
    )
    (pub,) = publishers(
        broker, messages, 1, root, "--prefix", "bench/ceiling/", account=CEILING_ACCOUNT
    )
    sub.go()
    pub.go()
    sent = pub.result(600)
    got = sub.result(600)
    seconds = got["last"] - sent["first"]
    return {
        "msg_per_s": got["received"] / seconds,
        "received": got["received"],
        "publisher_msg_per_s": sent["sent"] / (sent["last_ack"] - sent["first"]),
        "subscriber_cpu_s": got["cpu_s"],
        "publisher_cpu_s": sent["cpu_s"],
    }


def influx_ceiling(influx: LocalInfluxDB, messages: list[tuple[str, bytes]]) -> dict[str, float]:
    """The uplinks' own points, encoded beforehand, written 5,000 per request on one connection."""
    pipeline = Pipeline(Resolver())
    points = [p for topic, payload in messages for p in pipeline.process(topic, payload).points]
    bodies = [encode(points[i : i + INFLUX_BATCH]) for i in range(0, len(points), INFLUX_BATCH)]
    with httpx.Client(base_url=influx.url, timeout=60) as client:
        client.post("/query", params={"q": "CREATE DATABASE ceiling"}).raise_for_status()
        cpu0 = cpu_seconds(influx.pid or 0)
        started = time.monotonic()
        for body in bodies:
            client.post(
                "/write", params={"db": "ceiling", "precision": "ns"}, content=body
            ).raise_for_status()
        seconds = time.monotonic() - started
    return {
        "points_per_s": len(points) / seconds,
        "points": len(points),
        "points_per_uplink": len(points) / len(messages),
        "influxd_cpu_s": cpu_seconds(influx.pid or 0) - cpu0,
    }


# -- bridge runs -----------------------------------------------------------------------


def throughput(
    broker: LocalMosquitto,
    influx: LocalInfluxDB,
    bridge: BridgeProcesses,
    database: str,
    messages: list[tuple[str, bytes]],
    publisher_count: int,
    root: Path,
    profile: str | None = None,
) -> dict[str, Any]:
    """The burst; with ``profile``, py-spy samples every worker into ``<profile>.<i>.txt``."""
    pubs = publishers(broker, messages, publisher_count, root)
    watched = {"mosquitto": broker.pid or 0, "influxd": influx.pid or 0}
    watched |= bridge.named()
    cpu0 = {name: cpu_seconds(pid) for name, pid in watched.items()}
    spies = (
        [
            subprocess.Popen(
                [
                    str(Path(sys.executable).with_name("py-spy")),
                    "record",
                    "--pid",
                    str(pid),
                    "--rate",
                    "250",
                    "--nonblocking",
                    "--gil",
                    "--format",
                    "raw",
                    "--output",
                    f"{profile}.{i}.txt",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for i, pid in enumerate(bridge.pids()[-bridge.workers :])
        ]
        if profile
        else []
    )
    time.sleep(1.0 if profile else 0)
    for pub in pubs:
        pub.go()
    results = [pub.result(3600) for pub in pubs]
    first = min(r["first"] for r in results)
    count, visible = wait_for_count(influx.url, database, len(messages))
    cpu = {name: round(cpu_seconds(pid) - cpu0[name], 2) for name, pid in watched.items()}
    cpu["publishers"] = round(sum(r["cpu_s"] for r in results), 2)
    for spy in spies:
        spy.send_signal(signal.SIGINT)
        spy.wait(60)
    seconds = visible - first
    return {
        "uplinks": len(messages),
        "visible": count,
        "lost": len(messages) - count,
        "seconds": round(seconds, 3),
        "uplinks_per_s": count / seconds,
        "publish_seconds": round(max(r["last_ack"] for r in results) - first, 3),
        "cpu_s": cpu,
    }


def peer_throughput(
    broker: LocalMosquitto,
    influx: LocalInfluxDB,
    messages: list[tuple[str, bytes]],
    publisher_count: int,
    root: Path,
) -> dict[str, Any]:
    """The same burst through Node-RED (``bench.nodered``) on the same servers."""
    database = "nodered"
    home_db = InfluxSettings(url=influx.url, database=database).home_db
    with httpx.Client(base_url=influx.url, timeout=60) as client:
        for db in (database, home_db):
            client.post("/query", params={"q": f"CREATE DATABASE {db}"}).raise_for_status()
    nodes, credentials = nodered.flow(
        broker.port, ACCOUNTS[nodered.ACCOUNT], influx.port, database, home_db
    )
    red = nodered.NodeRed(nodes, credentials)
    try:
        pubs = publishers(broker, messages, publisher_count, root)
        watched = {"mosquitto": broker.pid or 0, "influxd": influx.pid or 0, "nodered": red.pid}
        cpu0 = {name: cpu_seconds(pid) for name, pid in watched.items()}
        for pub in pubs:
            pub.go()
        results = [pub.result(3600) for pub in pubs]
        first = min(r["first"] for r in results)
        count, visible = wait_for_count(influx.url, database, len(messages))
        cpu = {name: round(cpu_seconds(pid) - cpu0[name], 2) for name, pid in watched.items()}
        cpu["publishers"] = round(sum(r["cpu_s"] for r in results), 2)
        rss = round(peak_rss_mb(red.pid), 1)
    except BaseException:
        console.print(red.output())
        raise
    finally:
        red.stop()
    seconds = visible - first
    return {
        "uplinks": len(messages),
        "visible": count,
        "lost": len(messages) - count,
        "seconds": round(seconds, 3),
        "uplinks_per_s": count / seconds,
        "cpu_s": cpu,
        "peak_rss_mb": rss,
        "versions": [nodered.NODE_RED, nodered.INFLUXDB_NODES],
    }


@contextmanager
def live_feed(url_port: int) -> Iterator[dict[tuple[str, int], float]]:
    """Receipt time (monotonic) of every live-feed reading, keyed by (dev_eui, f_cnt)."""
    got: dict[tuple[str, int], float] = {}
    ready = threading.Event()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-feed-{os.getpid()}")
    client.username_pw_set(HOUSING_ACCOUNT, ACCOUNTS[HOUSING_ACCOUNT])

    def on_message(c: mqtt.Client, u: object, message: mqtt.MQTTMessage) -> None:
        now = time.monotonic()
        body = orjson.loads(message.payload)
        got[(body["dev_eui"], int(body["f_cnt"]))] = now

    client.on_message = on_message
    client.on_subscribe = lambda *_: ready.set()
    client.on_connect = lambda c, *_: c.subscribe(
        [("leedswin/v1/readings/#", 0), ("leedswin/v1/restricted/readings/#", 0)]
    )
    client.connect("127.0.0.1", url_port, 60)
    client.loop_start()
    if not ready.wait(10):
        raise RuntimeError("live-feed subscriber did not subscribe")
    try:
        yield got
    finally:
        client.disconnect()
        client.loop_stop()


def latency(
    broker: LocalMosquitto,
    influx: LocalInfluxDB,
    database: str,
    messages: list[tuple[str, bytes]],
    rate: float,
    root: Path,
    before: int,
) -> dict[str, Any]:
    keys = []
    for topic, payload in messages:
        uplink = parse_event(topic, payload)
        keys.append((uplink.dev_eui, uplink.f_cnt))
    times_path = root / "latency-times.json"
    with live_feed(broker.port) as got:
        (pub,) = publishers(
            broker, messages, 1, root, "--rate", str(rate), "--times", str(times_path)
        )
        pub.go()
        pub.result(3600)
        count, _ = wait_for_count(influx.url, database, before + len(messages))
        deadline = time.monotonic() + 5
        while len(got) < len(messages) and time.monotonic() < deadline:
            time.sleep(0.1)
    sent = orjson.loads(times_path.read_bytes())
    delays = sorted(got[key] - at for key, at in zip(keys, sent, strict=True) if key in got)
    if not delays:
        raise RuntimeError("no live-feed message arrived: is the bridge publishing readings?")
    q = statistics.quantiles(delays, n=100, method="inclusive")
    return {
        "rate": rate,
        "uplinks": len(messages),
        "lost": before + len(messages) - count,
        "feed_missing": len(messages) - len(delays),
        "p50_ms": round(q[49] * 1000, 1),
        "p99_ms": round(q[98] * 1000, 1),
        "max_ms": round(delays[-1] * 1000, 1),
    }


# -- command ---------------------------------------------------------------------------


@app.command()
def main(
    uplinks: int = typer.Option(100_000, help="Uplinks in the throughput burst"),
    workers: int = typer.Option(1, help="Bridge worker processes (shared subscription)"),
    devices: int = typer.Option(2000, help="Simulated devices"),
    format: str = typer.Option("chirpstack-json", help="chirpstack-json | chirpstack-protobuf"),
    publishers_: int = typer.Option(1, "--publishers", help="Publisher processes"),
    max_in_flight: int = typer.Option(5000, help="Bridge Receive Maximum (per worker)"),
    batch_size: int = typer.Option(5000, help="Bridge points per InfluxDB write"),
    latency_rate: float = typer.Option(1000.0, help="Uplinks/s in the latency run (0 = skip)"),
    latency_seconds: float = typer.Option(10.0),
    ceilings: bool = typer.Option(True, help="Measure the broker and InfluxDB ceilings"),
    seed: int = 7,
    profile: str | None = typer.Option(
        None, help="py-spy the workers during the burst (collapsed stacks, <path>.<i>.txt)"
    ),
    peer: str = typer.Option(
        "", help="Also run the same burst through a peer: nodered (Node-RED + InfluxDB nodes)"
    ),
    model: str = typer.Option(
        "", help="Only devices of this model (default: every model; with --peer, dragino-lht65n)"
    ),
) -> None:
    """Run the benchmark; a table on stderr, one JSON line on stdout (the last line)."""
    fmt: Format = format  # type: ignore[assignment]
    if peer not in ("", "nodered"):
        raise typer.BadParameter(f"unknown peer {peer!r}: nodered is the one there is")
    if peer:
        if format != "chirpstack-json":
            raise typer.BadParameter("the Node-RED flow reads ChirpStack JSON events")
        model = model or nodered.MODEL
        if model != nodered.MODEL:
            raise typer.BadParameter(f"the Node-RED flow decodes {nodered.MODEL} only")
        nodered.installed()  # before anything is measured: npm may take a minute
    console.print(
        f"generating {uplinks:,} uplinks from {devices:,} devices ({format}, {model or 'all models'})…"
    )
    started = time.monotonic()
    burst = generate(uplinks, devices, fmt, seed, model)
    paced = generate(int(latency_rate * latency_seconds), devices, fmt, seed + 1, model)
    console.print(f"  done in {time.monotonic() - started:.1f} s (not measured)")
    report: dict[str, Any] = {
        "uplinks": uplinks,
        "workers": workers,
        "format": format,
        "devices": devices,
        "publishers": publishers_,
        "max_in_flight": max_in_flight,
        "cores": os.cpu_count(),
        "model": model or "all",
        "load_before": os.getloadavg(),
    }
    database = "bench"
    with (
        tempfile.TemporaryDirectory(prefix="leedswin-bench-") as tmp,
        BenchMosquitto() as broker,
        LocalInfluxDB() as influx,
    ):
        root = Path(tmp)
        if ceilings:
            console.print("ceiling: broker → one paho subscriber…")
            report["broker_ceiling"] = broker_ceiling(broker, burst, root)
            console.print("ceiling: InfluxDB ingest, 5,000-point batches…")
            report["influx_ceiling"] = influx_ceiling(influx, burst)
        if peer:
            # First, so no persistent session of the bridge is queueing this burst too.
            console.print(f"peer: {uplinks:,} uplinks through Node-RED…")
            report["peers"] = {"nodered": peer_throughput(broker, influx, burst, publishers_, root)}
        env = {"LEEDSWIN_INFLUX_BATCH_SIZE": str(batch_size), "LEEDSWIN_LOG_LEVEL": "WARNING"}
        bridge = BridgeProcesses(broker, influx, database, workers, max_in_flight, env)
        try:
            console.print(f"throughput: {uplinks:,} uplinks through {workers} worker(s)…")
            report["idle_rss_mb"] = {
                name: round(rss_mb(pid), 1) for name, pid in bridge.named().items()
            }
            report["throughput"] = throughput(
                broker, influx, bridge, database, burst, publishers_, root, profile
            )
            if latency_rate > 0:
                console.print(f"latency: {len(paced):,} uplinks at {latency_rate:,.0f}/s…")
                report["latency"] = latency(
                    broker, influx, database, paced, latency_rate, root, len(burst)
                )
            report["peak_rss_mb"] = {
                name: round(peak_rss_mb(pid), 1) for name, pid in bridge.named().items()
            }
        finally:
            code = bridge.stop()
        report["bridge_exit"] = code
        if code != 0:
            console.print(bridge.output())
    report["load_after"] = os.getloadavg()
    derive(report)
    show(report)
    sys.stdout.write(orjson.dumps(report).decode() + "\n")


def derive(report: dict[str, Any]) -> None:
    run = report["throughput"]
    if "broker_ceiling" in report:
        report["ratio_broker"] = run["uplinks_per_s"] / report["broker_ceiling"]["msg_per_s"]
        per_uplink = report["influx_ceiling"]["points_per_uplink"]
        report["ratio_influx"] = (
            run["uplinks_per_s"] * per_uplink / report["influx_ceiling"]["points_per_s"]
        )
    bridge_cpu = sum(v for k, v in run["cpu_s"].items() if k.startswith("bridge"))
    per = 1e6 / max(1, run["visible"])
    report["uplinks_per_s"] = run["uplinks_per_s"]
    report["lost"] = run["lost"]
    report["bridge_cpu_us_per_uplink"] = bridge_cpu * per
    report["mosquitto_cpu_us_per_uplink"] = run["cpu_s"]["mosquitto"] * per
    report["influxd_cpu_us_per_uplink"] = run["cpu_s"]["influxd"] * per
    report["system_cpu_us_per_uplink"] = (
        report["bridge_cpu_us_per_uplink"]
        + report["mosquitto_cpu_us_per_uplink"]
        + report["influxd_cpu_us_per_uplink"]
    )
    for name, peer in report.get("peers", {}).items():
        peer_per = 1e6 / max(1, peer["visible"])
        peer["cpu_us_per_uplink"] = peer["cpu_s"][name] * peer_per
        peer["mosquitto_cpu_us_per_uplink"] = peer["cpu_s"]["mosquitto"] * peer_per
        peer["influxd_cpu_us_per_uplink"] = peer["cpu_s"]["influxd"] * peer_per
        peer["system_cpu_us_per_uplink"] = (
            peer["cpu_us_per_uplink"]
            + peer["mosquitto_cpu_us_per_uplink"]
            + peer["influxd_cpu_us_per_uplink"]
        )
        # Ratios bridge / peer: below 1 means the bridge costs less (CPU) or is slower (rate).
        report[f"vs_{name}"] = {
            "cpu_ratio": report["bridge_cpu_us_per_uplink"] / peer["cpu_us_per_uplink"],
            "system_cpu_ratio": report["system_cpu_us_per_uplink"]
            / peer["system_cpu_us_per_uplink"],
            "throughput_ratio": report["uplinks_per_s"] / peer["uplinks_per_s"],
        }


def show(report: dict[str, Any]) -> None:
    run = report["throughput"]
    table = Table(title=f"bridge end to end ({report['workers']} worker(s), {report['format']})")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_column("target", justify="right")
    table.add_row(
        "uplinks/s (first publish → last visible)",
        f"{run['uplinks_per_s']:,.0f}",
        "≥ Node-RED's" if report.get("peers") else "",
    )
    table.add_row("points lost", str(run["lost"]), "0")
    if "ratio_broker" in report:
        broker, influx = report["broker_ceiling"], report["influx_ceiling"]
        table.add_row(
            "broker ceiling (1 paho subscriber, QoS 1)", f"{broker['msg_per_s']:,.0f}/s", ""
        )
        table.add_row("  bridge / broker ceiling", f"{report['ratio_broker']:.0%}", "")
        table.add_row(
            "InfluxDB ceiling (5,000-point batches)", f"{influx['points_per_s']:,.0f} pts/s", ""
        )
        table.add_row("  bridge points/s / InfluxDB ceiling", f"{report['ratio_influx']:.0%}", "")
        table.add_row("  raw publisher alone", f"{broker['publisher_msg_per_s']:,.0f}/s", "")
    for name, rss in report.get("idle_rss_mb", {}).items():
        table.add_row(f"RSS {name} before the burst", f"{rss:.0f} MB", "")
    for name, rss in report.get("peak_rss_mb", {}).items():
        table.add_row(f"peak RSS {name}", f"{rss:.0f} MB", "≤ 150 MB")
    for name, cpu in run["cpu_s"].items():
        table.add_row(f"CPU s {name}", f"{cpu:.1f}", "")
    table.add_row("bridge CPU per uplink", f"{report['bridge_cpu_us_per_uplink']:.0f} µs", "")
    table.add_row(
        "  mosquitto CPU per uplink", f"{report['mosquitto_cpu_us_per_uplink']:.0f} µs", ""
    )
    table.add_row("  influxd CPU per uplink", f"{report['influxd_cpu_us_per_uplink']:.0f} µs", "")
    table.add_row(
        "  whole system CPU per uplink", f"{report['system_cpu_us_per_uplink']:.0f} µs", ""
    )
    for name, peer in report.get("peers", {}).items():
        table.add_row(f"{name}: uplinks/s", f"{peer['uplinks_per_s']:,.0f}", "")
        table.add_row(f"{name}: lost", str(peer["lost"]), "")
        table.add_row(f"{name}: CPU per uplink", f"{peer['cpu_us_per_uplink']:.0f} µs", "")
        table.add_row(
            f"  {name}: mosquitto CPU per uplink",
            f"{peer['mosquitto_cpu_us_per_uplink']:.0f} µs",
            "",
        )
        table.add_row(
            f"  {name}: influxd CPU per uplink", f"{peer['influxd_cpu_us_per_uplink']:.0f} µs", ""
        )
        table.add_row(
            f"  {name}: whole system CPU per uplink",
            f"{peer['system_cpu_us_per_uplink']:.0f} µs",
            "",
        )
        table.add_row(f"{name}: peak RSS", f"{peer['peak_rss_mb']:.0f} MB", "")
        vs = report[f"vs_{name}"]
        table.add_row(f"bridge / {name}: CPU per uplink", f"{vs['cpu_ratio']:.2f}", "≤ 1")
        table.add_row(f"bridge / {name}: whole system", f"{vs['system_cpu_ratio']:.2f}", "")
        table.add_row(f"bridge / {name}: uplinks/s", f"{vs['throughput_ratio']:.2f}", "≥ 1")
    if "latency" in report:
        lat = report["latency"]
        table.add_row(f"latency p50 @ {lat['rate']:,.0f}/s", f"{lat['p50_ms']:.0f} ms", "")
        table.add_row(
            f"latency p99 @ {lat['rate']:,.0f}/s", f"{lat['p99_ms']:.0f} ms", "< 1,000 ms"
        )
        table.add_row("latency run: lost / no feed", f"{lat['lost']} / {lat['feed_missing']}", "0")
    console.print(table)


if __name__ == "__main__":
    app()

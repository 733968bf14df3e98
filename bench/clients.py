"""Load generator and trivial subscriber for ``bench.e2e``, each run as its own process.

``publish``: a raw MQTT 3.1.1 QoS 1 publisher. The messages are turned into
PUBLISH packets before the start signal and written to the socket in large
chunks; PUBACKs (always 4 bytes in 3.1.1) are only counted. Measured here,
paho's publisher tops out near 11,000 msg/s per process, below what the
bridge drains, so it would measure the load generator instead of the bridge;
this one sends well over 100,000 msg/s from one process (the figure is printed
by every run as the broker ceiling's publish side).

``subscribe``: a paho subscriber that does nothing but count (QoS 1, paho
acknowledging): the broker → one paho process ceiling.

Both talk to the harness by one JSON line on stdout and wait for a ``go`` line
on stdin, so loading and encoding stay out of the measured window.
"""

from __future__ import annotations

import os
import pickle
import select
import socket
import sys
import time
from pathlib import Path

import orjson
import paho.mqtt.client as mqtt
import typer

app = typer.Typer(add_completion=False)

#: Unacknowledged PUBLISHes allowed before waiting; below the 65,535 packet ids.
WINDOW = 20_000
CHUNK = 256


def _length(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | 0x80 if n else byte)
        if not n:
            return bytes(out)


def _string(text: bytes) -> bytes:
    return len(text).to_bytes(2, "big") + text


def connect_packet(client_id: str, username: str = "", password: str = "") -> bytes:
    """MQTT 3.1.1 CONNECT, clean session, with username and password when given (§3.1)."""
    flags = 0x02 | (0xC0 if username else 0)
    body = (
        _string(b"MQTT") + bytes([4, flags]) + (60).to_bytes(2, "big") + _string(client_id.encode())
    )
    if username:
        body += _string(username.encode()) + _string(password.encode())
    return b"\x10" + _length(len(body)) + body


def publish_packet(topic: str, payload: bytes, packet_id: int) -> bytes:
    body = _string(topic.encode()) + packet_id.to_bytes(2, "big") + payload
    return b"\x32" + _length(len(body)) + body


def _emit(record: dict[str, object]) -> None:
    sys.stdout.write(orjson.dumps(record).decode() + "\n")
    sys.stdout.flush()


class RawPublisher:
    """A blocking socket; sends whole chunks of pre-built packets, counts PUBACK bytes."""

    def __init__(self, host: str, port: int, username: str = "", password: str = "") -> None:
        self.sock = socket.create_connection((host, port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.sendall(connect_packet(f"bench-pub-{os.getpid()}", username, password))
        connack = self.sock.recv(4)
        if connack[:1] != b"\x20" or connack[3:4] != b"\x00":
            raise RuntimeError(f"broker refused the connection: {connack.hex()}")
        self.acked_bytes = 0

    @property
    def acked(self) -> int:
        return self.acked_bytes // 4

    def poll(self, timeout: float) -> None:
        ready, _, _ = select.select([self.sock], [], [], timeout)
        if ready:
            data = self.sock.recv(1 << 20)
            if not data:
                raise RuntimeError("broker closed the connection")
            self.acked_bytes += len(data)

    def close(self) -> None:
        self.sock.sendall(b"\xe0\x00")
        self.sock.close()


@app.command()
def publish(
    messages: Path = typer.Option(..., help="Pickled list of (topic, payload)"),
    host: str = "127.0.0.1",
    port: int = 1883,
    prefix: str = typer.Option("", help="Prepended to every topic (the ceiling run)"),
    rate: float = typer.Option(0.0, help="Messages/s; 0 = flat out"),
    times: Path | None = typer.Option(None, help="Write each message's send time (monotonic)"),
    username: str = typer.Option("", envvar="BENCH_MQTT_USERNAME"),
    password: str = typer.Option("", envvar="BENCH_MQTT_PASSWORD"),
) -> None:
    """Publish every message at QoS 1; print first send and last PUBACK (monotonic s)."""
    pairs: list[tuple[str, bytes]] = pickle.loads(messages.read_bytes())
    packets = [
        publish_packet(prefix + topic, payload, i % 65535 + 1)
        for i, (topic, payload) in enumerate(pairs)
    ]
    link = RawPublisher(host, port, username, password)
    _emit({"ready": True})
    sys.stdin.readline()
    cpu0 = os.times()
    sent_at: list[float] = []
    first = time.monotonic()
    sent = 0
    total = len(packets)
    while sent < total:
        if rate > 0:
            due = min(total, int((time.monotonic() - first) * rate) + 1)
            if due <= sent:
                link.poll(max(0.0, first + sent / rate - time.monotonic()))
                continue
            end = due
        else:
            end = min(total, sent + CHUNK)
        while end - sent + (sent - link.acked) > WINDOW:
            link.poll(0.05)
        link.sock.sendall(b"".join(packets[sent:end]))
        now = time.monotonic()
        if times is not None:
            sent_at.extend([now] * (end - sent))
        sent = end
        link.poll(0)
    while link.acked < total:
        link.poll(1.0)
    last = time.monotonic()
    link.close()
    if times is not None:
        times.write_bytes(orjson.dumps(sent_at))
    cpu = os.times()
    _emit(
        {
            "first": first,
            "last_ack": last,
            "sent": total,
            "cpu_s": cpu.user + cpu.system - cpu0.user - cpu0.system,
        }
    )


@app.command()
def subscribe(
    count: int = typer.Option(..., help="Messages to wait for"),
    host: str = "127.0.0.1",
    port: int = 1883,
    topic: str = "bench/ceiling/#",
    username: str = typer.Option("", envvar="BENCH_MQTT_USERNAME"),
    password: str = typer.Option("", envvar="BENCH_MQTT_PASSWORD"),
) -> None:
    """Count ``count`` QoS 1 messages; print first and last receipt (monotonic s)."""
    state = {"n": 0, "first": 0.0, "last": 0.0}
    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2,
        client_id=f"bench-sub-{os.getpid()}",
        protocol=mqtt.MQTTv311,
    )

    def on_message(c: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        state["n"] += 1
        if state["n"] == 1:
            state["first"] = time.monotonic()
        if state["n"] >= count:
            state["last"] = time.monotonic()
            c.disconnect()

    def on_subscribe(*_: object) -> None:
        _emit({"ready": True})

    if username:
        client.username_pw_set(username, password)
    client.on_message = on_message
    client.on_subscribe = on_subscribe
    client.on_connect = lambda c, *_: c.subscribe(topic, qos=1)
    client.connect(host, port, 60)
    cpu0 = os.times()
    client.loop_forever()
    cpu = os.times()
    _emit(
        {
            "received": state["n"],
            "first": state["first"],
            "last": state["last"],
            "cpu_s": cpu.user + cpu.system - cpu0.user - cpu0.system,
        }
    )


if __name__ == "__main__":
    app()

"""Turn a fleet into a stream of uplink messages, and publish a stream at QoS 1.

:func:`simulate` is pure (no network): the same options give the same
messages, byte for byte, unless ``live`` stamps them with the wall clock.
:func:`publish` sends them with paho-mqtt and returns only after the broker
acknowledged every one.
"""

from __future__ import annotations

import itertools
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Literal

import numpy as np
import paho.mqtt.client as mqtt
from paho.mqtt.reasoncodes import ReasonCode

from core.errors import ConfigError, DecodeError, RetryableSinkError
from core.settings import MqttSettings
from decoders import decode
from decoders.spec import DecoderSpec
from firmware_sim import signals
from firmware_sim.encoders import ENCODERS
from firmware_sim.events import Format, GatewayRx, Uplink, application_id, render
from firmware_sim.fleet import Device, build_fleet

Kind = Literal["uplink", "duplicate", "corrupt", "unknown"]
Message = tuple[str, bytes, Kind]

DEFAULT_IN_FLIGHT = 100  # measured: see publish()
CHUNK = 256  # uplinks per device whose readings are computed in one vectorised call


@dataclass(frozen=True)
class SimOptions:
    """What to simulate. ``uplinks=0`` means forever (stop it with the ``stop`` event)."""

    devices: int = 10
    uplinks: int = 10
    seed: int = 0
    format: Format = "chirpstack-json"
    interval: float = 600.0
    duplicates: float = 0.0
    corrupt: float = 0.0
    unknown: int = 0
    live: bool = False
    start: float | None = None
    counter_bits: int | None = None

    def __post_init__(self) -> None:
        if self.devices < 0 or self.uplinks < 0 or self.unknown < 0:
            raise ConfigError("devices, uplinks and unknown must not be negative")
        if not (0 <= self.duplicates <= 1 and 0 <= self.corrupt <= 1):
            raise ConfigError("duplicates and corrupt are fractions between 0 and 1")
        if self.interval <= 0:
            raise ConfigError("interval must be positive")


class _Radio:
    """Per-device sequential state: frame counter and the seeded stream for ids and radio noise.

    Draws come from the device's Generator in blocks (one numpy call per block,
    not per frame), which keeps the stream deterministic and the simulator fast.
    """

    BLOCK = 256

    def __init__(self, seed: int, device: Device) -> None:
        self.device = device
        self.rng = np.random.default_rng([seed, device.index, 0x5AD10])
        self.f_cnt = device.f_cnt_start
        self.uplink_id = int(self.rng.integers(0, 2**31))
        self._next = self.BLOCK

    def _refill(self) -> None:
        rng, n, links = self.rng, self.BLOCK, len(self.device.gateways)
        ids = np.frombuffer(rng.bytes(16 * n), dtype=np.uint8).reshape(n, 16).copy()
        ids[:, 6] = (ids[:, 6] & 0x0F) | 0x40  # UUID version 4
        ids[:, 8] = (ids[:, 8] & 0x3F) | 0x80  # RFC 4122 variant
        self._ids = [row.tobytes().hex() for row in ids]
        self._heard = rng.integers(1, links + 1, size=n).tolist()
        rssi = np.array([g.rssi for g in self.device.gateways]) + rng.normal(0, 3, (n, links))
        snr = np.array([g.snr for g in self.device.gateways]) + rng.normal(0, 1.5, (n, links))
        self._rssi = np.rint(rssi).astype(int).tolist()
        self._snr = np.round(np.clip(snr, -20, 13.5), 1).tolist()
        self._next = 0

    def frame(self, app: str, time_ns: int, f_port: int, payload: bytes) -> Uplink:
        if self._next == self.BLOCK:
            self._refill()
        i = self._next
        self._next += 1
        rx = []
        for g, gateway in enumerate(self.device.gateways[: self._heard[i]]):
            self.uplink_id = (self.uplink_id + 1) % 2**32
            rx.append(
                GatewayRx(gateway.gateway_id, self._rssi[i][g], self._snr[i][g], self.uplink_id)
            )
        h = self._ids[i]
        uplink = Uplink(
            device=self.device,
            application_id=app,
            deduplication_id=f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}",
            time_ns=time_ns,
            f_cnt=self.f_cnt,
            f_port=f_port,
            payload=payload,
            rx=tuple(rx),
        )
        self.f_cnt += 1
        return uplink


def corrupt_payload(
    spec: DecoderSpec, f_port: int, payload: bytes, rng: np.random.Generator
) -> tuple[int, bytes]:
    """A truncated or garbled frame that the model's decoder is certain to reject."""
    truncated, garbage = payload[: len(payload) // 2], rng.bytes(max(len(payload), 1))
    first = (truncated, garbage) if rng.random() < 0.5 else (garbage, truncated)
    for candidate in (*first, payload[:1], b"", payload + rng.bytes(9)):
        try:
            decode(spec.key, f_port, candidate)
        except DecodeError:
            return f_port, candidate
    unused = next(port for port in range(1, 224) if port not in spec.f_ports)
    return unused, payload


def encode_reading(device: Device, values: dict[str, float]) -> tuple[int, bytes]:
    return ENCODERS[device.model](values)


class Simulator:
    """The message stream of one run; devices interleave (uplink k of every device, then k+1)."""

    def __init__(self, options: SimOptions, clock: Callable[[], int] = time.time_ns) -> None:
        self.options = options
        self.clock = clock
        self.devices, self.unknown_devices = build_fleet(
            options.seed,
            options.devices,
            options.interval,
            options.unknown,
            counter_bits=options.counter_bits,
        )
        self.app = application_id(options.seed)
        self.rng = np.random.default_rng([options.seed, 0xD0B1E])
        total = options.devices * options.uplinks
        self._duplicate = self._pick(options.duplicates, total)
        self._corrupt = self._pick(options.corrupt, total)
        start = options.start
        if start is None:
            start = clock() / 1e9 - options.uplinks * options.interval
        self.start = float(start)

    def _pick(self, fraction: float, total: int) -> set[int] | None:
        """Exactly round(fraction × total) uplink indices; None = decide per uplink (endless run)."""
        if not total:
            return None
        size = int(round(fraction * total))
        return {int(i) for i in self.rng.choice(total, size=size, replace=False)}

    def _chosen(self, chosen: set[int] | None, fraction: float, index: int) -> bool:
        if chosen is None:
            return bool(fraction) and bool(self.rng.random() < fraction)
        return index in chosen

    def _times(self, device: Device, ks: range) -> np.ndarray:
        if self.options.live:
            return np.full(len(ks), self.clock() / 1e9)  # live runs go one uplink at a time
        return self.start + np.asarray(ks, dtype=np.float64) * device.interval + device.offset

    def _series(self, device: Device, ks: range) -> list[tuple[int, dict[str, float]]]:
        """(time in ns, readings) of one device's uplinks ``ks``, computed in one vectorised call."""
        times = self._times(device, ks)
        values = signals.readings(device.traits, device.spec, times)  # type: ignore[arg-type]
        names = list(values)
        rows = zip(*(values[name].tolist() for name in names), strict=True)
        stamps = np.rint(times * 1e9).astype(np.int64).tolist()
        return [
            (stamp, dict(zip(names, row, strict=True)))
            for stamp, row in zip(stamps, rows, strict=True)
        ]

    def messages(self, stop: threading.Event | None = None) -> Iterator[Message]:
        options = self.options
        radios = [_Radio(options.seed, d) for d in self.devices]
        strangers = [_Radio(options.seed, d) for d in self.unknown_devices]
        size = 1 if options.live else CHUNK
        endless = options.uplinks == 0
        chunks = itertools.count(0, size) if endless else range(0, options.uplinks, size)
        for first in chunks:
            ks = range(first, first + size if endless else min(first + size, options.uplinks))
            series = None if options.live else [self._series(r.device, ks) for r in radios]
            for j, k in enumerate(ks):
                for d, radio in enumerate(radios):
                    if stop is not None and stop.is_set():
                        return
                    row = self._series(radio.device, ks)[0] if series is None else series[d][j]
                    yield from self._device_messages(radio, row, k * len(radios) + d)
                for radio in strangers:
                    yield self._stranger_message(radio, k)

    def _device_messages(
        self, radio: _Radio, row: tuple[int, dict[str, float]], number: int
    ) -> Iterator[Message]:
        """Uplink ``number`` of the run, then its garbled twin and its duplicate if chosen."""
        options, fmt, device = self.options, self.options.format, radio.device
        time_ns, reading = row
        f_port, payload = encode_reading(device, reading)
        topic, body = render(radio.frame(self.app, time_ns, f_port, payload), fmt)
        yield topic, body, "uplink"
        if self._chosen(self._corrupt, options.corrupt, number):
            bad_port, bad = corrupt_payload(device.spec, f_port, payload, radio.rng)  # type: ignore[arg-type]
            late = self.clock() if options.live else time_ns + int(device.interval * 5e8)
            yield (*render(radio.frame(self.app, late, bad_port, bad), fmt), "corrupt")
        if self._chosen(self._duplicate, options.duplicates, number):
            yield topic, body, "duplicate"

    def _stranger_message(self, radio: _Radio, k: int) -> Message:
        """Uplink ``k`` of a device whose profile names no known model: random bytes."""
        if self.options.live:
            time_ns = self.clock()
        else:
            time_ns = int(round(self._times(radio.device, range(k, k + 1))[0] * 1e9))
        junk = radio.rng.bytes(int(radio.rng.integers(4, 20)))
        return (*render(radio.frame(self.app, time_ns, 2, junk), self.options.format), "unknown")


def simulate(
    options: SimOptions,
    stop: threading.Event | None = None,
    clock: Callable[[], int] = time.time_ns,
) -> Iterator[Message]:
    """(topic, payload, kind) for every message of a run, in publishing order."""
    return Simulator(options, clock).messages(stop)


#: publish() results that still leave the message in paho's session, resent after a reconnect.
QUEUED = (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN, mqtt.MQTT_ERR_CONN_LOST)


class _Link:
    """A paho client driven from the publishing thread itself.

    Without paho's loop thread the publisher and the network code do not
    ping-pong the GIL; measured here that is ~1.5x the messages/s of
    ``loop_start()``. The price is calling :meth:`service` often enough, which
    every wait below does (PUBACKs, keepalive pings, reconnects).
    """

    def __init__(self, settings: MqttSettings, max_in_flight: int, ack_timeout: float) -> None:
        self.settings = settings
        self.window = 2 * max_in_flight  # paho queues the rest of the window behind its in-flight
        self.ack_timeout = ack_timeout
        self.pending = 0
        self.last_ack = time.monotonic()
        self.refused: str | None = None
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=f"leedswin-sim-{uuid.uuid4().hex[:12]}",
            protocol=mqtt.MQTTv311,
        )
        if (context := settings.tls_context()) is not None:
            self.client.tls_set_context(context)
        if settings.username:
            password = settings.password.get_secret_value() if settings.password else None
            self.client.username_pw_set(settings.username, password)
        self.client.max_inflight_messages_set(max_in_flight)
        self.client.max_queued_messages_set(0)
        self.client.on_connect = self._on_connect
        self.client.on_publish = self._on_publish

    def _on_connect(
        self, _c: object, _u: object, _f: object, reason: ReasonCode, _p: object
    ) -> None:
        self.refused = str(reason) if reason.is_failure else None

    def _on_publish(self, *_: object) -> None:
        self.pending -= 1
        self.last_ack = time.monotonic()

    def connect(self, timeout: float) -> None:
        url = self.settings.url
        try:
            self.client.connect(self.settings.host, self.settings.port, self.settings.keepalive)
        except OSError as exc:
            raise ConfigError(f"cannot reach MQTT broker {url}: {exc}") from exc
        deadline = time.monotonic() + timeout
        while not self.client.is_connected() and self.refused is None:
            if time.monotonic() > deadline or self.client.loop(0.05) != mqtt.MQTT_ERR_SUCCESS:
                raise ConfigError(f"MQTT broker {url} did not accept the connection")
        if self.refused is not None:
            raise ConfigError(f"MQTT broker {url} refused the connection: {self.refused}")

    def service(self, timeout: float = 0.0) -> None:
        """Exchange packets for up to ``timeout`` s; reconnect (paho resends unacked) if dropped."""
        if self.client.loop(timeout) == mqtt.MQTT_ERR_SUCCESS:
            return
        if self.pending:
            self._check_progress()
        try:
            self.client.reconnect()
        except OSError:
            time.sleep(0.2)

    def _check_progress(self) -> None:
        if time.monotonic() - self.last_ack > self.ack_timeout:
            raise RetryableSinkError(
                f"broker acknowledged nothing for {self.ack_timeout:.0f} s "
                f"({self.pending} messages unacknowledged)"
            )

    def send(self, topic: str, payload: bytes) -> None:
        if self.pending == 0:
            self.last_ack = time.monotonic()
        while self.pending >= self.window:
            self.service(0.01)
            self._check_progress()
        result = self.client.publish(topic, payload, qos=1)
        if result.rc not in QUEUED:
            raise RetryableSinkError(f"publish failed: {mqtt.error_string(result.rc)}")
        self.pending += 1
        if self.pending % 32 == 0:
            self.service()

    def idle_until(self, deadline: float, stop: threading.Event | None) -> bool:
        """Keep the connection serviced until ``deadline``; True if ``stop`` was set meanwhile."""
        while (left := deadline - time.monotonic()) > 0:
            if stop is not None and stop.is_set():
                return True
            self.service(min(left, 0.1))
        return stop is not None and stop.is_set()

    def drain(self) -> None:
        while self.pending > 0:
            self.service(0.05)
            self._check_progress()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop(0.05)


def publish(
    messages: Iterable[Message],
    settings: MqttSettings,
    rate: float = 0.0,
    max_in_flight: int = DEFAULT_IN_FLIGHT,
    stop: threading.Event | None = None,
    on_message: Callable[[Counter[str]], None] | None = None,
    connect_timeout: float = 10.0,
    ack_timeout: float = 60.0,
) -> Counter[str]:
    """Publish at QoS 1, ``rate`` messages/s (0 = flat out); return counts once all are PUBACKed.

    paho rescans its in-flight list on every PUBACK, so a big window is slower,
    not faster (measured-pitfalls.md; here 100 beat 1000 by about 2x). At most
    twice the window is handed to paho, so memory stays bounded on endless runs.
    A broker that acknowledges nothing for ``ack_timeout`` seconds raises
    ``RetryableSinkError``.
    """
    link = _Link(settings, max_in_flight, ack_timeout)
    link.connect(connect_timeout)
    counts: Counter[str] = Counter()
    try:
        began = time.monotonic()
        for sent, (topic, payload, kind) in enumerate(messages):
            if rate > 0 and link.idle_until(began + sent / rate, stop):
                break
            link.send(topic, payload)
            counts[kind] += 1
            if on_message is not None:
                on_message(counts)
        link.drain()
    finally:
        link.close()
    return counts

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

from core.errors import ConfigError, DecodeError
from core.settings import MqttSettings
from decoders import decode
from decoders.spec import DecoderSpec
from firmware_sim import signals
from firmware_sim.encoders import ENCODERS
from firmware_sim.events import Format, GatewayRx, Uplink, application_id, render
from firmware_sim.fleet import Device, build_fleet

Kind = Literal["uplink", "duplicate", "corrupt", "unknown"]
Message = tuple[str, bytes, Kind]
KINDS: tuple[Kind, ...] = ("uplink", "duplicate", "corrupt", "unknown")

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
    """Per-device sequential state: frame counter and the seeded stream for ids and radio noise."""

    def __init__(self, seed: int, device: Device) -> None:
        self.device = device
        self.rng = np.random.default_rng([seed, device.index, 0x5AD10])
        self.f_cnt = device.f_cnt_start
        self.uplink_id = int(self.rng.integers(0, 2**31))

    def frame(self, app: str, time_ns: int, f_port: int, payload: bytes) -> Uplink:
        rng = self.rng
        heard = self.device.gateways[: int(rng.integers(1, len(self.device.gateways) + 1))]
        rx = []
        for gateway in heard:
            self.uplink_id = (self.uplink_id + 1) % 2**32
            rx.append(
                GatewayRx(
                    gateway_id=gateway.gateway_id,
                    rssi=int(round(gateway.rssi + rng.normal(0, 3))),
                    snr=round(float(np.clip(gateway.snr + rng.normal(0, 1.5), -20, 13.5)), 1),
                    uplink_id=self.uplink_id,
                )
            )
        uplink = Uplink(
            device=self.device,
            application_id=app,
            deduplication_id=str(uuid.UUID(bytes=rng.bytes(16), version=4)),
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
    candidates = (
        payload[: len(payload) // 2],
        payload[:1],
        rng.bytes(max(len(payload), 1)),
        b"",
        payload + rng.bytes(9),
    )
    for candidate in candidates:
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
            return np.full(len(ks), self.clock() / 1e9)
        return self.start + np.asarray(ks, dtype=np.float64) * device.interval + device.offset

    def _series(self, device: Device, ks: range) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        times = self._times(device, ks)
        return times, signals.readings(device.traits, device.spec, times)  # type: ignore[arg-type]

    def messages(self, stop: threading.Event | None = None) -> Iterator[Message]:
        options = self.options
        radios = [_Radio(options.seed, d) for d in self.devices]
        strangers = [_Radio(options.seed, d) for d in self.unknown_devices]
        fmt = options.format
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
                    device = radio.device
                    if series is None:
                        now = self.clock()
                        values = signals.readings(device.traits, device.spec, np.array([now / 1e9]))  # type: ignore[arg-type]
                        time_ns, index = now, 0
                    else:
                        times, values = series[d]
                        time_ns, index = int(round(times[j] * 1e9)), j
                    reading = {name: float(array[index]) for name, array in values.items()}
                    f_port, payload = encode_reading(device, reading)
                    uplink = radio.frame(self.app, time_ns, f_port, payload)
                    topic, body = render(uplink, fmt)
                    yield topic, body, "uplink"
                    number = k * len(radios) + d
                    if self._chosen(self._corrupt, options.corrupt, number):
                        bad_port, bad = corrupt_payload(device.spec, f_port, payload, radio.rng)  # type: ignore[arg-type]
                        late = time_ns + int(device.interval * 5e8)
                        if options.live:
                            late = self.clock()
                        yield (*render(radio.frame(self.app, late, bad_port, bad), fmt), "corrupt")
                    if self._chosen(self._duplicate, options.duplicates, number):
                        yield topic, body, "duplicate"
                for radio in strangers:
                    now = (
                        self.clock()
                        if options.live
                        else int(round((self._times(radio.device, range(k, k + 1))[0]) * 1e9))
                    )
                    junk = radio.rng.bytes(int(radio.rng.integers(4, 20)))
                    yield (*render(radio.frame(self.app, now, 2, junk), fmt), "unknown")


def simulate(
    options: SimOptions,
    stop: threading.Event | None = None,
    clock: Callable[[], int] = time.time_ns,
) -> Iterator[Message]:
    """(topic, payload, kind) for every message of a run, in publishing order."""
    return Simulator(options, clock).messages(stop)


def publish(
    messages: Iterable[Message],
    settings: MqttSettings,
    rate: float = 0.0,
    max_in_flight: int = 1000,
    stop: threading.Event | None = None,
    on_message: Callable[[Counter[str]], None] | None = None,
    connect_timeout: float = 10.0,
) -> Counter[str]:
    """Publish at QoS 1, ``rate`` messages/s (0 = flat out); return counts once all are PUBACKed.

    paho rescans its in-flight window on every PUBACK, so a huge window is slower,
    not faster (measured-pitfalls.md); a semaphore keeps at most twice the
    window queued inside paho so memory stays bounded on endless runs.
    """
    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2,
        client_id=f"leedswin-sim-{uuid.uuid4().hex[:12]}",
        protocol=mqtt.MQTTv311,
    )
    if settings.username:
        password = settings.password.get_secret_value() if settings.password else None
        client.username_pw_set(settings.username, password)
    client.max_inflight_messages_set(max_in_flight)
    client.max_queued_messages_set(0)
    window = threading.BoundedSemaphore(2 * max_in_flight)
    acked = threading.Event()
    connected = threading.Event()
    pending = 0
    lock = threading.Lock()
    counts: Counter[str] = Counter()

    def on_connect(*_: object) -> None:
        connected.set()

    def on_publish(*_: object) -> None:
        nonlocal pending
        window.release()
        with lock:
            pending -= 1
            if pending == 0:
                acked.set()

    client.on_connect = on_connect
    client.on_publish = on_publish
    try:
        client.connect(settings.host, settings.port, settings.keepalive)
    except OSError as exc:
        raise ConfigError(f"cannot reach MQTT broker {settings.url}: {exc}") from exc
    client.loop_start()
    try:
        if not connected.wait(connect_timeout):
            raise ConfigError(f"MQTT broker {settings.url} did not accept the connection")
        began = time.monotonic()
        for sent, (topic, payload, kind) in enumerate(messages):
            if rate > 0:
                delay = began + sent / rate - time.monotonic()
                if delay > 0 and stop is not None and stop.wait(delay):
                    break
                if delay > 0 and stop is None:
                    time.sleep(delay)
            window.acquire()
            with lock:
                pending += 1
                acked.clear()
            result = client.publish(topic, payload, qos=1)
            if result.rc != mqtt.MQTT_ERR_SUCCESS and result.rc != mqtt.MQTT_ERR_NO_CONN:
                raise ConfigError(f"publish failed: {mqtt.error_string(result.rc)}")
            counts[kind] += 1
            if on_message is not None:
                on_message(counts)
        with lock:
            if pending == 0:
                acked.set()
        acked.wait()
    finally:
        client.disconnect()
        client.loop_stop()
    return counts

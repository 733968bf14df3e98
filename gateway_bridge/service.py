"""The running bridge: MQTT messages in, points to the batch writer, PUBACK once they are stored.

Threads: paho's network thread parses, decodes and submits (CPU only, no
blocking I/O), every PUBLISH of one socket read together
(``BridgeClient.on_publish_batch``). The writer thread calls each message's
``on_done``, which only records the outcome, then the bridge's batch end
(``BatchWriter.set_batch_end``), which handles the whole written batch at
once: ``on_stored`` with the points now in InfluxDB (or the spool), the live
feed, and one run of PUBACKs. ``ack_many``/``publish_many`` from the writer
thread are safe in paho 2.2: with ``loop_start`` they only append to the
out-packet deque and wake the network thread through its socket pair; the
socket itself is written only by the network thread.

Which message is acknowledged when is ``gateway_bridge.delivery.DeliveryTracker``'s
job: PUBACKs in receipt order per connection (MQTT 5 §4.6), none for a
connection that has gone (the broker redelivers those messages from the
persistent session and their points are written again, identically), and an
in-flight bound the bridge enforces itself.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, Protocol, cast

import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.reasoncodes import ReasonCode
from prometheus_client import CollectorRegistry

from core.errors import ConfigError, MisconfiguredSinkError, PermanentSinkError, SinkError
from core.feed import feed_body
from core.settings import BridgeSettings, InfluxSettings, MqttSettings
from decoders.configured import ModelCatalog, install
from gateway_bridge.delivery import Delivery, DeliveryTracker
from gateway_bridge.events import format_time
from gateway_bridge.health import HealthServer, Readiness
from gateway_bridge.metrics import BridgeMetrics
from gateway_bridge.mqtt import (
    BridgeClient,
    Received,
    connect_properties,
    feed_topic,
    make_client,
    subscriptions,
)
from gateway_bridge.pipeline import DeadLettered, Decoded, Pipeline, Skipped, dead_letter
from gateway_bridge.resolve import Resolver, resolver_models
from storage.batcher import BatchWriter, DoneCallback
from storage.devices import DeviceRegistry
from storage.influx import InfluxSink, make_sink
from storage.metrics import WriterMetrics
from storage.points import Point
from storage.registry import open_registry
from storage.spool import Spool
from storage.state import DeviceState

log = logging.getLogger(__name__)


class Writer(Protocol):
    """What the bridge needs of ``storage.batcher.BatchWriter``."""

    def submit(self, points: list[Point], on_done: DoneCallback) -> None: ...

    def submit_many(self, items: Iterable[tuple[Sequence[Point], DoneCallback]]) -> None: ...

    def set_batch_end(self, callback: Callable[[], None] | None) -> None: ...

    def flush(self, timeout: float | None = None) -> bool: ...


#: The seam for state kept beside InfluxDB (issue 18: latest value and last seen per device).
#: Called on the writer thread once per written batch with every point of it that InfluxDB
#: (or the spool) accepted: readings, ``uplink`` and ``device_status`` points of stored
#: uplinks and the ``dead_letter`` points stored; never points InfluxDB refused. It runs
#: before those messages are acknowledged, so state is never ahead of a redelivery; an
#: exception is logged and the messages are acknowledged anyway, since their points are
#: stored. Keep it cheap: it holds up the acknowledgements.
StoredCallback = Callable[[list[Point]], None]


class _Taken:
    """One message handed to the writer; its ``on_done`` records the verdict for the batch end."""

    __slots__ = ("bridge", "outcome", "topic", "payload", "delivery")

    def __init__(
        self,
        bridge: Bridge,
        outcome: Decoded | DeadLettered,
        topic: str,
        payload: bytes,
        delivery: Delivery,
    ) -> None:
        self.bridge = bridge
        self.outcome = outcome
        self.topic = topic
        self.payload = payload
        self.delivery = delivery

    def __call__(self, error: PermanentSinkError | None) -> None:
        self.bridge._done.append((self, error))


def feed_message(outcome: Decoded) -> tuple[str, bytes]:
    """Topic and JSON payload of the live feed: the readings measured at the uplink's time."""
    uplink, device = outcome.uplink, outcome.device
    body = feed_body(
        dev_eui=device.dev_eui,
        model=device.model,
        need=outcome.need,
        site=device.site,
        privacy=device.privacy,
        ward=device.ward,
        time=format_time(uplink.time_ns),
        time_ns=uplink.time_ns,
        f_cnt=uplink.f_cnt,
        values=outcome.readings,
    )
    return feed_topic(device.privacy, outcome.need, device.dev_eui), orjson.dumps(body)


class Bridge:
    """One MQTT session feeding one batch writer; ``stop`` drains it without losing a message."""

    def __init__(
        self,
        mqtt_settings: MqttSettings,
        bridge_settings: BridgeSettings,
        pipeline: Pipeline,
        writer: Writer,
        metrics: BridgeMetrics,
        client: BridgeClient | None = None,
        ready: threading.Event | None = None,
        on_stored: StoredCallback | None = None,
    ) -> None:
        self.settings = mqtt_settings
        self.bridge_settings = bridge_settings
        self.pipeline = pipeline
        self.writer = writer
        self.metrics = metrics
        self.client = client if client is not None else make_client(mqtt_settings)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.client.on_publish_batch = self._on_batch
        self.client.on_subscribe = self._on_subscribe
        self.client.on_connect_fail = self._on_connect_fail
        self.delivery = DeliveryTracker(
            self.client.ack_many, mqtt_settings.max_in_flight, on_ack=self.metrics.acked.inc
        )
        self.on_stored = on_stored
        #: Verdicts recorded by ``_Taken`` since the last batch end (writer thread only).
        self._done: list[tuple[_Taken, PermanentSinkError | None]] = []
        writer.set_batch_end(self._batch_end)
        # Read at scrape time: two fewer locked metric updates per message on the hot path.
        self.metrics.in_flight.set_function(lambda: self.delivery.in_flight)
        self._connected = threading.Event() if ready is None else ready
        self._disconnected = threading.Event()
        #: Dead letters stored since the last summary, by reason (written on the writer thread).
        self.dead_letters: Counter[str] = Counter()

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> None:
        """Connect in the background; paho reconnects with backoff until ``stop``."""
        self.client.connect_async(
            self.settings.host,
            self.settings.port,
            keepalive=self.settings.keepalive,
            clean_start=False,
            properties=connect_properties(self.settings),
        )
        self.client.loop_start()

    def wait_connected(self, timeout: float) -> bool:
        return self._connected.wait(timeout)

    def stop(self, timeout: float = 30.0) -> bool:
        """Stop taking messages, write and acknowledge those taken, disconnect.

        Messages that arrive after this are left unacknowledged, so they stay
        in the broker's session for the next start. True if everything taken
        was resolved in time.
        """
        deadline = time.monotonic() + timeout
        self.delivery.stop()
        drained = False
        while time.monotonic() < deadline:
            self.writer.flush(max(0.0, deadline - time.monotonic()))
            # A refused submission re-enters the writer as a dead letter: flush again.
            if self.delivery.wait_idle(0.05):
                drained = True
                break
        left = self.delivery.in_flight
        log.info("event=bridge_stopping drained=%s unresolved=%d", drained, left)
        self._disconnected.clear()
        self.client.disconnect()
        if self._connected.is_set():
            self._disconnected.wait(max(1.0, deadline - time.monotonic()))
        self.client.loop_stop()
        return drained

    # -- paho callbacks (network thread) -----------------------------------------------

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.ConnectFlags,
        reason_code: ReasonCode,
        properties: Any,
    ) -> None:
        if reason_code.is_failure:
            log.error("event=mqtt_connect_refused reason=%r", str(reason_code))
            return
        self.delivery.new_connection()
        if not flags.session_present:
            log.warning(
                "event=mqtt_new_session client_id=%s note=%r",
                self.settings.client_id,
                "no stored session: anything queued for an expired one is gone",
            )
        result, _ = client.subscribe(subscriptions(self.settings))
        log.info(
            "event=mqtt_connected url=%s client_id=%s session_present=%s subscribe_rc=%s",
            self.settings.url,
            self.settings.client_id,
            flags.session_present,
            result,
        )

    def _on_connect_fail(self, client: mqtt.Client, userdata: Any) -> None:
        log.warning("event=mqtt_connect_failed url=%s retrying=true", self.settings.url)

    def _on_subscribe(
        self,
        client: mqtt.Client,
        userdata: Any,
        mid: int,
        reason_codes: list[ReasonCode],
        properties: Any,
    ) -> None:
        failed = [str(code) for code in reason_codes if code.is_failure]
        if failed:
            log.error("event=mqtt_subscribe_refused reasons=%s", failed)
            return
        self._connected.set()
        self.metrics.connected.set(1)

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.DisconnectFlags,
        reason_code: ReasonCode,
        properties: Any,
    ) -> None:
        self.delivery.new_connection()
        accepting = self.delivery.accepting
        self._connected.clear()
        self.metrics.connected.set(0)
        self._disconnected.set()
        if accepting:
            log.warning("event=mqtt_disconnected reason=%r reconnecting=true", str(reason_code))

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        """A PUBLISH read by paho's own reader (one that did not arrive whole in a socket read)."""
        # paho types payload as bytes | bytearray; a received message always carries bytes.
        self._on_batch([(message.topic, cast(bytes, message.payload), message.mid, message.qos)])

    def _on_batch(self, messages: list[Received]) -> None:
        """Every PUBLISH of one socket read: take as many as the bound allows, process, submit."""
        ids = [(mid, qos) for _, _, mid, qos in messages]
        start = 0
        while start < len(messages):
            deliveries = self.delivery.receive_many(ids, start)
            if not deliveries:
                return  # stopping: not acknowledged, stay in the session for the next start
            self._take(messages[start : start + len(deliveries)], deliveries)
            start += len(deliveries)

    def _take(self, messages: list[Received], deliveries: list[Delivery]) -> None:
        process = self.pipeline.process
        metrics = self.metrics
        submissions: list[tuple[list[Point], DoneCallback]] = []
        skipped: list[Delivery] = []
        decoded = 0
        for (topic, payload, _, _), delivery in zip(messages, deliveries, strict=True):
            # Its own received time: a dead letter without an event time is stamped with it,
            # and two sharing one would overwrite each other in InfluxDB.
            outcome = process(topic, payload)
            if isinstance(outcome, Skipped):
                metrics.skipped.labels(outcome.reason).inc()
                log.debug("event=skipped reason=%s topic=%s", outcome.reason, topic)
                skipped.append(delivery)
                continue
            if isinstance(outcome, Decoded):
                decoded += 1
                metrics.count_decoded(outcome)
            else:
                # One line per dead letter only at DEBUG: `serve` logs a summary a minute.
                log.debug("event=dead_letter reason=%s topic=%s", outcome.reason, topic)
            # A decoded uplink's dead letter (were InfluxDB to refuse its points) carries the
            # payload from the event: the raw message need not be held while in flight.
            raw = b"" if isinstance(outcome, Decoded) else payload
            submissions.append((outcome.points, _Taken(self, outcome, topic, raw, delivery)))
        metrics.received.inc(len(deliveries))
        if decoded:
            metrics.decoded.inc(decoded)
        if submissions:
            self.writer.submit_many(submissions)
        if skipped:
            self.delivery.resolve_many(skipped)

    # -- writer thread ---------------------------------------------------------------

    def _batch_end(self) -> None:
        """The writer called back a batch: hand on what is stored, publish, acknowledge."""
        done, self._done = self._done, []
        if not done:
            return
        stored: list[Point] = []
        feed: list[tuple[str, bytes]] = []
        resolved: list[Delivery] = []
        written = 0
        publish = self.bridge_settings.publish_readings
        for taken, error in done:
            outcome = taken.outcome
            if error is not None:
                if self._refused(taken, error):
                    resolved.append(taken.delivery)
                continue
            stored += outcome.points
            resolved.append(taken.delivery)
            if isinstance(outcome, DeadLettered):
                self.metrics.dead_lettered.labels(outcome.reason).inc()
                self.dead_letters[outcome.reason] += 1
            else:
                written += 1
                if publish and outcome.readings:
                    feed.append(feed_message(outcome))
        if stored and self.on_stored is not None:
            try:
                self.on_stored(stored)
            except Exception:
                log.exception("event=on_stored_failed points=%d", len(stored))
        if written:
            self.metrics.written.inc(written)
        if feed:
            self.client.publish_many(feed)
            self.metrics.published.inc(len(feed))
        self.delivery.resolve_many(resolved)

    def _refused(self, taken: _Taken, error: PermanentSinkError) -> bool:
        """InfluxDB refused the points: a dead letter in their place; True if the message is done."""
        outcome, topic, payload = taken.outcome, taken.topic, taken.payload
        if isinstance(outcome, DeadLettered):
            # Even the dead letter was refused: the log line is the last record of it.
            log.error(
                "event=dead_letter_refused reason=%s error=%r topic=%s payload_hex=%s",
                outcome.reason,
                str(error),
                topic,
                payload.hex(),
            )
            self.metrics.dead_letter_refused.labels(outcome.reason).inc()
            self.dead_letters[f"refused-{outcome.reason}"] += 1
            return True
        log.warning("event=points_refused error=%r topic=%s", str(error), topic)
        point = dead_letter(error, topic, payload, time.time_ns(), outcome.uplink, outcome.device)
        refused = DeadLettered([point], error.code, outcome.uplink, outcome.device)
        again = _Taken(self, refused, topic, payload, taken.delivery)
        self.writer.submit(refused.points, again)
        return False


#: Seconds between the INFO summaries of dead letters (each one is logged at DEBUG).
DEAD_LETTER_SUMMARY_INTERVAL = 60.0


def _summarise_dead_letters(bridge: Bridge) -> None:
    if not bridge.dead_letters:
        return
    taken, bridge.dead_letters = bridge.dead_letters, Counter()
    log.info(
        "event=dead_letters count=%d reasons=%s",
        sum(taken.values()),
        ",".join(f"{reason}:{n}" for reason, n in sorted(taken.items())),
    )


def batch_size_for(influx: InfluxSettings, mqtt_settings: MqttSettings) -> int:
    """Points per write, capped by the in-flight window.

    The broker sends at most ``max_in_flight`` unacknowledged messages (each at
    least one point); a batch larger than that would only go out after
    ``flush_interval``, capping throughput at ``max_in_flight / flush_interval``.
    """
    return max(1, min(influx.batch_size, mqtt_settings.max_in_flight))


def check_influx(sink: InfluxSink, influx: InfluxSettings) -> None:
    """Refuse to start against an InfluxDB that will never take our writes.

    Creates the database when settings allow, then writes nothing (see
    ``InfluxSink.check``). A misconfiguration (credentials, a database that
    does not exist and may not be created, a server that is not InfluxDB)
    raises ``ConfigError`` naming it; an unreachable InfluxDB is an outage,
    logged and ridden out like any other.
    """
    try:
        sink.ensure_database()
        sink.check()
    except MisconfiguredSinkError as exc:
        raise ConfigError(
            f"InfluxDB at {influx.url} will not take the bridge's writes: {exc}"
        ) from exc
    except SinkError as exc:
        log.warning(
            "event=influx_unreachable_at_start error=%r note=%r", str(exc), "retried on write"
        )


def preflight(influx: InfluxSettings) -> None:
    """``check_influx`` on a sink of its own: a supervisor's check before it starts workers."""
    sink = make_sink(influx)
    try:
        check_influx(sink, influx)
    finally:
        sink.close()


#: Points older than this when stored are late (history frames, a spool, a slow network
#: server): their state and the hours they touched are committed before their acknowledgements.
LATE_POINT_NS = 300 * 1_000_000_000


class StateKeeper:
    """The device state's part of the write path (``storage.state.DeviceState``).

    Every stored batch is observed in memory; ``commit`` writes what was observed and is
    called at least once a second by the bridge's main loop. A batch holding a late
    point commits the hours it touched (a few rows, for the rollup job) at once, before that batch's
    acknowledgements. Committing every batch cost a fifth of the bridge's CPU at 10,000
    uplinks/s (``bench.e2e``, py-spy); once a second the upsert writes each device
    once, however many batches it was in. A crash loses at most the last second of
    state (InfluxDB has the points; the device's next uplink, or ``leedswin migrate
    device-state``, mends it), never the hours late data touched. Spooled segments
    replayed into InfluxDB mark their hours.
    """

    def __init__(self, state: DeviceState, writer: BatchWriter, then: StoredCallback | None):
        self.state = state
        self._then = then
        writer.set_replayed(state.mark_replayed)

    def on_stored(self, points: list[Point]) -> None:
        self.state.observe(points)
        try:
            late = time.time_ns() - LATE_POINT_NS
            if any(p.time_ns < late for p in points):
                self.state.commit(rows=False)
        finally:
            if self._then is not None:
                self._then(points)

    def commit(self) -> None:
        try:
            self.state.commit()
        except Exception:
            log.exception("event=device_state_commit_failed note='kept for the next commit'")


def serve(
    mqtt_settings: MqttSettings,
    influx: InfluxSettings,
    bridge_settings: BridgeSettings,
    stop: threading.Event,
    registry: CollectorRegistry | None = None,
    drain_timeout: float = 30.0,
    ready: threading.Event | None = None,
    on_stored: StoredCallback | None = None,
    state_registry: Path | None = None,
) -> bool:
    """Run the bridge until ``stop`` is set; True if every message taken was stored and acked.

    ``ready`` is set once the broker has confirmed the subscriptions (and
    cleared while reconnecting), for callers that must not publish earlier.
    ``on_stored`` is ``Bridge``'s seam (``StoredCallback``). With ``state_registry``
    (the API's SQLite registry) each stored batch updates the devices' state there
    (``storage.state.DeviceState``: newest values and last seen, read by
    ``/v1/devices`` and ``/v1/latest``) before its messages are acknowledged.
    """
    registry = CollectorRegistry() if registry is None else registry
    metrics = BridgeMetrics(registry)
    writer_metrics = WriterMetrics(registry)
    catalog = ModelCatalog(bridge_settings.models_dir)
    install(catalog)
    devices = DeviceRegistry(bridge_settings.device_registry, known_model=catalog.is_known)
    spool = None
    if bridge_settings.spool_dir is not None:
        spool = Spool(bridge_settings.spool_dir, bridge_settings.spool_max_bytes, writer_metrics)
    sink = make_sink(influx)
    try:
        check_influx(sink, influx)
    except ConfigError:
        sink.close()
        raise
    writer = BatchWriter(
        sink,
        batch_size=batch_size_for(influx, mqtt_settings),
        flush_interval=influx.flush_interval,
        max_retry_delay=influx.max_retry_delay,
        metrics=writer_metrics,
        spool=spool,
        spill_after=bridge_settings.spill_after,
    )
    keeper = None
    if state_registry is not None:
        keeper = StateKeeper(DeviceState(open_registry(state_registry)), writer, on_stored)
        on_stored = keeper.on_stored
    bridge = Bridge(
        mqtt_settings,
        bridge_settings,
        Pipeline(Resolver(devices, models=resolver_models(catalog))),
        writer,
        metrics,
        ready=ready,
        on_stored=on_stored,
    )
    health = None
    if bridge_settings.metrics_port is not None:
        readiness = Readiness(
            connected=lambda: bridge.wait_connected(0),
            writes_failing=lambda: not writer.healthy and writer.pending > 0,
            ping=sink.ping,
            problem=lambda: writer.problem,
        )
        health = HealthServer(bridge_settings.metrics_port, registry, readiness)
        health.start()
    log.info(
        "event=bridge_starting mqtt=%s influx=%s database=%s client_id=%s max_in_flight=%d "
        "devices=%d spool=%s spool_max_bytes=%d",
        mqtt_settings.url,
        influx.url,
        influx.bucket or influx.database,
        mqtt_settings.client_id,
        mqtt_settings.max_in_flight,
        len(devices),
        bridge_settings.spool_dir,
        bridge_settings.spool_max_bytes,
    )
    bridge.start()
    try:
        next_summary = time.monotonic() + DEAD_LETTER_SUMMARY_INTERVAL
        while not stop.wait(1.0):
            if keeper is not None:
                keeper.commit()
            if time.monotonic() >= next_summary:
                next_summary += DEAD_LETTER_SUMMARY_INTERVAL
                _summarise_dead_letters(bridge)
    finally:
        drained = bridge.stop(drain_timeout)
        writer.close(drain_timeout)
        if keeper is not None:
            keeper.commit()
        sink.close()
        if spool is not None:
            spool.close()
        if health is not None:
            health.close()
    _summarise_dead_letters(bridge)
    log.info("event=bridge_stopped drained=%s", drained)
    return drained

"""Prometheus metrics of the bridge, on a registry the caller owns (no global state).

``received - acked`` that keeps growing, or ``in_flight`` stuck at the
Receive Maximum, is a stalled store; ``dead_lettered`` by reason says which
devices or formats are broken.

No metric is labelled by device or privacy: a count split by home and public
(or per home device) would tell anyone who can scrape ``/metrics`` when
someone's sensor reports. Labels are error codes and field names only.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

from gateway_bridge.pipeline import Decoded


class BridgeMetrics:
    """Counters from MQTT receipt to acknowledgement."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.received = Counter(
            "leedswin_bridge_received", "MQTT messages received", registry=registry
        )
        self.decoded = Counter(
            "leedswin_bridge_decoded", "Uplinks decoded into readings", registry=registry
        )
        self.written = Counter(
            "leedswin_bridge_written",
            "Uplinks whose reading points InfluxDB accepted",
            registry=registry,
        )
        self.dead_lettered = Counter(
            "leedswin_bridge_dead_lettered",
            "Messages stored as dead letters, by error code",
            ["reason"],
            registry=registry,
        )
        self.dead_letter_refused = Counter(
            "leedswin_bridge_dead_letter_refused",
            "Dead letters InfluxDB refused too (acknowledged; only a log line keeps the message), "
            "by error code",
            ["reason"],
            registry=registry,
        )
        self.skipped = Counter(
            "leedswin_bridge_skipped",
            "Messages acknowledged without storing anything (MAC-only frames, simulated uplinks)",
            ["reason"],
            registry=registry,
        )
        self.in_flight = Gauge(
            "leedswin_bridge_in_flight",
            "Messages received and not yet resolved (bounded by the Receive Maximum)",
            registry=registry,
        )
        self.acked = Counter(
            "leedswin_bridge_acked", "MQTT messages acknowledged to the broker", registry=registry
        )
        self.connected = Gauge(
            "leedswin_bridge_connected",
            "1 while subscribed on the broker, 0 while (re)connecting",
            registry=registry,
        )
        self.published = Counter(
            "leedswin_bridge_published",
            "Readings republished on the live feed",
            registry=registry,
        )
        self.history_frames = Counter(
            "leedswin_bridge_history_frames",
            "Frames of readings written at their own time (device clock or age), not the uplink's",
            registry=registry,
        )
        self.withheld = Counter(
            "leedswin_bridge_withheld",
            "Values kept out of the readings (outside the field's physical range, or a frame "
            "time that cannot be placed) and stored as device status, by field",
            ["field"],
            registry=registry,
        )
        self.status_uplinks = Counter(
            "leedswin_bridge_status_uplinks",
            "Decoded uplinks that carried device status (firmware, settings, alarms)",
            registry=registry,
        )
        self.unknown_parts = Counter(
            "leedswin_bridge_unknown_parts",
            "Parts of payloads the decoder did not decode, stored as device status",
            registry=registry,
        )
        self.clock_corrections = Counter(
            "leedswin_bridge_clock_corrections",
            "Uplinks whose device clock was not believable (before 2020, or more than 10 minutes "
            "after the uplink), re-anchored at the uplink time",
            registry=registry,
        )

    def count_decoded(self, outcome: Decoded) -> None:
        """Count what one decoded uplink carried besides readings (``decoded`` is counted per batch)."""
        if outcome.history_frames:
            self.history_frames.inc(outcome.history_frames)
        for name in outcome.withheld:
            self.withheld.labels(name).inc()
        if outcome.status:
            self.status_uplinks.inc()
        if outcome.unknown_parts:
            self.unknown_parts.inc(outcome.unknown_parts)
        if outcome.clock_corrected:
            self.clock_corrections.inc()

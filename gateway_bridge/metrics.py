"""Prometheus metrics of the bridge, on a registry the caller owns (no global state).

``received - acked`` that keeps growing, or ``in_flight`` stuck at the
Receive Maximum, is a stalled store; ``dead_lettered`` by reason says which
devices or formats are broken.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge


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
        self.skipped = Counter(
            "leedswin_bridge_skipped",
            "Messages acknowledged without storing anything (MAC-only frames)",
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

"""Prometheus metrics of one API instance, in its own registry (several apps can share a process).

Nothing here splits by home/public or counts home readings: the live-feed
counters see public readings only, so they say nothing about homes.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest


class ApiMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "leedswin_api_requests",
            "HTTP requests by route and status",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "leedswin_api_request_seconds",
            "HTTP request latency by route",
            ["route"],
            registry=self.registry,
        )
        self.auth_failures = Counter(
            "leedswin_api_auth_failures",
            "Requests with a missing or bad key",
            registry=self.registry,
        )
        self.rate_limited = Counter(
            "leedswin_api_rate_limited", "Requests refused with 429", registry=self.registry
        )
        self.live_clients = Gauge(
            "leedswin_api_live_clients", "Connected live-feed clients", registry=self.registry
        )
        self.live_messages = Counter(
            "leedswin_api_live_messages",
            "Public readings received from MQTT",
            registry=self.registry,
        )
        self.live_dropped = Counter(
            "leedswin_api_live_dropped",
            "Public readings dropped for a slow live client (queue full)",
            registry=self.registry,
        )
        self.live_bad = Counter(
            "leedswin_api_live_bad_messages",
            "Messages on the public reading topics that could not be parsed",
            registry=self.registry,
        )

        self.errors = Counter(
            "leedswin_api_errors",
            "Requests that failed with an unexpected error (answered 500)",
            registry=self.registry,
        )
        self.streams_closed = Counter(
            "leedswin_api_live_streams_closed",
            "Live streams the server ended, by reason (revoked key, shutdown)",
            ["reason"],
            registry=self.registry,
        )
        self.refused = Counter(
            "leedswin_api_refused",
            "Requests refused before routing, by reason (too large, too many bad keys)",
            ["reason"],
            registry=self.registry,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)

"""Prometheus metrics of the storage writer, on a registry the caller owns (no global state)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["WriterMetrics"]


class WriterMetrics:
    """What an operator needs to see a stuck or lossy writer: throughput, latency, retries, refusals."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.points_written = Counter(
            "leedswin_storage_points_written",
            "Points InfluxDB accepted",
            registry=registry,
        )
        self.batches = Counter(
            "leedswin_storage_batches",
            "Write requests InfluxDB accepted",
            registry=registry,
        )
        self.write_seconds = Histogram(
            "leedswin_storage_write_seconds",
            "Duration of one write request, successful or not",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=registry,
        )
        self.retries = Counter(
            "leedswin_storage_retries",
            "Write requests that failed and will be tried again",
            registry=registry,
        )
        self.rejected_points = Counter(
            "leedswin_storage_rejected_points",
            "Points InfluxDB permanently refused (reported to their submitter)",
            registry=registry,
        )
        self.pending_points = Gauge(
            "leedswin_storage_pending_points",
            "Points submitted and not yet accepted or refused",
            registry=registry,
        )

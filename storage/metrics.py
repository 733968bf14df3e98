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
        self.spilled_batches = Counter(
            "leedswin_storage_spilled_batches",
            "Batches moved to the on-disk spool while InfluxDB failed (their messages then acked)",
            registry=registry,
        )
        self.spilled_points = Counter(
            "leedswin_storage_spilled_points",
            "Points moved to the on-disk spool",
            registry=registry,
        )
        self.drained_batches = Counter(
            "leedswin_storage_drained_batches",
            "Spooled batches InfluxDB accepted later (then deleted from disk)",
            registry=registry,
        )
        self.drained_points = Counter(
            "leedswin_storage_drained_points",
            "Spooled points InfluxDB accepted later",
            registry=registry,
        )
        self.spool_bytes = Gauge(
            "leedswin_storage_spool_bytes",
            "Bytes of batches waiting in the on-disk spool",
            registry=registry,
        )
        self.spool_segments = Gauge(
            "leedswin_storage_spool_segments",
            "Batches waiting in the on-disk spool",
            registry=registry,
        )
        self.spool_full = Gauge(
            "leedswin_storage_spool_full",
            "1 while a batch waits for room in a full spool (its messages stay unacknowledged)",
            registry=registry,
        )
        self.spool_quarantined = Counter(
            "leedswin_storage_spool_quarantined",
            "Spool segments that failed their checksum and were moved aside",
            registry=registry,
        )
        self.healthy = Gauge(
            "leedswin_storage_healthy",
            "1 while InfluxDB writes succeed, 0 from a failed write until the next success",
            registry=registry,
        )

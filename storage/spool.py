"""A bounded on-disk buffer of line-protocol batches, for InfluxDB outages longer than the broker's queue.

Why it exists: the broker keeps our unacknowledged messages only up to its
``max_queued_messages``; past that it drops them silently. While InfluxDB is
down the batch writer moves batches here instead, and acknowledges their
messages once they are on disk, so the broker's queue stays short.

Guarantees:

- A segment is complete or absent: written to ``*.tmp``, fsynced, renamed,
  directory fsynced. A ``*.tmp`` found at start is a write that never
  finished; its messages were never acknowledged (the broker redelivers
  them), so it is deleted.
- Segments survive a restart: they are found at start and replayed oldest
  first. A segment is deleted only once InfluxDB accepted it.
- Bounded: ``append`` refuses a batch that would take the spool past
  ``max_bytes`` (``LEEDSWIN_BRIDGE_SPOOL_MAX_BYTES``, default 256 MiB), and
  the writer then holds the batch unacknowledged instead: never drop.
- A segment that fails its header or CRC check (disk trouble, a hand edit) is
  moved to ``quarantine/`` with an error log and a count; it never stops the spool.
- One process per directory, enforced by an exclusive ``flock``.
"""

from __future__ import annotations

import builtins
import fcntl
import logging
import os
import struct
import threading
import zlib
from pathlib import Path
from typing import NamedTuple

from core.errors import ConfigError
from storage.metrics import WriterMetrics

__all__ = ["Segment", "Spool"]

log = logging.getLogger(__name__)

_MAGIC = b"LWSPOOL1"
#: magic, body length, line count, CRC-32 of the body
_HEADER = struct.Struct(">8sQII")
_SUFFIX = ".lp"


class Segment(NamedTuple):
    """One spooled batch: its file, its line protocol and how many points it holds."""

    path: Path
    body: bytes
    points: int


class Spool:
    """Segments ``<seq>.lp`` in one directory; all methods are thread-safe."""

    def __init__(
        self, directory: Path, max_bytes: int, metrics: WriterMetrics | None = None
    ) -> None:
        if max_bytes < 1:
            raise ValueError("max_bytes must be positive")
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self._metrics = metrics
        self._lock = threading.Lock()
        self.directory.mkdir(parents=True, exist_ok=True)
        self._lock_file = open(self.directory / ".lock", "a+b")  # noqa: SIM115 - held for life
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            self._lock_file.close()
            raise ConfigError(f"spool {self.directory} is in use by another process") from exc
        for stale in self.directory.glob("*.tmp"):
            log.warning("event=spool_partial_segment_removed path=%s", stale)
            stale.unlink(missing_ok=True)
        self._sizes: dict[Path, int] = {
            path: path.stat().st_size for path in self.directory.glob(f"*{_SUFFIX}")
        }
        self._bytes = sum(self._sizes.values())
        self._next = 1 + max((self._seq(path) for path in self._sizes), default=0)
        if self._sizes:
            log.info(
                "event=spool_found segments=%d bytes=%d dir=%s",
                len(self._sizes),
                self._bytes,
                self.directory,
            )
        self._report()

    @staticmethod
    def _seq(path: Path) -> int:
        try:
            return int(path.stem)
        except ValueError:
            return 0

    @property
    def bytes(self) -> int:
        """Bytes of complete segments on disk."""
        return self._bytes

    @property
    def segments(self) -> int:
        return len(self._sizes)

    def __len__(self) -> int:
        return len(self._sizes)

    # ``builtins.bytes``: inside this class ``bytes`` names the property above.
    def append(self, body: builtins.bytes, points: int) -> bool:
        """Store a batch durably; False (nothing written) if it would exceed ``max_bytes``."""
        data = _HEADER.pack(_MAGIC, len(body), points, zlib.crc32(body)) + body
        with self._lock:
            if self._bytes + len(data) > self.max_bytes:
                return False
            seq = self._next
            self._next += 1
            final = self.directory / f"{seq:020d}{_SUFFIX}"
            temp = final.with_suffix(".tmp")
            with open(temp, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp, final)
            self._fsync_dir()
            self._sizes[final] = len(data)
            self._bytes += len(data)
        self._report()
        return True

    def oldest(self) -> Segment | None:
        """The oldest readable segment; unreadable ones on the way are quarantined."""
        while True:
            with self._lock:
                if not self._sizes:
                    return None
                path = min(self._sizes, key=self._seq)
            try:
                data = path.read_bytes()
                magic, length, points, crc = _HEADER.unpack_from(data)
                body = data[_HEADER.size :]
                if magic != _MAGIC or length != len(body) or zlib.crc32(body) != crc:
                    raise ValueError("bad header or checksum")
            except (OSError, ValueError, struct.error) as exc:
                self._quarantine(path, exc)
                continue
            return Segment(path, body, points)

    def remove(self, segment: Segment) -> None:
        """Delete a segment InfluxDB has accepted."""
        with self._lock:
            size = self._sizes.pop(segment.path, None)
            if size is None:
                return
            self._bytes -= size
            segment.path.unlink(missing_ok=True)
        self._report()

    def close(self) -> None:
        self._lock_file.close()

    def _quarantine(self, path: Path, error: Exception) -> None:
        target = self.directory / "quarantine"
        target.mkdir(exist_ok=True)
        with self._lock:
            size = self._sizes.pop(path, 0)
            self._bytes -= size
            try:
                os.replace(path, target / path.name)
            except OSError:
                path.unlink(missing_ok=True)
        log.error(
            "event=spool_segment_quarantined path=%s error=%r moved_to=%s",
            path,
            str(error),
            target,
        )
        if self._metrics:
            self._metrics.spool_quarantined.inc()
        self._report()

    def _fsync_dir(self) -> None:
        fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def _report(self) -> None:
        if self._metrics:
            self._metrics.spool_bytes.set(self._bytes)
            self._metrics.spool_segments.set(len(self._sizes))

"""Spool: durable, bounded, oldest first, survives a restart, quarantines what it cannot read."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from core.errors import ConfigError
from storage.metrics import WriterMetrics
from storage.spool import Spool


def test_segments_come_back_oldest_first_and_survive_a_restart(tmp_path: Path) -> None:
    spool = Spool(tmp_path, 1 << 20)
    for i in range(3):
        assert spool.append(f"m f={i} {i}".encode(), 1)
    size = spool.bytes
    spool.close()

    again = Spool(tmp_path, 1 << 20)
    assert (len(again), again.bytes) == (3, size)
    assert again.append(b"m f=3 3", 1)
    bodies = []
    while (segment := again.oldest()) is not None:
        bodies.append(segment.body)
        again.remove(segment)
    assert bodies == [f"m f={i} {i}".encode() for i in range(4)]
    assert (len(again), again.bytes) == (0, 0)
    assert not list(tmp_path.glob("*.lp"))
    again.close()


def test_a_segment_stays_until_removed(tmp_path: Path) -> None:
    spool = Spool(tmp_path, 1 << 20)
    spool.append(b"a", 1)
    first = spool.oldest()
    assert first is not None and spool.oldest() == first
    spool.remove(first)
    spool.remove(first)  # twice is harmless
    assert spool.oldest() is None
    spool.close()


def test_full_spool_refuses_without_writing(tmp_path: Path) -> None:
    registry = CollectorRegistry()
    spool = Spool(tmp_path, 200, WriterMetrics(registry))
    assert spool.append(b"x" * 100, 1)
    assert not spool.append(b"y" * 100, 1)
    assert len(spool) == 1 and spool.bytes <= 200
    assert registry.get_sample_value("leedswin_storage_spool_segments") == 1
    assert registry.get_sample_value("leedswin_storage_spool_bytes") == spool.bytes
    spool.close()


def test_corrupt_and_partial_segments_are_quarantined_not_fatal(tmp_path: Path) -> None:
    spool = Spool(tmp_path, 1 << 20)
    for body in (b"one", b"two", b"three"):
        spool.append(body, 1)
    spool.close()
    paths = sorted(tmp_path.glob("*.lp"))
    paths[0].write_bytes(paths[0].read_bytes()[:-1] + b"X")  # bit rot
    paths[1].write_bytes(paths[1].read_bytes()[:5])  # truncated
    (tmp_path / "00000000000000000009.tmp").write_bytes(b"half a write")

    registry = CollectorRegistry()
    again = Spool(tmp_path, 1 << 20, WriterMetrics(registry))
    assert not list(tmp_path.glob("*.tmp"))
    segment = again.oldest()
    assert segment is not None and segment.body == b"three"
    assert len(again) == 1
    assert registry.get_sample_value("leedswin_storage_spool_quarantined_total") == 2
    assert len(list((tmp_path / "quarantine").iterdir())) == 2
    again.close()


def test_one_process_per_directory(tmp_path: Path) -> None:
    spool = Spool(tmp_path, 1 << 20)
    with pytest.raises(ConfigError):
        Spool(tmp_path, 1 << 20)
    spool.close()
    Spool(tmp_path, 1 << 20).close()

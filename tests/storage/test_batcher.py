"""BatchWriter against a scripted fake sink (unit) and the real influxd (integration)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
from prometheus_client import CollectorRegistry

from core.errors import MisconfiguredSinkError, PermanentSinkError, RetryableSinkError
from core.settings import InfluxSettings
from leedswin.services import LocalInfluxDB
from storage.batcher import BatchWriter
from storage.influx import V1Sink
from storage.metrics import WriterMetrics
from storage.points import Point, make_point, to_line
from tests.conftest import influxql


def point(i: int, value: float | int | str = 1.0, measurement: str = "m") -> Point:
    return make_point(measurement, {"dev_eui": f"d{i % 7}"}, {"f": value}, 1_000_000 + i)


class FakeSink:
    """Records bodies; ``fail`` decides per body whether to raise."""

    def __init__(self, fail: Callable[[bytes, int], Exception | None] | None = None) -> None:
        self.bodies: list[bytes] = []
        self.calls = 0
        self.fail = fail
        self.lock = threading.Lock()

    def write(self, body: bytes) -> None:
        with self.lock:
            self.calls += 1
            calls = self.calls
        error = self.fail(body, calls) if self.fail else None
        if error is not None:
            raise error
        with self.lock:
            self.bodies.append(body)

    @property
    def lines(self) -> list[bytes]:
        return [line for body in self.bodies for line in body.split(b"\n")]

    def ensure_database(self) -> None:
        pass

    def ping(self) -> bool:
        return True

    def close(self) -> None:
        pass


class Done:
    """Collects on_done results in call order."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, PermanentSinkError | None]] = []
        self.threads: set[str] = set()

    def __call__(self, name: str) -> Callable[[PermanentSinkError | None], None]:
        def on_done(error: PermanentSinkError | None) -> None:
            self.threads.add(threading.current_thread().name)
            self.calls.append((name, error))

        return on_done


def writer(sink: FakeSink, **kwargs: float) -> BatchWriter:
    options = {"batch_size": 1000, "flush_interval": 0.02, "max_retry_delay": 0.05} | kwargs
    return BatchWriter(sink, **options)  # type: ignore[arg-type]


def test_batches_by_size_without_waiting_for_the_interval() -> None:
    sink, done = FakeSink(), Done()
    batcher = writer(sink, batch_size=3, flush_interval=60)
    for i in range(7):
        batcher.submit([point(i)], done(str(i)))
    deadline = time.monotonic() + 5
    while len(done.calls) < 6 and time.monotonic() < deadline:
        time.sleep(0.005)
    assert [len(body.split(b"\n")) for body in sink.bodies] == [3, 3]
    assert [name for name, _ in done.calls] == ["0", "1", "2", "3", "4", "5"]
    assert batcher.pending == 1
    assert batcher.flush(5)
    assert [name for name, _ in done.calls] == [str(i) for i in range(7)]
    assert batcher.pending == 0
    assert batcher.close(5)


def test_batches_by_time_and_calls_back_on_the_writer_thread() -> None:
    sink, done = FakeSink(), Done()
    batcher = writer(sink, batch_size=1000, flush_interval=0.2)
    batcher.submit([point(1), point(2)], done("a"))
    batcher.submit([point(3)], done("b"))
    deadline = time.monotonic() + 5
    while len(done.calls) < 2 and time.monotonic() < deadline:
        time.sleep(0.005)
    assert len(sink.bodies) == 1 and len(sink.lines) == 3
    assert done.calls == [("a", None), ("b", None)]
    assert done.threads == {"influx-writer"}
    assert batcher.close(5)


def test_a_submission_split_across_batches_is_called_back_once_after_its_last_point() -> None:
    sink, done = FakeSink(), Done()
    batcher = writer(sink, batch_size=2)
    batcher.submit([point(i) for i in range(5)], done("big"))
    batcher.submit([], done("empty"))
    batcher.submit([point(9)], done("small"))
    assert batcher.flush(5)
    assert [len(body.split(b"\n")) for body in sink.bodies] == [2, 2, 2]
    assert done.calls == [("big", None), ("empty", None), ("small", None)]
    batcher.close(5)


def test_empty_submission_is_called_back_promptly() -> None:
    sink, done = FakeSink(), Done()
    batcher = writer(sink, flush_interval=60)
    batcher.submit([], done("empty"))
    deadline = time.monotonic() + 2
    while not done.calls and time.monotonic() < deadline:
        time.sleep(0.002)
    assert done.calls == [("empty", None)]
    assert sink.calls == 0
    batcher.close(5)


def test_retryable_errors_are_retried_until_written_and_health_follows() -> None:
    registry = CollectorRegistry()
    seen_unhealthy = threading.Event()
    batcher: BatchWriter

    def fail(body: bytes, calls: int) -> Exception | None:
        if calls <= 4:
            if calls > 1 and not batcher.healthy:
                seen_unhealthy.set()
            return RetryableSinkError("503", retry_after=0.01 if calls == 2 else None)
        return None

    sink, done = FakeSink(fail), Done()
    batcher = BatchWriter(
        sink,  # type: ignore[arg-type]
        batch_size=100,
        flush_interval=0.01,
        max_retry_delay=0.02,
        metrics=WriterMetrics(registry),
    )
    batcher.submit([point(1), point(2)], done("a"))
    assert batcher.flush(5)
    assert done.calls == [("a", None)]
    assert seen_unhealthy.is_set() and batcher.healthy
    assert len(sink.lines) == 2
    assert registry.get_sample_value("leedswin_storage_retries_total") == 4
    assert registry.get_sample_value("leedswin_storage_points_written_total") == 2
    assert registry.get_sample_value("leedswin_storage_batches_total") == 1
    assert registry.get_sample_value("leedswin_storage_write_seconds_count") == 5
    assert registry.get_sample_value("leedswin_storage_pending_points") == 0
    batcher.close(5)


def test_auth_refusal_is_retried_not_reported_as_bad_data() -> None:
    def fail(body: bytes, calls: int) -> Exception | None:
        return MisconfiguredSinkError("unauthorized", 401) if calls <= 2 else None

    sink, done = FakeSink(fail), Done()
    batcher = writer(sink)
    batcher.submit([point(1)], done("a"))
    assert batcher.flush(5)
    assert done.calls == [("a", None)]
    batcher.close(5)


def test_refused_point_is_isolated_by_bisection_and_only_its_submission_errs() -> None:
    def fail(body: bytes, calls: int) -> Exception | None:
        return PermanentSinkError("field type conflict", 400) if b'"bad"' in body else None

    registry = CollectorRegistry()
    sink, done = FakeSink(fail), Done()
    batcher = BatchWriter(
        sink,  # type: ignore[arg-type]
        batch_size=1000,
        flush_interval=0.01,
        max_retry_delay=0.05,
        metrics=WriterMetrics(registry),
    )
    batcher.submit([point(i) for i in range(10)], done("good1"))
    batcher.submit([point(10), point(11, "bad"), point(12)], done("mixed"))
    batcher.submit([point(i) for i in range(13, 20)], done("good2"))
    assert batcher.flush(5)
    assert [name for name, _ in done.calls] == ["good1", "mixed", "good2"]
    errors = dict(done.calls)
    assert errors["good1"] is None and errors["good2"] is None
    assert isinstance(errors["mixed"], PermanentSinkError) and errors["mixed"].status == 400
    expected = [to_line(point(i)).encode() for i in range(20) if i != 11]
    assert sorted(set(sink.lines)) == sorted(expected)
    assert registry.get_sample_value("leedswin_storage_rejected_points_total") == 1
    batcher.close(5)


def test_point_without_writable_field_is_refused_without_a_request() -> None:
    sink, done = FakeSink(), Done()
    batcher = writer(sink)
    nan = make_point("m", {"dev_eui": "x"}, {"f": float("nan")}, 5)
    batcher.submit([nan], done("nan"))
    batcher.submit([point(1)], done("ok"))
    assert batcher.flush(5)
    assert done.calls[1] == ("ok", None)
    assert done.calls[0][0] == "nan" and isinstance(done.calls[0][1], PermanentSinkError)
    assert len(sink.lines) == 1
    batcher.close(5)


def test_close_gives_up_on_a_dead_sink_without_calling_back() -> None:
    sink, done = FakeSink(lambda body, calls: RetryableSinkError("down")), Done()
    batcher = writer(sink)
    batcher.submit([point(1)], done("a"))
    assert not batcher.flush(0.2)
    assert not batcher.healthy
    assert batcher.close(0.1) is False
    assert done.calls == []
    with pytest.raises(RuntimeError):
        batcher.submit([point(2)], done("b"))


def test_a_failing_callback_does_not_stop_the_writer() -> None:
    sink, done = FakeSink(), Done()
    batcher = writer(sink)

    def explode(error: PermanentSinkError | None) -> None:
        raise ValueError("callback bug")

    batcher.submit([point(1)], explode)
    batcher.submit([point(2)], done("after"))
    assert batcher.flush(5)
    assert done.calls == [("after", None)]
    batcher.close(5)


def test_concurrent_submitters_lose_nothing() -> None:
    sink, done = FakeSink(), Done()
    batcher = writer(sink, batch_size=50)

    def submit_many(offset: int) -> None:
        for i in range(500):
            batcher.submit([point(offset + i)], done(str(offset + i)))

    threads = [threading.Thread(target=submit_many, args=(k * 1000,)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert batcher.close(10)
    assert len(done.calls) == 2000 and len(sink.lines) == 2000


# --- on the real influxd ------------------------------------------------------


def _count(url: str, db: str, measurement: str = "m") -> int:
    series = influxql(url, db, f'SELECT count("f") FROM "{measurement}"')
    return int(series[0]["values"][0][1]) if series else 0


@pytest.mark.integration
def test_refused_points_on_real_influxd_spare_the_good_ones(
    influxdb: LocalInfluxDB, influx_db: str
) -> None:
    sink = V1Sink(InfluxSettings(url=influxdb.url, database=influx_db))
    sink.ensure_database()
    sink.write(b"stored f=1.0 1")
    done = Done()
    batcher = BatchWriter(sink, batch_size=5000, flush_interval=0.05, max_retry_delay=0.1)
    # conflict against stored data ("partial write") and inside one body (nothing written)
    batcher.submit([point(i, measurement="stored") for i in range(50)], done("good1"))
    batcher.submit(
        [point(50, measurement="stored"), point(51, 7, "stored"), point(52, measurement="stored")],
        done("stored-conflict"),
    )
    batcher.submit([point(i, 2.5, "fresh") for i in range(30)], done("good2"))
    batcher.submit([point(30, 3, "fresh")], done("fresh-conflict"))
    batcher.submit([point(i, 2.5, "fresh") for i in range(31, 40)], done("good3"))
    assert batcher.flush(10)
    assert batcher.close(5)
    sink.close()
    errors = dict(done.calls)
    assert [name for name, _ in done.calls] == [
        "good1",
        "stored-conflict",
        "good2",
        "fresh-conflict",
        "good3",
    ]
    assert errors["good1"] is None and errors["good2"] is None and errors["good3"] is None
    for name in ("stored-conflict", "fresh-conflict"):
        error = errors[name]
        assert isinstance(error, PermanentSinkError) and error.status == 400
        assert "field type conflict" in str(error)
    assert _count(influxdb.url, influx_db, "stored") == 1 + 52
    assert _count(influxdb.url, influx_db, "fresh") == 39


@pytest.mark.integration
def test_outage_holds_points_until_influxd_is_back_then_each_lands_once(tmp_path) -> None:  # type: ignore[no-untyped-def]
    server = LocalInfluxDB(root=tmp_path / "influxd")
    server.start()
    try:
        sink = V1Sink(InfluxSettings(url=server.url, database="outage", timeout=2))
        sink.ensure_database()
        done = Done()
        batcher = BatchWriter(sink, batch_size=100, flush_interval=0.02, max_retry_delay=0.2)
        batcher.submit([point(i) for i in range(10)], done("before"))
        assert batcher.flush(10)
        server.stop()
        for k in range(20):
            batcher.submit([point(100 + 10 * k + j) for j in range(10)], done(f"s{k}"))
        assert not batcher.flush(1.0)
        assert not batcher.healthy
        assert [name for name, _ in done.calls] == ["before"]
        assert batcher.pending == 200
        server.start()
        assert batcher.flush(20)
        assert batcher.healthy
        assert [name for name, _ in done.calls] == ["before"] + [f"s{k}" for k in range(20)]
        assert all(error is None for _, error in done.calls)
        assert _count(server.url, "outage") == 210
        batcher.close(5)
        sink.close()
    finally:
        server.close()


def test_retry_after_is_honoured_up_to_the_cap() -> None:
    stamps: list[float] = []

    def fail(body: bytes, calls: int) -> Exception | None:
        stamps.append(time.monotonic())
        return RetryableSinkError("429", retry_after=0.3) if calls == 1 else None

    sink, done = FakeSink(fail), Done()
    batcher = writer(sink, max_retry_delay=1.0)
    batcher.submit([point(1)], done("a"))
    assert batcher.flush(5)
    assert stamps[1] - stamps[0] >= 0.3
    batcher.close(5)


def test_an_unexpected_sink_exception_is_retried_not_fatal() -> None:
    def fail(body: bytes, calls: int) -> Exception | None:
        return KeyError("sink bug") if calls == 1 else None

    sink, done = FakeSink(fail), Done()
    batcher = writer(sink)
    batcher.submit([point(1)], done("a"))
    assert batcher.flush(5)
    assert done.calls == [("a", None)]
    batcher.close(5)


class Outage:
    """A sink failure switched on and off by the test."""

    def __init__(self) -> None:
        self.down = True

    def __call__(self, body: bytes, calls: int) -> Exception | None:
        return RetryableSinkError("connection refused", None) if self.down else None


def wait_for(check: Callable[[], bool], timeout: float = 5) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def test_long_outage_spills_to_the_spool_calls_back_then_drains_in_order(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from storage.spool import Spool

    outage, done, registry = Outage(), Done(), CollectorRegistry()
    sink = FakeSink(outage)
    metrics = WriterMetrics(registry)
    spool = Spool(tmp_path, 1 << 20, metrics)
    batcher = writer(sink, batch_size=2, spool=spool, spill_after=0.1, metrics=metrics)  # type: ignore[arg-type]
    for i in range(6):
        batcher.submit([point(i)], done(str(i)))
    assert batcher.flush(5)
    assert [name for name, _ in done.calls] == [str(i) for i in range(6)]
    assert all(error is None for _, error in done.calls)
    assert sink.bodies == [] and len(spool) == 3 and not batcher.healthy
    assert registry.get_sample_value("leedswin_storage_spilled_points_total") == 6
    assert registry.get_sample_value("leedswin_storage_retries_total") >= 3

    replayed: list[bytes] = []
    batcher.set_replayed(replayed.append)
    outage.down = False
    batcher.submit([point(6)], done("6"))
    drained = "leedswin_storage_drained_points_total"
    wait_for(lambda: registry.get_sample_value(drained) == 6 and len(sink.lines) == 7)
    # Each segment handed on once InfluxDB took it (the device state marks its hours again).
    assert b"\n".join(replayed).split(b"\n") == [to_line(point(i)).encode() for i in range(6)]
    spooled = [to_line(point(i)).encode() for i in range(6)]
    assert [line for line in sink.lines if line in spooled] == spooled  # oldest first, each once
    assert sink.lines.count(to_line(point(6)).encode()) == 1
    assert len(spool) == 0
    assert registry.get_sample_value("leedswin_storage_spool_bytes") == 0
    assert batcher.healthy
    assert batcher.close(5)
    spool.close()


def test_full_spool_holds_the_batch_without_a_callback(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from storage.spool import Spool

    outage, done, registry = Outage(), Done(), CollectorRegistry()
    sink = FakeSink(outage)
    metrics = WriterMetrics(registry)
    one_batch = 24 + len(f"{to_line(point(0))}\n{to_line(point(1))}")
    spool = Spool(tmp_path, one_batch + 10, metrics)
    batcher = writer(sink, batch_size=2, spool=spool, spill_after=0, metrics=metrics)  # type: ignore[arg-type]
    for i in range(6):
        batcher.submit([point(i)], done(str(i)))
    assert not batcher.flush(0.5)
    assert [name for name, _ in done.calls] == ["0", "1"]  # the first batch fit
    assert registry.get_sample_value("leedswin_storage_spool_full") == 1
    assert batcher.pending == 4

    outage.down = False
    assert batcher.flush(5)
    assert [name for name, _ in done.calls] == [str(i) for i in range(6)]
    wait_for(lambda: len(spool) == 0)
    assert sorted(sink.lines) == sorted(to_line(point(i)).encode() for i in range(6))
    assert registry.get_sample_value("leedswin_storage_spool_full") == 0
    assert batcher.close(5)
    spool.close()


def test_spool_left_from_last_run_drains_at_start_and_refused_lines_are_skipped(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from storage.spool import Spool

    spool = Spool(tmp_path, 1 << 20)
    spool.append(
        b"\n".join([to_line(point(1)).encode(), b"bad line", to_line(point(2)).encode()]), 3
    )
    spool.close()

    def refuse_bad(body: bytes, calls: int) -> Exception | None:
        return PermanentSinkError("partial write", 400) if b"bad" in body else None

    registry = CollectorRegistry()
    sink = FakeSink(refuse_bad)
    metrics = WriterMetrics(registry)
    again = Spool(tmp_path, 1 << 20, metrics)
    batcher = writer(sink, spool=again, metrics=metrics)  # type: ignore[arg-type]
    wait_for(lambda: len(again) == 0)
    assert sorted(sink.lines) == sorted([to_line(point(1)).encode(), to_line(point(2)).encode()])
    assert registry.get_sample_value("leedswin_storage_rejected_points_total") == 1
    assert batcher.close(5)
    again.close()


class PingSink(FakeSink):
    """Unreachable (ping False) until ``up`` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.up = threading.Event()

    def ping(self) -> bool:
        return self.up.is_set()


def test_a_long_backoff_ends_when_an_unreachable_influxdb_answers_again() -> None:
    sink = PingSink()
    writer = BatchWriter(sink, batch_size=10, flush_interval=0.05, max_retry_delay=30)
    threading.Timer(0.6, sink.up.set).start()
    began = time.monotonic()
    writer._wait_to_retry(20.0, wake_on_recovery=True)
    assert time.monotonic() - began < 10  # woke on recovery, not after the 20 s backoff
    writer.close(1)


def test_a_reachable_but_failing_influxdb_keeps_the_full_backoff() -> None:
    sink = PingSink()
    sink.up.set()  # answers pings while writes fail: overload, so back off in full
    writer = BatchWriter(sink, batch_size=10, flush_interval=0.05, max_retry_delay=30)
    began = time.monotonic()
    writer._wait_to_retry(1.2, wake_on_recovery=True)
    assert time.monotonic() - began >= 1.1
    writer.close(1)


def test_submit_many_keeps_order_and_batch_end_follows_each_batch_s_callbacks() -> None:
    sink, done = FakeSink(), Done()
    batcher = writer(sink, batch_size=4)
    ends: list[list[str]] = []
    batcher.set_batch_end(lambda: ends.append([name for name, _ in done.calls]))
    batcher.submit_many([([point(i), point(i + 10)], done(str(i))) for i in range(4)])
    assert batcher.flush(5)
    assert [name for name, _ in done.calls] == ["0", "1", "2", "3"]
    assert [len(body.split(b"\n")) for body in sink.bodies] == [4, 4]
    # the batch end runs after the call backs of its batch, once per batch
    assert ends == [["0", "1"], ["0", "1", "2", "3"]]
    batcher.close(5)


def test_a_failing_batch_end_neither_stops_the_writer_nor_loses_a_callback() -> None:
    sink, done = FakeSink(), Done()
    batcher = writer(sink, batch_size=1)

    def explode() -> None:
        raise RuntimeError("batch end bug")

    batcher.set_batch_end(explode)
    batcher.submit_many([([point(1)], done("a")), ([point(2)], done("b"))])
    assert batcher.flush(5)
    assert [name for name, _ in done.calls] == ["a", "b"]
    batcher.close(5)

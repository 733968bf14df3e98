"""Device state (storage.state): newest wins whatever the commit order, the hours touched for
the rollup job, erasure and reclassification, and agreement with InfluxDB's ``last()`` on the raw data."""

from __future__ import annotations

import random
import sqlite3
import threading
import time
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from core.settings import InfluxSettings
from firmware_sim.publisher import SimOptions, simulate
from gateway_bridge.pipeline import Pipeline
from gateway_bridge.resolve import Resolver
from leedswin.cli import app
from leedswin.services import LocalInfluxDB
from storage.influx import make_sink
from storage.points import Point, encode, make_point
from storage.query import InfluxQL
from storage.registry import open_registry
from storage.state import HOUR_NS, DeviceState, Touched, rows_from_raw

TAGS = {"dev_eui": "a000000000000001", "model": "m", "site": "s", "privacy": "public", "need": "n"}


def _uplink(t: int, **fields: float | int | str) -> Point:
    return make_point("uplink", TAGS, dict(fields), t)


def test_newest_point_wins_whatever_the_order(tmp_path: Path) -> None:
    registry = open_registry(tmp_path / "r.sqlite3")
    first, second = DeviceState(registry), DeviceState(registry)
    first.observe(
        [
            _uplink(200, f_cnt=2, rssi=-80.0),
            _uplink(100, f_cnt=1, snr=5.0, battery_percent=50.0),
            _uplink(300, battery_voltage=3.1),  # a history frame's battery: not "heard"
        ]
    )
    second.observe([_uplink(150, f_cnt=9, rssi=-99.0, note="text is not state")])
    first.commit()
    second.commit()  # older than what is stored: must not overwrite it (SQL enforces it too)
    (row,) = first.rows("uplink", sees_home=False)
    assert row.point == (200, {"f_cnt": 2.0, "rssi": -80.0})
    assert row.fields == {"battery_percent": (100, 50.0), "battery_voltage": (300, 3.1)}


def test_points_at_the_same_time_merge_as_in_influxdb(tmp_path: Path) -> None:
    registry = open_registry(tmp_path / "r.sqlite3")
    state = DeviceState(registry)
    climate = {**TAGS, "need": "damp"}
    state.observe([make_point("climate", climate, {"temperature": 20.0}, 50)])
    state.commit()
    state.observe([make_point("climate", climate, {"relative_humidity": 60.0}, 50)])
    state.commit()
    (row,) = state.rows("climate", sees_home=True)
    assert row.point == (50, {"temperature": 20.0, "relative_humidity": 60.0})


def test_concurrent_commits_keep_the_newest(tmp_path: Path) -> None:
    registry = open_registry(tmp_path / "r.sqlite3")
    times = list(range(1, 401))
    random.Random(3).shuffle(times)

    def worker(part: list[int]) -> None:
        state = DeviceState(registry)
        for t in part:
            state.observe([_uplink(t, f_cnt=t)])
            state.commit()

    threads = [threading.Thread(target=worker, args=(times[i::4],)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    (row,) = DeviceState(registry).fields()
    assert (row.time_ns, row.values) == (400, (("f_cnt", 400.0),))


def test_touched_hours_are_kept_until_claimed(tmp_path: Path) -> None:
    registry = open_registry(tmp_path / "r.sqlite3")
    state = DeviceState(registry)
    now = 500_000 * HOUR_NS + 7
    state.observe(
        [
            _uplink(now, f_cnt=2),
            _uplink(now + 5, f_cnt=3),
            make_point("climate", TAGS, {"temperature": 1.0}, now - HOUR_NS),
        ]
    )
    state.commit()
    # A late history frame two weeks back, committed alone (before its batch's acks).
    state.observe([_uplink(now - 14 * 24 * HOUR_NS, battery_percent=80.0), _uplink(now + 9)])
    state.commit(rows=False)
    assert state.claim_touched() == Touched(
        {
            "uplink": frozenset({now - 7, now - 7 - 14 * 24 * HOUR_NS}),
            "climate": frozenset({now - 7 - HOUR_NS}),
        },
        {},
    )
    assert state.claim_touched() == Touched({}, {})
    state.mark("climate", now)
    assert state.claim_touched() == Touched({}, {"climate": now - 7})


def test_a_failed_commit_keeps_the_hours_for_the_next(tmp_path: Path) -> None:
    registry = open_registry(tmp_path / "r.sqlite3")
    state = DeviceState(registry)
    state.observe([_uplink(3 * HOUR_NS, f_cnt=1)])
    registry.execute("ALTER TABLE rollup_touched RENAME TO away")
    with pytest.raises(sqlite3.OperationalError):
        state.commit()
    registry.execute("ALTER TABLE away RENAME TO rollup_touched")
    state.observe([_uplink(5 * HOUR_NS, f_cnt=2)])
    state.commit()
    assert state.claim_touched().hours == {"uplink": frozenset({3 * HOUR_NS, 5 * HOUR_NS})}
    assert state.fields()[0].time_ns == 5 * HOUR_NS


def test_a_claim_given_back_merges_with_what_came_since(tmp_path: Path) -> None:
    state = DeviceState(open_registry(tmp_path / "r.sqlite3"))
    state.observe([_uplink(2 * HOUR_NS, f_cnt=1)])
    state.commit()
    state.mark("climate", 9 * HOUR_NS + 5)
    claim = state.claim_touched()
    state.observe([_uplink(4 * HOUR_NS, f_cnt=2)])
    state.commit()
    state.mark("climate", 7 * HOUR_NS)
    state.give_back(claim)
    assert state.claim_touched() == Touched(
        {"uplink": frozenset({2 * HOUR_NS, 4 * HOUR_NS})}, {"climate": 7 * HOUR_NS}
    )


def test_a_mark_during_a_run_keeps_the_held_span_from_passing_it(tmp_path: Path) -> None:
    """An erasure marks from hour 5 while the job computes hours 0-10: the job may have read
    the erased points, so its span stops at hour 5 until the next run recomputes from there."""
    state = DeviceState(open_registry(tmp_path / "r.sqlite3"))
    state.claim_touched()
    state.mark("climate", 5 * HOUR_NS + 7)
    state.record_rolled("climate", 0, 10 * HOUR_NS)
    assert state.rolled("climate") == (0, 5 * HOUR_NS)
    state.record_rolled("climate", 6 * HOUR_NS, 10 * HOUR_NS)  # wholly past the mark
    assert state.rolled("climate") == (0, 5 * HOUR_NS)
    assert state.claim_touched().since == {"climate": 5 * HOUR_NS}
    state.record_rolled("climate", 5 * HOUR_NS, 10 * HOUR_NS)  # the next run, no new mark
    assert state.rolled("climate") == (0, 10 * HOUR_NS)
    state.record_rolled("uplink", 0, 10 * HOUR_NS)  # other measurements are not held back
    assert state.rolled("uplink") == (0, 10 * HOUR_NS)


def test_privacy_erasure_and_reclassification(tmp_path: Path) -> None:
    registry = open_registry(tmp_path / "r.sqlite3")
    state = DeviceState(registry)
    home = {**TAGS, "dev_eui": "b000000000000001", "privacy": "home"}
    state.observe([_uplink(10, f_cnt=1), make_point("uplink", home, {"f_cnt": 1}, 20)])
    state.commit()
    assert [r.dev_eui for r in state.rows("uplink", sees_home=False)] == [TAGS["dev_eui"]]
    assert len(state.rows("uplink", sees_home=True)) == 2
    # The registry marks the public-tagged device home: public callers no longer see it.
    assert state.rows("uplink", sees_home=False, hidden={TAGS["dev_eui"]}) == []
    assert state.reclassify(home["dev_eui"], "public") == 1
    assert len(state.rows("uplink", sees_home=False)) == 2
    assert state.forget(home["dev_eui"], 0, 15) == 0  # its row is at 20, outside the range
    assert state.forget(home["dev_eui"]) == 1
    assert [r.dev_eui for r in state.rows("uplink", sees_home=True)] == [TAGS["dev_eui"]]


def test_state_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "r.sqlite3"
    registry = open_registry(path)
    state = DeviceState(registry)
    state.observe([_uplink(10, f_cnt=1)])
    state.commit()
    registry.close()
    assert DeviceState(open_registry(path)).fields()[0].time_ns == 10


@pytest.mark.integration
def test_state_through_the_pipeline_agrees_with_last_on_raw_data(
    tmp_path: Path, influxdb: LocalInfluxDB
) -> None:
    """Uplinks of every model (public and home) through the pipeline, written to InfluxDB in
    batches routed by privacy and observed in shuffled batch order by two state writers, agree
    field by field with ``last()`` over the raw data of both databases; so does the rebuild."""
    stamp = time.time_ns()
    settings = InfluxSettings(
        url=influxdb.url, database=f"state_{stamp}", home_database=f"state_home_{stamp}"
    )
    pipeline = Pipeline(Resolver())
    options = SimOptions(devices=24, uplinks=12, seed=5, start=time.time() - 86_400)
    points = [
        p for topic, body, _ in simulate(options) for p in pipeline.process(topic, body).points
    ]
    sink = make_sink(settings)
    sink.ensure_database()
    batches = [points[i : i + 500] for i in range(0, len(points), 500)]
    for batch in batches:
        sink.write(encode(batch))
    sink.close()
    registry = open_registry(tmp_path / "r.sqlite3")
    writers = (DeviceState(registry), DeviceState(registry))
    order = list(range(len(batches)))
    random.Random(1).shuffle(order)
    for n, index in enumerate(order):
        writers[n % 2].observe(batches[index])
        writers[n % 2].commit()
    with InfluxQL(settings) as client:
        raw = rows_from_raw(
            client, (settings.database, settings.home_db), stamp - 10 * 86_400 * 10**9
        )
    state = writers[0].fields()
    assert {f.privacy for f in state} == {"public", "home"}
    assert state == raw
    writers[0].replace(raw)
    assert writers[0].fields() == raw

    # The upgrade/consistency command: agreement, a lost device found, the rebuild mends it.
    def cli(*args: str) -> Result:
        return CliRunner().invoke(
            app,
            [
                "migrate",
                "device-state",
                *args,
                "--influx-url",
                influxdb.url,
                "--influx-database",
                settings.database,
                "--registry",
                str(tmp_path / "r.sqlite3"),
                "--days",
                "10",
            ],
            env={"LEEDSWIN_INFLUX_HOME_DATABASE": settings.home_db},
        )

    assert cli("--check").exit_code == 0
    writers[0].forget(raw[0].dev_eui)
    assert cli("--check").exit_code == 1
    assert cli().exit_code == 0
    assert cli("--check").exit_code == 0 and writers[0].fields() == raw


def test_spooled_lines_replayed_late_mark_their_hours_again(tmp_path: Path) -> None:
    """Only the replayed lines' hours, and the span the rollups hold stays (as for any late
    point): the next run recomputes those hours, not everything after the earliest."""
    state = DeviceState(open_registry(tmp_path / "r.sqlite3"))
    state.record_rolled("uplink", 0, 20 * HOUR_NS)
    climate = make_point("climate", TAGS, {"temperature": 20.5}, 7 * HOUR_NS + 1)
    body = encode([_uplink(5 * HOUR_NS + 9, f_cnt=1), climate, _uplink(9 * HOUR_NS, f_cnt=2)])
    body += b"\n" + encode([make_point("dead_letter", TAGS, {"error": "x"}, 1)])
    state.mark_replayed(body)
    assert state.claim_touched() == Touched(
        {"uplink": frozenset({5 * HOUR_NS, 9 * HOUR_NS}), "climate": frozenset({7 * HOUR_NS})},
        {},
    )
    assert state.rolled("uplink") == (0, 20 * HOUR_NS)

"""The bridge's device-state keeper: live points committed within a second, late ones before their acks."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from gateway_bridge.service import LATE_POINT_NS, StateKeeper
from storage.points import Point, make_point
from storage.registry import open_registry
from storage.state import HOUR_NS, DeviceState

TAGS = {"dev_eui": "a000000000000001", "model": "m", "site": "s", "privacy": "public", "need": "n"}


class Writer:
    replayed: Any = None

    def set_replayed(self, callback: Any) -> None:
        self.replayed = callback


def _uplink(t: int) -> Point:
    return make_point("uplink", TAGS, {"f_cnt": 1, "rssi": -90.0}, t)


def _rows(path: Path) -> int:
    return int(open_registry(path).execute("SELECT count(*) FROM device_state").fetchone()[0])


def test_rows_wait_for_the_next_commit_and_late_points_mark_their_hours_at_once(
    tmp_path: Path,
) -> None:
    path = tmp_path / "r.sqlite3"
    handed: list[list[Point]] = []
    writer = Writer()
    keeper = StateKeeper(DeviceState(open_registry(path)), writer, handed.append)  # type: ignore[arg-type]
    assert writer.replayed == keeper.state.mark_replayed
    now = time.time_ns()
    keeper.on_stored([_uplink(now)])
    assert _rows(path) == 0 and len(handed) == 1
    keeper.commit()
    assert _rows(path) == 1
    # A late point: its hour at once (before its acks), its row with the next commit.
    late = [_uplink(now - 2 * LATE_POINT_NS)]
    other = DeviceState(open_registry(path))
    other.claim_touched()
    keeper.on_stored(late)
    t = late[0].time_ns
    assert other.claim_touched().hours == {"uplink": frozenset({t - t % HOUR_NS})}
    keeper.on_stored([make_point("climate", TAGS, {"temperature": 20.0}, now)])
    assert _rows(path) == 1
    keeper.commit()
    assert _rows(path) == 2

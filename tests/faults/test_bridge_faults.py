"""The bridge itself killed (SIGKILL) mid-stream: the persistent session redelivers what was
not acknowledged; rewriting a point is harmless (same series and time), so nothing is lost."""

from __future__ import annotations

import pytest

from tests.faults.conftest import Rig
from tests.faults.test_influxdb_faults import per_device
from tests.gateway_bridge.test_bridge_cli import sim, summary, uplink_count, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_bridge_sigkilled_mid_stream_then_restarted_loses_nothing(rig: Rig) -> None:
    bridge = rig.bridge()
    stream = sim(
        rig.mosquitto, "--devices", "50", "--uplinks", "60", "--rate", "3000", "--seed", "61"
    )
    wait_until(lambda: (bridge.metric("leedswin_bridge_acked_total") or 0) >= 300, 20, "flowing")
    bridge.kill()  # no drain, no disconnect: in-flight messages were never acknowledged
    assert bridge.process.returncode == -9
    stored_at_kill = uplink_count(rig.influxdb.url, rig.db)
    restarted = rig.bridge()
    counts = summary(stream)
    assert stored_at_kill < counts["published"] == 3000
    wait_until(lambda: uplink_count(rig.influxdb.url, rig.db) >= 3000, 30, "every uplink")
    assert uplink_count(rig.influxdb.url, rig.db) == 3000
    assert per_device(rig) == {60}
    wait_until(lambda: restarted.metric("leedswin_bridge_in_flight") == 0, 10, "all acked")
    code, output = restarted.terminate()
    assert code == 0, output

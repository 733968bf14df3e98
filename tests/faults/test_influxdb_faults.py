"""InfluxDB faults on real servers: a 30 s kill mid-stream, an outage longer than the broker
will queue (spool, across a bridge restart), and a full spool (acknowledgements stop)."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from tests.conftest import influxql
from tests.faults.conftest import Rig, http_status, scrape
from tests.gateway_bridge.test_bridge_cli import sim, summary, uplink_count, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def per_device(rig: Rig) -> set[int]:
    """Distinct uplink counts per device: ``{n}`` when every device landed exactly n times."""
    series = influxql(
        rig.influxdb.url, rig.db, 'SELECT count("f_cnt") FROM uplink GROUP BY dev_eui'
    )
    return {int(s["values"][0][1]) for s in series}


def test_influxdb_killed_for_30_s_mid_stream_every_uplink_lands_exactly_once(rig: Rig) -> None:
    bridge = rig.bridge()
    assert http_status(bridge) == 200
    stream = sim(
        rig.mosquitto, "--devices", "30", "--uplinks", "50", "--rate", "40", "--seed", "31"
    )
    wait_until(lambda: (bridge.metric("leedswin_bridge_acked_total") or 0) >= 100, 20, "stream")
    rig.influxdb.kill()
    killed = time.monotonic()
    wait_until(lambda: http_status(bridge) == 503, 10, "/readyz 503 while InfluxDB is down")
    time.sleep(2)
    held = bridge.metric("leedswin_bridge_acked_total")
    time.sleep(max(0.0, 30 - (time.monotonic() - killed)))
    during = scrape(bridge)
    assert http_status(bridge, "/healthz") == 200  # alive: an outage is ridden out, not restarted
    assert during["leedswin_bridge_acked_total"] == held  # no ack while nothing is stored
    assert during["leedswin_storage_retries_total"] > 3  # backoff: retried, not spun
    assert during["leedswin_storage_healthy"] == 0
    assert during["leedswin_bridge_in_flight"] > 0
    rig.influxdb.start()
    # The backoff has grown towards its 30 s cap by now; it must end when InfluxDB answers.
    wait_until(lambda: http_status(bridge) == 200, 15, "/readyz 200 once InfluxDB is back")
    assert summary(stream)["published"] == 1500
    wait_until(lambda: uplink_count(rig.influxdb.url, rig.db) >= 1500, 30, "backlog stored")
    assert uplink_count(rig.influxdb.url, rig.db) == 1500
    assert per_device(rig) == {50}
    wait_until(lambda: bridge.metric("leedswin_bridge_in_flight") == 0, 10, "all acked")
    code, output = bridge.terminate()
    assert code == 0, output


def test_outage_longer_than_the_broker_queues_spills_to_disk_and_survives_a_restart(
    rig_factory: Callable[..., Rig], monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    # The broker holds 100 queued + 100 in flight for us; 1,000 uplinks arrive in the outage.
    rig = rig_factory(max_queued_messages=100)
    spool = tmp_path / "spool"
    monkeypatch.setenv("LEEDSWIN_BRIDGE_SPILL_AFTER", "0.5")
    options = ("--max-in-flight", "100", "--spool-dir", str(spool))
    bridge = rig.bridge(*options)
    rig.influxdb.stop()
    first = summary(sim(rig.mosquitto, "--devices", "5", "--uplinks", "2", "--seed", "41"))
    wait_until(
        lambda: bridge.metric("leedswin_bridge_acked_total") == first["messages"], 15, "spilled"
    )
    rest = summary(
        sim(rig.mosquitto, "--devices", "20", "--uplinks", "50", "--rate", "1000", "--seed", "42")
    )
    total = first["messages"] + rest["messages"]
    assert total == 1010
    wait_until(
        lambda: bridge.metric("leedswin_bridge_acked_total") == total, 20, "all durable and acked"
    )
    metrics = scrape(bridge)
    assert metrics["leedswin_storage_spilled_points_total"] > 0
    assert metrics["leedswin_storage_points_written_total"] == 0
    assert metrics["leedswin_storage_spool_bytes"] > 0
    assert http_status(bridge) == 503
    code, output = bridge.terminate()
    assert code == 0 and "drained=True" in output, output
    assert list(spool.glob("*.lp")), "segments stay on disk across the restart"

    rig.influxdb.start()
    restarted = rig.bridge(*options)
    wait_until(lambda: uplink_count(rig.influxdb.url, rig.db) >= total, 30, "spool drained")
    wait_until(lambda: restarted.metric("leedswin_storage_spool_bytes") == 0, 10, "spool empty")
    assert uplink_count(rig.influxdb.url, rig.db) == total
    assert sorted(per_device(rig)) == [2, 50]  # 5 devices × 2, 20 devices × 50 (seeds overlap)
    assert not list(spool.glob("*.lp"))
    code, output = restarted.terminate()
    assert code == 0, output


def test_full_spool_stops_acknowledging_and_drops_nothing(
    rig: Rig, monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("LEEDSWIN_BRIDGE_SPILL_AFTER", "0")
    spool = tmp_path / "spool"
    bridge = rig.bridge(
        "--max-in-flight", "200", "--spool-dir", str(spool), "--spool-max-bytes", str(1 << 20)
    )
    rig.influxdb.stop()
    counts = summary(sim(rig.mosquitto, "--devices", "60", "--uplinks", "100", "--seed", "51"))
    assert counts["messages"] == 6000
    wait_until(lambda: bridge.metric("leedswin_storage_spool_full") == 1, 30, "spool full")
    before = scrape(bridge)
    time.sleep(1.5)
    after = scrape(bridge)
    acked = after["leedswin_bridge_acked_total"]
    assert acked == before["leedswin_bridge_acked_total"] < 6000  # acknowledgements stopped
    # Held, not dropped: unacknowledged in the bridge, the rest still queued in the broker.
    assert after["leedswin_bridge_in_flight"] == after["leedswin_bridge_received_total"] - acked > 0
    assert after["leedswin_storage_spool_bytes"] <= 1 << 20

    rig.influxdb.start()
    wait_until(lambda: uplink_count(rig.influxdb.url, rig.db) >= 6000, 60, "all stored")
    wait_until(lambda: bridge.metric("leedswin_storage_spool_bytes") == 0, 20, "spool drained")
    assert uplink_count(rig.influxdb.url, rig.db) == 6000
    assert per_device(rig) == {100}
    code, output = bridge.terminate()
    assert code == 0, output

"""Aggregates computed by InfluxDB equal the same statistic computed by numpy from the raw points."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime

import numpy as np
import pytest

from tests.api.conftest import DEVICES, STEP_NS, ApiHarness

pytestmark = pytest.mark.integration

EVERY_NS = 15 * STEP_NS


def p95(values: np.ndarray) -> float:
    """InfluxDB 1.x PERCENTILE: nearest rank, index floor(n * p / 100 + 0.5) - 1 of the sorted values."""
    ordered = np.sort(values)
    return float(ordered[int(np.floor(len(ordered) * 95 / 100 + 0.5)) - 1])


NUMPY: dict[str, Callable[[np.ndarray], float]] = {
    "mean": lambda v: float(np.mean(v)),
    "min": lambda v: float(np.min(v)),
    "max": lambda v: float(np.max(v)),
    "count": lambda v: float(v.size),
    "median": lambda v: float(np.median(v)),
    "p95": p95,
}


def _iso(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, tz=UTC).isoformat()


def expected(
    api: ApiHarness, devices: list[str], quantity: str, fn: str, start: int, end: int
) -> dict[int, float]:
    """Bucket start (ns, aligned to the epoch like GROUP BY time) -> statistic over ``devices``."""
    buckets: dict[int, list[np.ndarray]] = defaultdict(list)
    for dev_eui in devices:
        times, values = api.data.series[dev_eui][quantity]
        inside = (times >= start) & (times < end)
        for bucket in np.unique(times[inside] // EVERY_NS * EVERY_NS):
            chosen = inside & (times // EVERY_NS * EVERY_NS == bucket)
            buckets[int(bucket)].append(values[chosen])
    return {bucket: NUMPY[fn](np.concatenate(parts)) for bucket, parts in buckets.items()}


def actual(series: dict[str, object]) -> dict[int, float]:
    return {
        int(datetime.fromisoformat(p["time"]).timestamp()) * 1_000_000_000: p["value"]  # type: ignore[index]
        for p in series["data"]  # type: ignore[attr-defined]
    }


@pytest.mark.parametrize("fn", list(NUMPY))
@pytest.mark.parametrize("quantity", ["temperature", "relative_humidity"])
def test_by_device_matches_numpy(api: ApiHarness, fn: str, quantity: str) -> None:
    # Start mid-bucket so the first bucket is partial, as real requests are.
    start = api.data.first_ns + 7 * STEP_NS
    end = api.data.last_ns + STEP_NS
    body = api.get(
        "/v1/aggregates",
        "housing",
        quantity=quantity,
        fn=fn,
        every="15m",
        group_by="device",
        start=_iso(start),
        end=_iso(end),
    ).json()
    assert {s["group"] for s in body["data"]} == {d.dev_eui for d in DEVICES}
    for series in body["data"]:
        want = expected(api, [series["group"]], quantity, fn, start, end)
        got = actual(series)
        assert got.keys() == want.keys()
        for bucket, value in want.items():
            assert got[bucket] == pytest.approx(value, rel=1e-9), (series["group"], bucket)


@pytest.mark.parametrize("fn", ["mean", "count", "max", "p95"])
@pytest.mark.parametrize("scope", ["public", "housing"])
def test_by_site_matches_numpy_over_the_devices_the_key_may_see(
    api: ApiHarness, fn: str, scope: str
) -> None:
    start, end = api.data.first_ns, api.data.last_ns + STEP_NS
    body = api.get(
        "/v1/aggregates",
        scope,
        quantity="temperature",
        fn=fn,
        every="15m",
        group_by="site",
        start=_iso(start),
        end=_iso(end),
    ).json()
    visible = [d for d in DEVICES if scope == "housing" or d.privacy == "public"]
    assert {s["group"] for s in body["data"]} == {d.site for d in visible}
    for series in body["data"]:
        members = [d.dev_eui for d in visible if d.site == series["group"]]
        want = expected(api, members, "temperature", fn, start, end)
        got = actual(series)
        assert got.keys() == want.keys()
        for bucket, value in want.items():
            assert got[bucket] == pytest.approx(value, rel=1e-9), (series["group"], bucket)


def test_every_decoder_field_is_a_queryable_quantity(api: ApiHarness) -> None:
    """``pm4_0`` and the other non-canonical fields are accepted, read from where they are stored."""
    from api.scoped import FIELD_MEASUREMENT
    from decoders.registry import SPECS

    emitted = {f.name for spec in SPECS for f in spec.fields}
    assert emitted <= FIELD_MEASUREMENT.keys()
    assert FIELD_MEASUREMENT["pm4_0"] == "air_quality"
    assert FIELD_MEASUREMENT["battery_low"] == "uplink"
    response = api.get("/v1/aggregates", "public", quantity="pm4_0", fn="mean", every="1h")
    assert response.status_code == 200, response.text
    assert response.json()["data"] == []
    assert api.get("/v1/aggregates", "public", quantity="pm4_1", fn="mean").status_code == 422

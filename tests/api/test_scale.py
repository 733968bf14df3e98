"""What keeps the API fast at city scale without changing an answer: coalesced reads (never
across scopes), gzip, and aggregate pages."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from api.cache import Coalescer
from api.routes.aggregates import _page
from api.scoped import AggregateRow
from tests.api.conftest import HOME_A, PUBLIC_A, ApiHarness


def test_identical_concurrent_asks_are_computed_once() -> None:
    cache = Coalescer(ttl=60)
    calls = []
    started = threading.Event()

    def slow() -> int:
        calls.append(1)
        started.set()
        time.sleep(0.2)
        return 42

    results: list[int] = []
    threads = [threading.Thread(target=lambda: results.append(cache.get("k", slow)))]
    threads[0].start()
    started.wait()
    threads += [
        threading.Thread(target=lambda: results.append(cache.get("k", slow))) for _ in range(7)
    ]
    for thread in threads[1:]:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [42] * 8 and len(calls) == 1
    assert cache.get("other", lambda: 7) == 7 and cache.computed == 2


def test_failures_are_shared_but_not_kept() -> None:
    cache = Coalescer(ttl=60)

    def broken() -> int:
        raise RuntimeError("store down")

    with pytest.raises(RuntimeError):
        cache.get("k", broken)
    assert cache.get("k", lambda: 1) == 1


def test_answers_expire() -> None:
    cache = Coalescer(ttl=0.05)
    assert cache.get("k", lambda: 1) == 1
    assert cache.get("k", lambda: 2) == 1
    time.sleep(0.06)
    assert cache.get("k", lambda: 3) == 3


def test_kept_answers_fit_their_cost_budget_oldest_first() -> None:
    """The span cache's budget (buckets held): the oldest answers go first, and one larger
    than the whole budget is answered but not kept (a hostile ask cannot fill memory)."""
    cache = Coalescer(ttl=60, cost=len, max_cost=10)
    assert cache.get("a", lambda: [1] * 4) == [1] * 4
    assert cache.get("b", lambda: [2] * 4) == [2] * 4
    assert cache.get("a", lambda: ["new"]) == [1] * 4  # both kept: 8 of 10
    assert cache.get("c", lambda: [3] * 4) == [3] * 4  # 12: the oldest, a, goes
    assert cache.get("a", lambda: ["new"]) == ["new"]
    assert cache.get("b", lambda: ["new"]) == [2] * 4
    huge = cache.get("h", lambda: [0] * 11)
    assert huge == [0] * 11 and cache.get("h", lambda: ["again"]) == ["again"]
    assert cache._held <= 10  # noqa: SLF001


@pytest.mark.integration
def test_a_public_key_never_gets_an_answer_cached_for_a_housing_key(api: ApiHarness) -> None:
    """The housing key asks first; the public key's identical asks, within the cache's time,
    hold no home device and no home value."""
    end = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=1)
    params = {
        "quantity": "temperature",
        "every": "1h",
        "group_by": "site",
        "site": PUBLIC_A.site,  # HOME_A is at the same site
        "start": (end - timedelta(hours=6)).isoformat(),
        "end": end.isoformat(),
    }
    housing = api.get("/v1/aggregates", "housing", **params).json()
    public = api.get("/v1/aggregates", "public", **params).json()
    assert max(p["value"] for s in housing["data"] for p in s["data"]) > 60  # home ones in it
    assert public["data"] and max(p["value"] for s in public["data"] for p in s["data"]) < 60
    assert HOME_A.dev_eui in {
        d["dev_eui"] for d in api.get("/v1/devices", "housing").json()["data"]
    }
    assert HOME_A.dev_eui not in {
        d["dev_eui"] for d in api.get("/v1/devices", "public").json()["data"]
    }
    latest = api.get("/v1/latest", "housing", need="damp").json()
    assert latest["count"] == 2
    assert api.get("/v1/latest", "public", need="damp").json()["count"] == 0


@pytest.mark.integration
def test_large_answers_are_compressed(api: ApiHarness) -> None:
    response = api.client.get(
        "/v1/aggregates",
        params={"quantity": "temperature", "every": "1m", "start": _ago(5)},
        headers={"X-API-Key": api.keys.housing, "Accept-Encoding": "gzip"},
    )
    assert response.status_code == 200 and response.headers["content-encoding"] == "gzip"
    assert int(response.headers["content-length"]) < len(response.content) / 3


@pytest.mark.integration
def test_aggregate_pages_follow_the_cursor_to_the_whole_answer(api: ApiHarness) -> None:
    params = {"quantity": "temperature", "every": "1m", "start": _ago(5), "end": _ago(-1)}
    whole = api.get("/v1/aggregates", "housing", **params).json()
    assert whole["next_cursor"] is None and whole["count"] == 4
    groups, cursor, pages = [], None, 0
    while True:
        extra = {"cursor": cursor} if cursor else {}
        page = api.get("/v1/aggregates", "housing", limit=1, **params, **extra).json()
        groups += page["data"]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 4 and groups == whole["data"]


def test_pages_hold_whole_groups_within_the_point_cap() -> None:
    moment = datetime(2026, 1, 1, tzinfo=UTC)
    rows = [AggregateRow(g, [(moment, 1.0)] * 240) for g in ("a", "b", "c")]
    assert [r.group for r in _page(rows, None, None, 500)[0]] == ["a", "b"]
    assert _page(rows, "a", None, 500) == (rows[1:], False)
    assert _page(rows, None, None, 10) == (rows[:1], True)  # one group even over the cap
    assert _page(rows, None, 1, 10_000) == (rows[:1], True)


def _ago(hours: float) -> str:
    return (datetime.now(UTC) - timedelta(hours=hours)).replace(microsecond=0).isoformat()

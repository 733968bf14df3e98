"""Every parameter is checked before a query is built: clear 422s, bounded scans, no injection."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from api.main import ROUTERS, _short_inputs, create_app
from api.routing import UnicodeJsonRoute
from leedswin.services import LocalInfluxDB, LocalMosquitto
from tests.api.conftest import PUBLIC_A, ApiHarness, make_keys, make_settings, serve

pytestmark = pytest.mark.integration

READINGS = f"/v1/devices/{PUBLIC_A.dev_eui}/readings"

BAD_REQUESTS: list[tuple[str, dict[str, object], str]] = [
    ("/v1/aggregates", {"quantity": "frobnication"}, "quantity"),
    ("/v1/aggregates", {"quantity": "temperature", "fn": "sum"}, "fn"),
    ("/v1/aggregates", {"quantity": "temperature", "every": "15 minutes"}, "every"),
    ("/v1/aggregates", {"quantity": "temperature", "every": "0m"}, "every"),
    ("/v1/aggregates", {"quantity": "temperature", "every": "1h); DROP DATABASE x"}, "every"),
    ("/v1/aggregates", {"quantity": "temperature", "every": "1s"}, "every"),
    (
        "/v1/aggregates",
        {"quantity": "temperature", "start": "2026-01-02T00:00:00Z", "end": "2026-01-01T00:00:00Z"},
        "end",
    ),
    (
        "/v1/aggregates",
        {"quantity": "temperature", "start": "2000-01-01T00:00:00Z", "end": "2026-01-01T00:00:00Z"},
        "start",
    ),
    ("/v1/aggregates", {"quantity": "temperature", "start": "yesterday"}, "start"),
    ("/v1/aggregates", {"quantity": "temperature", "start": "1600-01-01T00:00:00Z"}, "start"),
    ("/v1/aggregates", {"quantity": "temperature", "group_by": "ward"}, "group_by"),
    ("/v1/aggregates", {"quantity": "temperature", "site": "x' OR '1'='1"}, "site"),
    ("/v1/aggregates", {"quantity": "temperature", "dev_eui": "zz"}, "dev_eui"),
    # A cursor is a group (site or DevEUI): anything else was compared and answered 200.
    ("/v1/aggregates", {"quantity": "temperature", "cursor": "../../etc/passwd"}, "cursor"),
    ("/v1/aggregates", {"quantity": "temperature", "cursor": "\x00\xff"}, "cursor"),
    ("/v1/devices", {"need": "happiness"}, "need"),
    ("/v1/latest", {}, "need"),
    (READINGS, {}, "quantity"),
    (READINGS, {"quantity": "temperature", "limit": 0}, "limit"),
    (READINGS, {"quantity": "temperature", "limit": 20_000}, "limit"),
    (READINGS, {"quantity": "temperature", "offset": -1}, "offset"),
    ("/v1/devices/not-an-eui", {}, "dev_eui"),
]


@pytest.mark.parametrize(("path", "params", "field"), BAD_REQUESTS)
def test_bad_parameters_are_422_naming_the_parameter(
    api: ApiHarness, path: str, params: dict[str, object], field: str
) -> None:
    response = api.get(path, "public", **params)
    assert response.status_code == 422, response.text
    assert field in {error["loc"][-1] for error in response.json()["detail"]}


def test_readings_page_through_all_points(api: ApiHarness) -> None:
    times, values = api.data.series[PUBLIC_A.dev_eui]["co2"]
    seen: list[float] = []
    offset: int | None = 0
    while offset is not None:
        page = api.get(READINGS, "public", quantity="co2", limit=100, offset=offset).json()
        assert page["unit"] == "ppm" and page["count"] == len(page["data"])
        seen += [point["value"] for point in page["data"]]
        offset = page["next_offset"]
    assert seen == values.tolist()


def test_rate_limit_gives_429_with_retry_after(
    tmp_path: Path, influxdb: LocalInfluxDB, mosquitto: LocalMosquitto, influx_db: str
) -> None:
    settings = make_settings(tmp_path, influxdb, mosquitto, influx_db, rate_limit_per_minute=3)
    keys = make_keys(settings[0].registry)
    with serve(create_app(*settings)) as base_url, httpx.Client(base_url=base_url) as client:
        for key in (keys.public, keys.housing):
            codes = [
                client.get("/v1/keys", headers={"X-API-Key": key}).status_code for _ in range(3)
            ]
            assert 429 not in codes
            refused = client.get("/v1/keys", headers={"X-API-Key": key})
            assert refused.status_code == 429
            assert int(refused.headers["Retry-After"]) >= 1
            assert "rate limit" in refused.json()["detail"]
        # Another key's bucket is its own.
        assert client.get("/v1/keys", headers={"X-API-Key": keys.admin}).status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        '{"name":"\\ud800","scope":"public"}',
        '{"name":"ok","scope":"\\udfff"}',  # fails validation: the 422 must not echo it
        '{"name":"ok","scope":"public","\\ud800":1}',
    ],
)
def test_lone_surrogates_in_a_body_are_a_typed_422_echoing_nothing(
    api: ApiHarness, body: str
) -> None:
    response = api.client.post(
        "/v1/keys",
        content=body.encode(),
        headers={"X-API-Key": api.keys.admin, "Content-Type": "application/json"},
    )
    assert response.status_code == 422, response.text
    assert (
        "surrogate" in response.text
        and "ud800" not in response.text
        and "udfff" not in response.text
    )
    assert all(key["name"] != "ok" for key in api.get("/v1/keys", "admin").json()["data"])


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity"])
def test_a_non_finite_number_in_a_body_is_a_422(api: ApiHarness, number: str) -> None:
    # Python's JSON parser takes these tokens; JSON has no such numbers to echo back.
    response = api.client.post(
        "/v1/keys",
        content=f'{{"name": {number}, "scope": "public"}}'.encode(),
        headers={"X-API-Key": api.keys.admin, "Content-Type": "application/json"},
    )
    assert response.status_code == 422, response.text


def test_validation_errors_never_echo_what_cannot_be_encoded() -> None:
    errors = [{"loc": ("body", "x"), "msg": "bad", "type": "value_error", "input": "a\ud800"}]
    assert _short_inputs(errors)[0]["input"] == "<not valid Unicode, not echoed>"
    quoted = [{"loc": ("body", "x"), "msg": "bad \udfff", "type": "value_error", "input": 1}]
    assert _short_inputs(quoted)[0] == {
        "loc": ["body", "x"],
        "msg": "not valid Unicode",
        "type": "value_error",
        "input": 1,
    }


def test_every_router_checks_bodies_for_valid_unicode() -> None:
    for router in ROUTERS:
        assert router.route_class is UnicodeJsonRoute


@pytest.mark.parametrize("every", ["999999999w", "999999999d", "15251w"])
def test_absurd_bucket_widths_get_a_clear_message(api: ApiHarness, every: str) -> None:
    response = api.get("/v1/aggregates", "public", quantity="temperature", every=every)
    assert response.status_code == 422, response.text
    (error,) = response.json()["detail"]
    assert error["loc"][-1] == "every" and error["msg"].startswith("bucket wider than"), error

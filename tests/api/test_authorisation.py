"""Every endpoint x every scope x public/home device: no home data ever reaches a public key."""

from __future__ import annotations

import pytest

from tests.api.conftest import DEVICES, HOME_A, HOME_B, PUBLIC_A, ApiHarness

pytestmark = pytest.mark.integration

HOME_EUIS = {HOME_A.dev_eui, HOME_B.dev_eui}
ALL_EUIS = {dev.dev_eui for dev in DEVICES}
PUBLIC_EUIS = ALL_EUIS - HOME_EUIS
SCOPES = ("public", "housing", "admin")
UNKNOWN_EUI = "ffffffffffffffff"

LIST_REQUESTS: list[tuple[str, dict[str, object]]] = [
    ("/v1/devices", {}),
    ("/v1/devices", {"site": "briggate"}),
    ("/v1/devices", {"need": "damp"}),
    ("/v1/latest", {"need": "damp"}),
    ("/v1/latest", {"need": "air_quality"}),
    ("/v1/aggregates", {"quantity": "temperature", "fn": "max", "group_by": "device"}),
    ("/v1/aggregates", {"quantity": "temperature", "fn": "max", "group_by": "site"}),
    ("/v1/aggregates", {"quantity": "temperature", "fn": "count", "site": "briggate"}),
    ("/v1/aggregates", {"quantity": "relative_humidity", "fn": "p95", "need": "damp"}),
]
DEVICE_PATHS = ["/v1/devices/{eui}", "/v1/devices/{eui}/readings"]


def _leaks(body: str) -> bool:
    """Any trace of a home device: its id, its pseudonymous site, its privacy or its readings (>100 °C)."""
    return any(marker in body for marker in (*HOME_EUIS, HOME_B.site, '"home"'))


@pytest.mark.parametrize(("path", "params"), LIST_REQUESTS)
def test_list_endpoints_never_show_home_data_to_a_public_key(
    api: ApiHarness, path: str, params: dict[str, object]
) -> None:
    response = api.get(path, "public", **params)
    assert response.status_code == 200, response.text
    assert not _leaks(response.text)
    if path == "/v1/aggregates":
        values = [p["value"] for s in response.json()["data"] for p in s["data"]]
        if params["fn"] == "max":
            assert values and max(values) < 100, "a home reading was mixed into an aggregate"
        if params["fn"] == "count":
            assert sum(values) == 240, "count must include only the public device at briggate"


@pytest.mark.parametrize("scope", ["housing", "admin"])
def test_housing_and_admin_keys_see_home_devices(api: ApiHarness, scope: str) -> None:
    devices = api.get("/v1/devices", scope).json()
    assert {d["dev_eui"] for d in devices["data"]} == ALL_EUIS
    for device in devices["data"]:
        if device["privacy"] == "home":
            assert device["lat"] is None and device["lon"] is None
    latest = api.get("/v1/latest", scope, need="damp").json()
    assert {d["dev_eui"] for d in latest["data"]} == HOME_EUIS
    by_site = api.get(
        "/v1/aggregates", scope, quantity="temperature", fn="count", site="briggate"
    ).json()
    assert sum(p["value"] for s in by_site["data"] for p in s["data"]) == 480


def test_public_key_lists_only_public_devices(api: ApiHarness) -> None:
    body = api.get("/v1/devices", "public").json()
    assert {d["dev_eui"] for d in body["data"]} == PUBLIC_EUIS
    assert body["count"] == len(PUBLIC_EUIS)
    device = api.get(f"/v1/devices/{PUBLIC_A.dev_eui}", "public").json()
    assert device["site"] == PUBLIC_A.site and device["battery_percent"] == 80.0
    assert device["rssi"] == -90.0 and device["last_seen"]


@pytest.mark.parametrize("scope", SCOPES)
@pytest.mark.parametrize("device", DEVICES, ids=lambda d: d.privacy + "-" + d.dev_eui[-1])
def test_device_list_filtered_by_dev_eui_shows_only_what_the_key_may_see(
    api: ApiHarness, scope: str, device: object
) -> None:
    """``/v1/devices?dev_eui=`` answers a list of one or none: a home device is an empty
    list for a public key, indistinguishable from a DevEUI that does not exist."""
    eui = device.dev_eui  # type: ignore[attr-defined]
    body = api.get("/v1/devices", scope, dev_eui=eui.upper()).json()
    visible = scope != "public" or eui in PUBLIC_EUIS
    assert [d["dev_eui"] for d in body["data"]] == ([eui] if visible else [])
    assert body["count"] == int(visible)
    absent = api.get("/v1/devices", scope, dev_eui="00000000000000ff").json()
    assert absent == {**body, "data": [], "count": 0}


def test_device_list_refuses_a_malformed_dev_eui(api: ApiHarness) -> None:
    assert api.get("/v1/devices", "public", dev_eui="not-an-eui").status_code == 422


@pytest.mark.parametrize("template", DEVICE_PATHS)
@pytest.mark.parametrize("scope", SCOPES)
@pytest.mark.parametrize("device", DEVICES, ids=lambda d: d.privacy + "-" + d.dev_eui[-1])
def test_device_endpoints(api: ApiHarness, template: str, scope: str, device: object) -> None:
    eui = device.dev_eui  # type: ignore[attr-defined]
    params = {"quantity": "temperature"} if template.endswith("readings") else {}
    response = api.get(template.format(eui=eui), scope, **params)
    if eui in HOME_EUIS and scope == "public":
        missing = api.get(template.format(eui=UNKNOWN_EUI), scope, **params)
        assert (response.status_code, response.json()) == (missing.status_code, missing.json())
        assert response.status_code == 404
        assert response.headers.keys() == missing.headers.keys()
    else:
        assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("path", "params"),
    [*LIST_REQUESTS, (f"/v1/devices/{PUBLIC_A.dev_eui}", {}), ("/v1/live/sse", {})],
)
@pytest.mark.parametrize("key", [None, "", "lw_nope_nope", "garbage"])
def test_missing_or_bad_key_is_401(
    api: ApiHarness, path: str, params: dict[str, object], key: str | None
) -> None:
    headers = {} if key is None else {"X-API-Key": key}
    response = api.client.get(path, params=params, headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "ApiKey"


def test_key_admin_needs_admin_scope(api: ApiHarness) -> None:
    assert api.get("/v1/keys", "public").status_code == 403
    refused = api.get("/v1/keys", "housing")
    assert refused.status_code == 403 and refused.json()["detail"] == "needs an admin key"
    housing = api.get("/v1/housing/alerts", "public")
    assert housing.status_code == 403 and housing.json()["detail"] == "needs a housing key"
    keys = api.get("/v1/keys", "admin").json()
    assert {k["scope"] for k in keys["data"]} == set(SCOPES)
    assert all("token" not in k and "hash" not in k for k in keys["data"])


def test_revoked_key_is_refused(api: ApiHarness) -> None:
    admin = {"X-API-Key": api.keys.admin}
    created = api.client.post("/v1/keys", json={"name": "tmp", "scope": "public"}, headers=admin)
    assert created.status_code == 201
    token = created.json()["token"]
    assert api.client.get("/v1/devices", headers={"X-API-Key": token}).status_code == 200
    revoked = api.client.delete(f"/v1/keys/{created.json()['key_id']}", headers=admin)
    assert revoked.status_code == 204
    assert api.client.get("/v1/devices", headers={"X-API-Key": token}).status_code == 401


def _fill(param: dict[str, object], home_eui: str) -> object:
    """A value for a parameter, chosen to point at home data where the parameter allows."""
    name = param["name"]
    schema = param.get("schema", {})
    assert isinstance(schema, dict)
    choices = {"dev_eui": home_eui, "site": HOME_B.site, "quantity": "temperature", "need": "damp"}
    if name in choices:
        return choices[name]
    options = schema.get("anyOf", [schema])
    for option in options:
        if isinstance(option, dict) and option.get("enum"):
            return option["enum"][0]
        if isinstance(option, dict) and option.get("type") == "integer":
            return 1
    return "x"


@pytest.mark.parametrize("home_eui", sorted(HOME_EUIS))
def test_every_get_operation_in_the_schema_hides_home_data_from_a_public_key(
    api: ApiHarness, home_eui: str
) -> None:
    """Sweeps the OpenAPI schema, so routers added later are covered without editing this test."""
    spec = api.client.get("/openapi.json").json()
    answered = 0
    for path, operations in spec["paths"].items():
        operation = operations.get("get")
        if operation is None or not path.startswith("/v1/") or path == "/v1/live/sse":
            continue
        url, params = path, {}
        for param in operation.get("parameters", []):
            if param["in"] == "path":
                url = url.replace("{" + param["name"] + "}", str(_fill(param, home_eui)))
            elif param["in"] == "query" and param.get("required"):
                params[param["name"]] = _fill(param, home_eui)
        response = api.get(url, "public", **params)
        assert response.status_code in (200, 403, 404), (url, response.text)
        assert not _leaks(response.text), url
        answered += response.status_code == 200
    assert answered >= 3, "the sweep must reach list endpoints, or it proves nothing"

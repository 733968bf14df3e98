"""Interim InfluxQL client until ``storage.query`` lands: POST /query with bound ``$params``."""

from __future__ import annotations

import json
from typing import Any, NamedTuple

import httpx

from core.errors import QueryError
from core.settings import InfluxSettings


class Series(NamedTuple):
    name: str
    tags: dict[str, str]
    columns: list[str]
    values: list[list[Any]]


class InfluxQL:
    """Read-only InfluxQL over the v1 ``/query`` endpoint; user values only ever as bound params."""

    def __init__(self, settings: InfluxSettings) -> None:
        self._settings = settings
        auth = None
        if settings.username and settings.password:
            auth = (settings.username, settings.password.get_secret_value())
        headers = {}
        if settings.token:
            headers["Authorization"] = f"Token {settings.token.get_secret_value()}"
        self._client = httpx.Client(
            base_url=settings.url, timeout=settings.timeout, auth=auth, headers=headers
        )

    def query(self, q: str, params: dict[str, Any] | None = None) -> list[Series]:
        data = {"db": self._settings.database, "q": q, "epoch": "ns"}
        if params:
            data["params"] = json.dumps(params)
        try:
            response = self._client.post("/query", data=data)
        except httpx.HTTPError as exc:
            raise QueryError(f"InfluxDB unreachable: {exc}") from exc
        if response.status_code != 200:
            raise QueryError(f"InfluxDB {response.status_code}: {response.text[:200]}")
        result = response.json()["results"][0]
        if "error" in result:
            raise QueryError(f"InfluxDB: {result['error']}")
        return [
            Series(s["name"], s.get("tags", {}), s["columns"], s["values"])
            for s in result.get("series", [])
        ]

    def ping(self) -> bool:
        try:
            return self._client.get("/ping").status_code == 204
        except httpx.HTTPError:
            return False

    def close(self) -> None:
        self._client.close()

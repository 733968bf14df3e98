"""The one HTTP client to an InfluxDB v1 API (`/write`, `/query`, `/ping`) and its auth.

Auth is ``u``/``p`` parameters for 1.x users, or ``Authorization: Token …`` when a
token is set (the v1-compatibility API of InfluxDB 2.x/3.x).
"""

from __future__ import annotations

import httpx

from core.settings import InfluxSettings


class InfluxHttp:
    """A keep-alive connection pool to one InfluxDB, shared by the writer and the query layer."""

    def __init__(self, settings: InfluxSettings, headers: dict[str, str]) -> None:
        self.settings = settings
        headers = dict(headers)
        if settings.token is not None:
            headers["Authorization"] = f"Token {settings.token.get_secret_value()}"
        self._auth: dict[str, str] = {}
        if settings.username:
            self._auth["u"] = settings.username
            if settings.password is not None:
                self._auth["p"] = settings.password.get_secret_value()
        self._client = httpx.Client(
            base_url=settings.url,
            headers=headers,
            timeout=settings.timeout,
            limits=httpx.Limits(max_keepalive_connections=4, keepalive_expiry=60),
        )

    def ping(self) -> bool:
        try:
            return self._client.get("/ping").status_code == 204
        except httpx.HTTPError:
            return False

    def close(self) -> None:
        self._client.close()

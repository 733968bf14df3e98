"""The one HTTP client to an InfluxDB v1 API (`/write`, `/query`, `/ping`) and its auth.

Auth is HTTP Basic for 1.x users (InfluxDB 1.x docs, "Authentication": Basic
auth or ``u``/``p`` parameters; the header keeps passwords out of URLs, which
get logged), or ``Authorization: Token …`` when a token is set (the
v1-compatibility API of InfluxDB 2.x/3.x).
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
        #: Query-string credentials: none, they travel in the Authorization header.
        self._auth: dict[str, str] = {}
        auth = None
        if settings.username and settings.token is None:
            password = settings.password.get_secret_value() if settings.password else ""
            auth = httpx.BasicAuth(settings.username, password)
        self._client = httpx.Client(
            base_url=settings.url,
            headers=headers,
            auth=auth,
            timeout=settings.timeout,
            verify=settings.tls_verify(),
            limits=httpx.Limits(max_keepalive_connections=4, keepalive_expiry=60),
        )

    def ping(self) -> bool:
        try:
            return self._client.get("/ping").status_code == 204
        except httpx.HTTPError:
            return False

    def close(self) -> None:
        self._client.close()

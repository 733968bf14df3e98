"""Sinks: where encoded line protocol goes, and the one place a write's fate is decided.

Two transports behind one ``InfluxSink`` protocol: ``V1Sink`` speaks ``/write``
(InfluxDB 1.x, and the v1-compatible endpoint of 2.x/3.x), ``V2Sink`` uses
influxdb-client's v2 write API (2.x/3.x buckets). Every write ends in one of
four verdicts, decided here by ``verdict`` from the HTTP answer and nowhere else:

=============  ==========================================  ==========================
accepted       2xx                                         ``write`` returns
refused        400, 413, 422: the points themselves        ``PermanentSinkError``
retry          no answer, timeout, 408, 429, 5xx           ``RetryableSinkError``
                                                           (with any Retry-After)
misconfigured  401, 403, 404 and any other 4xx; or an      ``MisconfiguredSinkError``
               endpoint that answers but is not InfluxDB
=============  ==========================================  ==========================

The batch writer acts on the error's class alone: it bisects refused bodies,
retries with backoff (spilling to the spool in a long outage), and holds
misconfigured ones unacknowledged without spilling. ``check`` runs the same
verdict at start-up with an empty write, which InfluxDB authenticates and
resolves the database for without storing anything (measured on 1.6.7: 204,
401 "authorization failed", 404 "database not found").
"""

from __future__ import annotations

import email.utils
import json
import time
from collections.abc import Mapping
from typing import Protocol

import httpx

from core.errors import MisconfiguredSinkError, PermanentSinkError, RetryableSinkError
from core.settings import InfluxSettings
from storage.http import InfluxHttp
from storage.query import quote_ident

__all__ = [
    "InfluxSink",
    "PrivacyRouter",
    "V1Sink",
    "V2Sink",
    "is_public_line",
    "make_sink",
    "parse_retry_after",
]


class InfluxSink(Protocol):
    """Takes line protocol (ns precision); ``write`` returns or raises one of the three verdicts."""

    def write(self, body: bytes) -> None: ...

    def ensure_database(self) -> None: ...

    def check(self) -> None: ...

    def ping(self) -> bool: ...

    def close(self) -> None: ...


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP date); None if absent or bad."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _error_text(body: bytes | str | None) -> str:
    """InfluxDB's own message: the ``error``/``message`` of its JSON body, else the raw text."""
    if body is None:
        return ""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    try:
        decoded = json.loads(text)
    except ValueError:
        return text.strip()[:1000]
    if isinstance(decoded, dict):
        for key in ("error", "message"):
            if isinstance(decoded.get(key), str):
                return str(decoded[key])
    return text.strip()[:1000]


#: Statuses that mean "these points are bad": the batch writer bisects around them.
REFUSED_STATUSES = frozenset({400, 413, 422})
#: Statuses that mean "try the same body again later".
RETRY_STATUSES = frozenset({408, 429})


def verdict(
    status: int, text: str, retry_after: float | None, what: str, *, influx: bool = True
) -> None:
    """Return for an accepted write; raise the sink error for every other answer.

    ``influx`` is False when the answer lacks the ``X-Influxdb-Version`` header
    every InfluxDB sends: a 2xx or 4xx from such a server (a web server or a
    proxy's own page at that URL) is a misconfiguration, while a 5xx is still
    retried (a proxy in front of a restarting InfluxDB answers 502/503 itself).
    """
    message = f"{what}: HTTP {status}: {text}"
    if status >= 500 or status in RETRY_STATUSES:
        raise RetryableSinkError(message, retry_after)
    if not influx:
        raise MisconfiguredSinkError(f"{message} (the server is not InfluxDB)", status)
    if 200 <= status < 300:
        return
    if status in REFUSED_STATUSES:
        raise PermanentSinkError(message, status)
    raise MisconfiguredSinkError(message, status)


def _is_influx(response: httpx.Response) -> bool:
    return "X-Influxdb-Version" in response.headers


class V1Sink(InfluxHttp):
    """``POST /write?db=&rp=&precision=ns`` over one keep-alive connection pool."""

    def __init__(self, settings: InfluxSettings) -> None:
        super().__init__(settings, {"Content-Type": "text/plain; charset=utf-8"})
        self._write_params = {"db": settings.database, "precision": "ns", **self._auth}
        if settings.retention_policy:
            self._write_params["rp"] = settings.retention_policy

    def write(self, body: bytes) -> None:
        response = self._post("/write", self._write_params, body)
        if (
            response.status_code == 404
            and self.settings.create_database
            and "database not found" in response.text
        ):
            # The database was dropped (or never made) behind our back: make it, once.
            self.ensure_database()
            response = self._post("/write", self._write_params, body)
        verdict(
            response.status_code,
            _error_text(response.content),
            parse_retry_after(response.headers.get("Retry-After")),
            f"write {len(body)} bytes to {self.settings.database} at {self.settings.url}",
            influx=_is_influx(response),
        )

    def check(self) -> None:
        """An empty write: returns if these credentials may write to this database.

        Raises ``MisconfiguredSinkError`` (wrong credentials, no such database,
        not InfluxDB) or ``RetryableSinkError`` (unreachable: an outage, ridden out).
        """
        self.write(b"")

    def ensure_database(self) -> None:
        """``CREATE DATABASE`` (idempotent in InfluxQL) when settings allow it."""
        if not self.settings.create_database:
            return
        q = f"CREATE DATABASE {quote_ident(self.settings.database)}"
        response = self._post("/query", {"q": q, **self._auth}, None)
        what = f"CREATE DATABASE {self.settings.database}"
        if response.status_code == 403:
            # A platform user with WRITE only (auth on): databases are the admin's job
            # (`storage.provision`); a write to a missing one still says so.
            return
        verdict(
            response.status_code,
            _error_text(response.content),
            parse_retry_after(response.headers.get("Retry-After")),
            what,
            influx=_is_influx(response),
        )
        try:
            results = json.loads(response.content).get("results", [])
        except (ValueError, AttributeError) as exc:
            raise RetryableSinkError(f"{what}: unreadable answer {response.text[:200]!r}") from exc
        for result in results:
            if "error" in result:
                raise MisconfiguredSinkError(f"{what}: {result['error']}", response.status_code)

    def _post(self, path: str, params: dict[str, str], body: bytes | None) -> httpx.Response:
        try:
            return self._client.post(path, params=params, content=body)
        except httpx.HTTPError as exc:
            raise RetryableSinkError(
                f"{path} on {self.settings.url}: {type(exc).__name__}: {exc}"
            ) from exc


class V2Sink:
    """influxdb-client's synchronous v2 write API (org/bucket/token), InfluxDB 2.x/3.x.

    The client's own retries are off: the batcher owns retrying, so there is
    one backoff policy and one place that counts retries.
    """

    def __init__(self, settings: InfluxSettings) -> None:
        if not (settings.bucket and settings.org and settings.token):
            raise ValueError("V2Sink needs bucket, org and token")
        # Imported here: influxdb-client and its dependencies are about 40 MB of resident
        # memory that a bridge writing to InfluxDB 1.x (V1Sink) never uses.
        from influxdb_client import InfluxDBClient, WritePrecision
        from influxdb_client.client.write_api import SYNCHRONOUS
        from influxdb_client.rest import ApiException

        self._api_exception = ApiException
        self.settings = settings
        self._bucket, self._org = settings.bucket, settings.org
        self._precision = WritePrecision.NS
        self._client = InfluxDBClient(
            url=settings.url,
            token=settings.token.get_secret_value(),
            org=settings.org,
            timeout=int(settings.timeout * 1000),
            retries=False,
            enable_gzip=False,
            ssl_ca_cert=str(settings.ca_file) if settings.ca_file else None,
        )
        self._write_api = self._client.write_api(write_options=SYNCHRONOUS)

    def write(self, body: bytes) -> None:
        what = f"write {len(body)} bytes to bucket {self.settings.bucket}"
        try:
            self._write_api.write(
                bucket=self._bucket,
                org=self._org,
                record=body,
                # WritePrecision.NS is the str "ns"; the client's annotation names the class.
                write_precision=self._precision,  # type: ignore[arg-type]
            )
        except self._api_exception as exc:
            headers: Mapping[str, str] = exc.headers or {}
            verdict(
                int(exc.status or 0) or 500,
                _error_text(exc.body) or str(exc.reason or ""),
                parse_retry_after(headers.get("Retry-After")),
                what,
                influx="X-Influxdb-Version" in headers,
            )
            raise RetryableSinkError(f"{what}: {exc}") from exc  # a 2xx ApiException: odd, retry
        except Exception as exc:  # urllib3 connection/timeout errors of several classes
            raise RetryableSinkError(f"{what}: {type(exc).__name__}: {exc}") from exc

    def ensure_database(self) -> None:
        """Buckets are provisioned by operators on 2.x/3.x; nothing to create here."""

    def check(self) -> None:
        """An empty write through ``/api/v2/write``: the token, org and bucket must be right."""
        assert self.settings.token is not None  # checked in __init__
        try:
            response = httpx.post(
                f"{self.settings.url.rstrip('/')}/api/v2/write",
                params={"org": self.settings.org or "", "bucket": self.settings.bucket or ""},
                headers={"Authorization": f"Token {self.settings.token.get_secret_value()}"},
                content=b"",
                timeout=self.settings.timeout,
                verify=self.settings.tls_verify(),
            )
        except httpx.HTTPError as exc:
            raise RetryableSinkError(f"{self.settings.url}: {type(exc).__name__}: {exc}") from exc
        verdict(
            response.status_code,
            _error_text(response.content),
            parse_retry_after(response.headers.get("Retry-After")),
            f"write to bucket {self.settings.bucket} at {self.settings.url}",
            influx=_is_influx(response),
        )

    def ping(self) -> bool:
        try:
            return bool(self._client.ping())
        except Exception:
            return False

    def close(self) -> None:
        self._client.close()


_PUBLIC_TAG = b",privacy=public"


def is_public_line(line: bytes) -> bool:
    """True only if the line's tag set says ``privacy=public`` (an unescaped tag, not a field).

    Anything else (``home``, no privacy tag, an unknown value) is not public: fail closed.
    Our encoder never leaves a backslash before an unescaped comma or space, so a
    separator is a ``,``/`` `` not preceded by ``\\``.
    """
    end = line.find(b" ")
    while end > 0 and line[end - 1] == 0x5C:
        end = line.find(b" ", end + 1)
    head = line[:end] + b"," if end > 0 else b""
    at = head.find(_PUBLIC_TAG + b",")
    return at > 0 and head[at - 1] != 0x5C


class PrivacyRouter:
    """One sink per database: public lines to the public one, every other line to the home one.

    InfluxDB grants access per database (bucket), not per tag, so this split is
    what lets public readers hold credentials that cannot read any home. A
    failure of either write raises; the batcher then retries or bisects the
    whole body, and rewriting the lines that did land is harmless (same series
    and timestamp overwrite themselves).
    """

    def __init__(self, public: InfluxSink, home: InfluxSink) -> None:
        self.public = public
        self.home = home

    def write(self, body: bytes) -> None:
        public: list[bytes] = []
        home: list[bytes] = []
        for line in body.split(b"\n"):
            if line:
                (public if is_public_line(line) else home).append(line)
        if public:
            self.public.write(b"\n".join(public))
        if home:
            self.home.write(b"\n".join(home))

    def ensure_database(self) -> None:
        self.public.ensure_database()
        self.home.ensure_database()

    def check(self) -> None:
        self.public.check()
        self.home.check()

    def ping(self) -> bool:
        return self.public.ping() and self.home.ping()

    def close(self) -> None:
        self.public.close()
        self.home.close()


def _one_sink(settings: InfluxSettings) -> InfluxSink:
    if settings.api_version == 2:
        return V2Sink(settings)
    return V1Sink(settings)


def make_sink(settings: InfluxSettings) -> InfluxSink:
    """Public and home sinks behind a ``PrivacyRouter`` (V2Sink with buckets, else V1Sink)."""
    return PrivacyRouter(_one_sink(settings), _one_sink(settings.home()))

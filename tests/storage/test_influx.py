"""Sinks: V1Sink on the real influxd, both sinks against a recording fake HTTP endpoint."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from core.errors import (
    MisconfiguredSinkError,
    PermanentSinkError,
    QueryError,
    RetryableSinkError,
)
from core.settings import InfluxSettings
from leedswin.services import LocalInfluxDB, free_port
from storage.influx import (
    PrivacyRouter,
    V1Sink,
    V2Sink,
    is_public_line,
    make_sink,
    parse_retry_after,
)
from storage.query import InfluxQL
from tests.conftest import influxql


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    authorization: str | None
    body: bytes


@dataclass
class FakeInflux:
    """Records every request; answers with the next scripted (status, body, headers)."""

    url: str
    requests: list[Recorded] = field(default_factory=list)
    answers: list[tuple[int, bytes, dict[str, str]]] = field(default_factory=list)
    delay: float = 0.0
    influx: bool = True


@pytest.fixture
def fake_influx() -> Iterator[FakeInflux]:
    fake = FakeInflux(url="")

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            parts = urlsplit(self.path)
            fake.requests.append(
                Recorded(
                    self.command,
                    parts.path,
                    parse_qs(parts.query),
                    self.headers.get("Authorization"),
                    self.rfile.read(length),
                )
            )
            status, body, headers = fake.answers.pop(0) if fake.answers else (204, b"", {})
            time.sleep(fake.delay)
            self.send_response(status)
            if fake.influx:  # every InfluxDB answer carries its version
                self.send_header("X-Influxdb-Version", "1.6.7~rc0")
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            if body:
                self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_HEAD = _answer

        def log_message(self, format: str, *args: object) -> None:
            pass

    class Server(ThreadingHTTPServer):
        def handle_error(self, request: object, client_address: object) -> None:
            """The timeout test hangs up before the answer: expected, not worth a traceback."""

    server = Server(("127.0.0.1", 0), Handler)
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    yield fake
    server.shutdown()
    server.server_close()


def v2_settings(url: str) -> InfluxSettings:
    return InfluxSettings(
        url=url,
        bucket="leeds/raw",
        home_bucket="leeds/home",
        org="leeds",
        token="s3cret",
        timeout=2,
    )


def test_make_sink_picks_the_api_by_bucket_and_routes_homes_apart() -> None:
    v1 = make_sink(InfluxSettings())
    v2 = make_sink(v2_settings("http://127.0.0.1:1"))
    assert isinstance(v1, PrivacyRouter) and isinstance(v2, PrivacyRouter)
    assert isinstance(v1.public, V1Sink) and isinstance(v1.home, V1Sink)
    assert isinstance(v2.public, V2Sink) and isinstance(v2.home, V2Sink)
    assert (v1.public.settings.database, v1.home.settings.database) == (
        "leedswin",
        "leedswin_home",
    )
    assert (v2.public.settings.bucket, v2.home.settings.bucket) == ("leeds/raw", "leeds/home")
    v1.close()
    v2.close()


def test_v2_needs_a_home_bucket_of_its_own() -> None:
    with pytest.raises(ValueError, match="home_bucket"):
        InfluxSettings(bucket="b", org="o", token="t")
    with pytest.raises(ValueError, match="of their own"):
        InfluxSettings(bucket="b", home_bucket="b", org="o", token="t")
    with pytest.raises(ValueError, match="of their own"):
        InfluxSettings(database="x", home_database="x")


@pytest.mark.parametrize(
    ("line", "public"),
    [
        (b"m,privacy=public,site=x v=1 1", True),
        (b"m,privacy=public v=1 1", True),
        (b"m,privacy=home,site=x v=1 1", False),
        (b"m,site=x v=1 1", False),  # no privacy tag: fail closed
        (b"m,privacy=publicx v=1 1", False),
        (b"m,a=x\\,privacy=public v=1 1", False),  # inside an escaped tag value
        (b'm,site=x f=",privacy=public " 1', False),  # inside a string field
    ],
)
def test_only_lines_tagged_public_count_as_public(line: bytes, public: bool) -> None:
    assert is_public_line(line) is public


class _Recorder:
    def __init__(self) -> None:
        self.bodies: list[bytes] = []

    def write(self, body: bytes) -> None:
        self.bodies.append(body)


def test_privacy_router_splits_one_body_by_line() -> None:
    public, home = _Recorder(), _Recorder()
    router = PrivacyRouter(public, home)  # type: ignore[arg-type]
    router.write(b"a,privacy=public v=1 1\nb,privacy=home v=2 2\nc v=3 3\nd,privacy=public v=4 4")
    assert public.bodies == [b"a,privacy=public v=1 1\nd,privacy=public v=4 4"]
    assert home.bodies == [b"b,privacy=home v=2 2\nc v=3 3"]


def test_parse_retry_after() -> None:
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("Mon, 01 Jan 2001 00:00:00 GMT") == 0.0


def test_v1_sink_sends_params_and_token(fake_influx: FakeInflux) -> None:
    settings = InfluxSettings(
        url=fake_influx.url, database="leeds", retention_policy="raw", token="tok", timeout=2
    )
    sink = V1Sink(settings)
    sink.write(b"m f=1.0 1")
    (request,) = fake_influx.requests
    assert (request.method, request.path, request.body) == ("POST", "/write", b"m f=1.0 1")
    assert request.query == {"db": ["leeds"], "rp": ["raw"], "precision": ["ns"]}
    assert request.authorization == "Token tok"
    sink.close()


def test_v1_sink_sends_user_and_password_as_basic_auth_never_in_the_url(
    fake_influx: FakeInflux,
) -> None:
    sink = V1Sink(
        InfluxSettings(url=fake_influx.url, database="d", username="u1", password="p1", timeout=2)
    )
    sink.write(b"m f=1.0 1")
    assert "u" not in fake_influx.requests[0].query and "p" not in fake_influx.requests[0].query
    assert fake_influx.requests[0].authorization == "Basic dTE6cDE="
    sink.close()


@pytest.mark.parametrize(
    ("status", "headers", "kind", "retry_after"),
    [
        (500, {}, RetryableSinkError, None),
        (503, {"Retry-After": "7"}, RetryableSinkError, 7.0),
        (429, {"Retry-After": "2"}, RetryableSinkError, 2.0),
        (408, {}, RetryableSinkError, None),
        (400, {}, PermanentSinkError, None),
        (413, {}, PermanentSinkError, None),
        (422, {}, PermanentSinkError, None),
        (401, {}, MisconfiguredSinkError, None),
        (403, {}, MisconfiguredSinkError, None),
        (404, {}, MisconfiguredSinkError, None),
        (405, {}, MisconfiguredSinkError, None),
    ],
)
def test_v1_sink_classifies_statuses(
    fake_influx: FakeInflux,
    status: int,
    headers: dict[str, str],
    kind: type[Exception],
    retry_after: float | None,
) -> None:
    fake_influx.answers.append((status, b'{"error":"nope: details"}', headers))
    sink = V1Sink(InfluxSettings(url=fake_influx.url, timeout=2))
    with pytest.raises(kind, match="nope: details") as caught:
        sink.write(b"m f=1.0 1")
    if isinstance(caught.value, RetryableSinkError):
        assert caught.value.retry_after == retry_after
    else:
        assert isinstance(caught.value, PermanentSinkError | MisconfiguredSinkError)
        assert caught.value.status == status
    sink.close()


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (204, MisconfiguredSinkError),
        (200, MisconfiguredSinkError),
        (400, MisconfiguredSinkError),
        (404, MisconfiguredSinkError),
        (502, RetryableSinkError),
    ],
)
def test_v1_sink_an_answer_that_is_not_influxdb_is_misconfigured(
    fake_influx: FakeInflux, status: int, kind: type[Exception]
) -> None:
    fake_influx.influx = False
    fake_influx.answers.append((status, b"<html>hello</html>", {}))
    sink = V1Sink(InfluxSettings(url=fake_influx.url, timeout=2))
    with pytest.raises(kind):
        sink.check()
    sink.close()


def test_v1_sink_timeout_is_retryable(fake_influx: FakeInflux) -> None:
    fake_influx.delay = 0.5
    sink = V1Sink(InfluxSettings(url=fake_influx.url, timeout=0.1))
    with pytest.raises(RetryableSinkError, match="Timeout"):
        sink.write(b"m f=1.0 1")
    sink.close()


def test_influxql_reads_with_get_and_token(fake_influx: FakeInflux) -> None:
    body = b'{"results":[{"statement_id":0,"series":[{"name":"m","columns":["time","f"],"values":[[1,2.5]]}]}]}'
    fake_influx.answers.append((200, body, {}))
    settings = InfluxSettings(url=fake_influx.url, database="leeds", token="tok", timeout=2)
    with InfluxQL(settings) as client:
        (series,) = client.query('SELECT "f" FROM "m" WHERE "d" = $d', {"d": "x'y"})
    assert series.values == [[1, 2.5]] and series.tags == {}
    (request,) = fake_influx.requests
    assert (request.method, request.path, request.authorization) == ("GET", "/query", "Token tok")
    assert request.query["db"] == ["leeds"] and request.query["epoch"] == ["ns"]
    assert request.query["params"] == ['{"d":"x\'y"}']
    assert "chunked" not in request.query


def test_influxql_refuses_a_truncated_result(fake_influx: FakeInflux) -> None:
    body = b'{"results":[{"statement_id":0,"series":[{"name":"m","columns":["time"],"values":[[1]],"partial":true}]}]}'
    fake_influx.answers.append((200, body, {}))
    with InfluxQL(InfluxSettings(url=fake_influx.url, timeout=2)) as client:
        with pytest.raises(QueryError, match="max-row-limit"):
            client.query('SELECT "f" FROM "m"')


def test_v1_sink_connection_refused_is_retryable() -> None:
    sink = V1Sink(InfluxSettings(url=f"http://127.0.0.1:{free_port()}", timeout=1))
    with pytest.raises(RetryableSinkError):
        sink.write(b"m f=1.0 1")
    assert sink.ping() is False
    sink.close()


def test_v2_sink_writes_through_the_v2_api(fake_influx: FakeInflux) -> None:
    sink = V2Sink(v2_settings(fake_influx.url))
    sink.write(b"m,t=a f=1.0 1\nm,t=b f=2.0 2")
    (request,) = fake_influx.requests
    assert (request.method, request.path) == ("POST", "/api/v2/write")
    assert request.query["org"] == ["leeds"]
    assert request.query["bucket"] == ["leeds/raw"]
    assert request.query["precision"] == ["ns"]
    assert request.authorization == "Token s3cret"
    assert request.body == b"m,t=a f=1.0 1\nm,t=b f=2.0 2"
    sink.ensure_database()
    sink.close()


@pytest.mark.parametrize(
    ("status", "headers", "kind", "retry_after"),
    [
        (400, {}, PermanentSinkError, None),
        (422, {}, PermanentSinkError, None),
        (500, {}, RetryableSinkError, None),
        (503, {"Retry-After": "5"}, RetryableSinkError, 5.0),
        (429, {"Retry-After": "1"}, RetryableSinkError, 1.0),
        (401, {}, MisconfiguredSinkError, None),
        (404, {}, MisconfiguredSinkError, None),
    ],
)
def test_v2_sink_maps_api_errors(
    fake_influx: FakeInflux,
    status: int,
    headers: dict[str, str],
    kind: type[Exception],
    retry_after: float | None,
) -> None:
    body = b'{"code":"invalid","message":"failure writing points: bad line"}'
    fake_influx.answers.append((status, body, headers))
    sink = V2Sink(v2_settings(fake_influx.url))
    with pytest.raises(kind, match="bad line") as caught:
        sink.write(b"m f=1.0 1")
    if isinstance(caught.value, PermanentSinkError | MisconfiguredSinkError):
        assert caught.value.status == status
    else:
        assert isinstance(caught.value, RetryableSinkError)
        assert caught.value.retry_after == retry_after
    assert len(fake_influx.requests) == 1  # the client's own retries are off
    sink.close()


def test_v2_sink_connection_refused_is_retryable() -> None:
    sink = V2Sink(v2_settings(f"http://127.0.0.1:{free_port()}"))
    with pytest.raises(RetryableSinkError):
        sink.write(b"m f=1.0 1")
    assert sink.ping() is False
    sink.close()


@pytest.mark.integration
def test_v1_sink_creates_the_database_and_writes(influxdb: LocalInfluxDB, influx_db: str) -> None:
    sink = V1Sink(InfluxSettings(url=influxdb.url, database=influx_db))
    assert sink.ping()
    sink.ensure_database()
    sink.ensure_database()  # idempotent
    sink.write(b"m,dev_eui=a f=1.5 1000\nm,dev_eui=b f=2.5 2000")
    series = influxql(influxdb.url, influx_db, 'SELECT "f" FROM "m"')
    assert series[0]["values"] == [[1000, 1.5], [2000, 2.5]]
    sink.close()


@pytest.mark.integration
def test_v1_sink_recreates_a_dropped_database(influxdb: LocalInfluxDB, influx_db: str) -> None:
    sink = V1Sink(InfluxSettings(url=influxdb.url, database=influx_db))
    sink.write(b"m f=1.0 1")  # never created: 404, create, write again
    influxql(influxdb.url, influx_db, f'DROP DATABASE "{influx_db}"')
    sink.write(b"m f=1.0 1")
    assert influxql(influxdb.url, influx_db, 'SELECT count("f") FROM "m"')[0]["values"][0][1] == 1
    sink.close()


@pytest.mark.integration
def test_v1_sink_without_create_database_is_misconfigured(
    influxdb: LocalInfluxDB, influx_db: str
) -> None:
    sink = V1Sink(InfluxSettings(url=influxdb.url, database=influx_db, create_database=False))
    sink.ensure_database()
    with pytest.raises(MisconfiguredSinkError, match="database not found") as caught:
        sink.check()
    assert caught.value.status == 404
    with pytest.raises(MisconfiguredSinkError, match="database not found"):
        sink.write(b"m f=1.0 1")
    sink.close()


@pytest.mark.integration
def test_v1_sink_partial_write_is_permanent_with_influx_text(
    influxdb: LocalInfluxDB, influx_db: str
) -> None:
    sink = V1Sink(InfluxSettings(url=influxdb.url, database=influx_db))
    sink.ensure_database()
    with pytest.raises(PermanentSinkError, match="unable to parse") as caught:
        sink.write(b"m f=1.0 1\nnot line protocol\nm f=2.0 2")
    assert caught.value.status == 400
    assert influxql(influxdb.url, influx_db, 'SELECT count("f") FROM "m"')[0]["values"][0][1] == 2
    sink.close()


@pytest.mark.parametrize(
    ("status", "kind"),
    [(401, MisconfiguredSinkError), (404, MisconfiguredSinkError), (503, RetryableSinkError)],
)
def test_v2_sink_check_is_an_empty_write_with_the_token(
    fake_influx: FakeInflux, status: int, kind: type[Exception]
) -> None:
    fake_influx.answers.append((status, b'{"code":"unauthorized","message":"nope"}', {}))
    sink = V2Sink(v2_settings(fake_influx.url))
    with pytest.raises(kind):
        sink.check()
    (request,) = fake_influx.requests
    assert (request.path, request.body) == ("/api/v2/write", b"")
    assert request.query["bucket"] == ["leeds/raw"] and request.authorization == "Token s3cret"
    fake_influx.answers.append((204, b"", {}))
    sink.check()
    sink.close()

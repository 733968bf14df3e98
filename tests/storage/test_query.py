"""InfluxQL client: helpers (unit, hypothesis) and bound parameters on the real influxd."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.errors import QueryError, QueryTimeoutError
from core.settings import InfluxSettings
from leedswin.services import LocalInfluxDB, free_port
from storage.influx import V1Sink
from storage.points import encode, make_point
from storage.query import (
    InfluxQL,
    duration_literal,
    duration_ns,
    quote_ident,
    time_literal,
    time_ns,
)

T0 = 1_700_000_000_000_000_000


@pytest.mark.parametrize("text", ["15m", "1h", "1d", "7d", "2w", "30s", "500ms", "123456789h"])
def test_duration_literal_accepts_plain_durations(text: str) -> None:
    assert duration_literal(text) == text


@pytest.mark.parametrize(
    "text",
    [
        "",
        "0m",
        "01h",
        "1",
        "h",
        "1H",
        "1h30m",
        "1.5h",
        "-1h",
        " 1h",
        "1h ",
        "1h)",
        "1y",
        "1mo",
        "1h; DROP DATABASE x",
        "1u",
        "1ns",
        "1234567890s",
    ],
)
def test_duration_literal_refuses_everything_else(text: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        duration_literal(text)


@given(st.text(max_size=12))
def test_duration_literal_is_a_strict_whitelist(text: str) -> None:
    try:
        duration_literal(text)
    except ValueError:
        return
    assert text.isascii() and text[0] in "123456789" and text.rstrip("mshdw").isdigit()


def test_duration_ns() -> None:
    assert duration_ns("15m") == 15 * 60 * 10**9
    assert duration_ns("250ms") == 250 * 10**6
    assert duration_ns("1w") == 7 * 86_400 * 10**9


def test_time_helpers() -> None:
    moment = datetime(2026, 11, 23, 21, 0, 0, 500_000, tzinfo=UTC)
    assert time_literal(moment) == "'2026-11-23T21:00:00.5Z'"
    assert time_literal(moment.replace(microsecond=0)) == "'2026-11-23T21:00:00Z'"
    plus_one = moment.astimezone(timezone(timedelta(hours=1)))
    assert time_literal(plus_one) == "'2026-11-23T21:00:00.5Z'"
    assert time_ns(plus_one) == int(moment.timestamp()) * 10**9 + 500_000_000
    with pytest.raises(ValueError, match="naive"):
        time_ns(datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="naive"):
        time_literal(datetime(2026, 1, 1))


def test_quote_ident() -> None:
    assert quote_ident("climate") == '"climate"'
    assert quote_ident('a"b\\c') == '"a\\"b\\\\c"'
    with pytest.raises(ValueError):
        quote_ident("")


def test_bad_params_are_refused_before_sending() -> None:
    with InfluxQL(InfluxSettings(url=f"http://127.0.0.1:{free_port()}")) as client:
        with pytest.raises(QueryError, match="parameter name"):
            client.query("SELECT * FROM m WHERE a = $a", {"a b": "x"})
        with pytest.raises(QueryError, match="must be str"):
            client.query("SELECT * FROM m WHERE a = $a", {"a": [1]})  # type: ignore[dict-item]
        with pytest.raises(QueryError, match="not finite"):
            client.query("SELECT * FROM m WHERE a = $a", {"a": float("nan")})


def test_unreachable_server_is_a_query_error_naming_the_statement() -> None:
    with InfluxQL(InfluxSettings(url=f"http://127.0.0.1:{free_port()}", timeout=1)) as client:
        with pytest.raises(QueryError, match="SELECT 1"):
            client.query("SELECT 1")
        assert client.ping() is False


HOSTILE = ["x' OR dev_eui='a", 'x" OR "dev_eui"=\'a', "a\\b", "a' ; DROP DATABASE x; --", "é ☃ 🌧"]


@pytest.fixture
def loaded(influxdb: LocalInfluxDB, influx_db: str) -> Iterator[InfluxQL]:
    settings = InfluxSettings(url=influxdb.url, database=influx_db)
    sink = V1Sink(settings)
    sink.ensure_database()
    points = [
        make_point(
            "climate", {"dev_eui": dev, "privacy": privacy}, {"temperature": 20.0 + i}, T0 + i
        )
        for i, (dev, privacy) in enumerate(
            [("a", "public"), ("b", "public"), ("h", "home")] + [(h, "public") for h in HOSTILE]
        )
    ]
    try:
        sink.write(encode(points))
    finally:
        sink.close()
    with InfluxQL(settings) as client:
        yield client


@pytest.mark.integration
def test_select_returns_series_in_epoch_ns(loaded: InfluxQL) -> None:
    (series,) = loaded.query('SELECT "temperature" FROM "climate" WHERE "dev_eui" = $d', {"d": "b"})
    assert series.name == "climate"
    assert series.columns == ["time", "temperature"]
    assert series.values == [[T0 + 1, 21.0]]
    assert list(series.records()) == [{"time": T0 + 1, "temperature": 21.0}]


@pytest.mark.integration
def test_group_by_tags_fill_series_tags(loaded: InfluxQL) -> None:
    result = loaded.query('SELECT last("temperature") FROM "climate" GROUP BY "privacy"')
    assert {s.tags["privacy"]: s.values[0][1] for s in result} == {"home": 22.0, "public": 27.0}


@pytest.mark.integration
def test_time_bounds_bind_as_ns_integers_and_rfc3339_strings(loaded: InfluxQL) -> None:
    q = 'SELECT "temperature" FROM "climate" WHERE time >= $start AND time < $end'
    by_int = loaded.query(q, {"start": T0 + 1, "end": T0 + 3})
    assert [row[0] for row in by_int[0].values] == [T0 + 1, T0 + 2]
    start = datetime.fromtimestamp(T0 // 10**9, UTC)
    by_text = loaded.query(q, {"start": time_literal(start).strip("'"), "end": time_ns(start) + 2})
    assert [row[0] for row in by_text[0].values] == [T0, T0 + 1]


@pytest.mark.integration
@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_tag_value_is_data_not_query(loaded: InfluxQL, hostile: str) -> None:
    result = loaded.query(
        'SELECT "temperature", "dev_eui" FROM "climate" WHERE "dev_eui" = $d', {"d": hostile}
    )
    assert [row[2] for row in result[0].values] == [hostile]


def tag_values(
    client: InfluxQL,
    measurement: str,
    key: str,
    where: str = "",
    params: dict[str, str] | None = None,
) -> list[str]:
    """Sorted distinct values of a tag, through ``query`` and its bound parameters."""
    q = f"SHOW TAG VALUES FROM {quote_ident(measurement)} WITH KEY = {quote_ident(key)}"
    q += f" WHERE {where}" if where else ""
    return sorted({str(row[1]) for series in client.query(q, params) for row in series.values})


@pytest.mark.integration
def test_injection_attempt_matches_nothing_and_leaks_no_home(loaded: InfluxQL) -> None:
    q = (
        'SELECT "temperature", "dev_eui" FROM "climate" '
        'WHERE "privacy" = \'public\' AND "dev_eui" = $d'
    )
    assert loaded.query(q, {"d": "nobody' OR privacy='home"}) == []
    assert loaded.query(q, {"d": "h"}) == []
    assert tag_values(loaded, "climate", "dev_eui", "\"privacy\" = 'home'") == ["h"]


@pytest.mark.integration
def test_tag_values_with_bound_where(loaded: InfluxQL) -> None:
    assert tag_values(loaded, "climate", "privacy") == ["home", "public"]
    assert tag_values(loaded, "climate", "dev_eui", '"privacy" = $p', {"p": "home"}) == ["h"]
    assert tag_values(loaded, "climate", "dev_eui", '"dev_eui" = $d', {"d": HOSTILE[0]}) == [
        HOSTILE[0]
    ]
    assert tag_values(loaded, "nothing", "dev_eui") == []


@pytest.mark.integration
def test_errors_name_the_statement(loaded: InfluxQL) -> None:
    with pytest.raises(QueryError, match="SELEC nonsense"):
        loaded.query("SELEC nonsense")
    with pytest.raises(QueryError, match="missing parameter: d"):
        loaded.query('SELECT * FROM "climate" WHERE "dev_eui" = $d')
    with pytest.raises(QueryError, match=r"statement 0\).*not compatible"):
        loaded.query('SELECT * FROM "climate" WHERE time > now() - $d', {"d": "1h"})


@pytest.mark.integration
def test_post_for_statements_that_change_things(influxdb: LocalInfluxDB, influx_db: str) -> None:
    with InfluxQL(InfluxSettings(url=influxdb.url, database=influx_db)) as client:
        assert client.query(f"CREATE DATABASE {quote_ident(influx_db)}") == []
        names = [row[0] for s in client.query("SHOW DATABASES") for row in s.values]
        assert influx_db in names


@pytest.mark.integration
def test_quote_ident_round_trips_a_strange_measurement(
    influxdb: LocalInfluxDB, influx_db: str
) -> None:
    settings = InfluxSettings(url=influxdb.url, database=influx_db)
    sink = V1Sink(settings)
    sink.ensure_database()
    name = 'we"ird \\name,x'
    field = 'f "q"'
    sink.write(encode([make_point(name, {}, {field: 1.5}, T0)]))
    sink.close()
    with InfluxQL(settings) as client:
        (series,) = client.query(f"SELECT {quote_ident(field)} FROM {quote_ident(name)}")
    assert series.name == name and series.values == [[T0, 1.5]]


def test_a_server_that_does_not_answer_in_time_is_a_timeout_error() -> None:
    """A listening socket that never answers: the typed timeout the rollup job splits on."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        settings = InfluxSettings(url=f"http://127.0.0.1:{port}", database="x", timeout=0.2)
        with InfluxQL(settings) as client, pytest.raises(QueryTimeoutError):
            client.query("SELECT * FROM m")

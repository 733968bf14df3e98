"""Shared fixtures: one private Mosquitto and one private InfluxDB per test session.

Tests isolate themselves by database name (``influx_db``) and topic prefix,
never by mocking the servers.
"""

from __future__ import annotations

import json
import os
import tempfile
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from leedswin.services import LocalInfluxDB, LocalMosquitto
from storage.query import spanning

# A `make demo` run in this checkout leaves ./.leedswin/demo.env, which every settings build
# reads: point the tests at a directory that does not exist, so its servers never leak in.
os.environ["LEEDSWIN_HOME"] = os.path.join(tempfile.gettempdir(), f"leedswin-tests-{os.getpid()}")
# Likewise a host's /etc/leedswin/leedswin.toml: an empty configuration file instead.
os.environ["LEEDSWIN_CONFIG"] = os.devnull


@pytest.fixture(scope="session")
def mosquitto() -> Iterator[LocalMosquitto]:
    with LocalMosquitto() as server:
        yield server


@pytest.fixture(scope="session")
def influxdb() -> Iterator[LocalInfluxDB]:
    with LocalInfluxDB() as server:
        yield server


@pytest.fixture(scope="session")
def home_influxdb() -> Iterator[LocalInfluxDB]:
    """A second InfluxDB: the home database's server of its own (``InfluxSettings.home_url``)."""
    with LocalInfluxDB() as server:
        yield server


@pytest.fixture
def influx_db(influxdb: LocalInfluxDB) -> str:
    """A fresh database name on the session's InfluxDB (created by whoever writes first)."""
    return f"t_{uuid.uuid4().hex[:12]}"


def influxql(url: str, database: str, query: str, *, home: bool = True) -> list[dict[str, Any]]:
    """Run InfluxQL over /query; the series of the first statement (empty list if none).

    A SELECT reads ``database`` and, with ``home``, its home database
    (``<database>_home``, where the writers put home points) as one.
    """
    if home and query.lstrip().upper().startswith("SELECT"):
        try:
            return influxql(
                url,
                database,
                spanning(query, (database, None), (f"{database}_home", None)),
                home=False,
            )
        except AssertionError as exc:
            if f"database not found: {database}_home" not in str(exc):
                raise
    params = urllib.parse.urlencode({"db": database, "q": query, "epoch": "ns"})
    with urllib.request.urlopen(f"{url}/query?{params}", timeout=30) as response:
        body = json.loads(response.read())
    result = body["results"][0]
    if "error" in result:
        raise AssertionError(f"{query}: {result['error']}")
    return list(result.get("series", []))

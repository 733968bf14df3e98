"""Home data on an InfluxDB server of their own (``InfluxSettings.home_url``).

On a shared 1.x server any user reads every running query (``SHOW QUERIES``)
and anyone reads per-database counters (``/debug/vars``). With ``home_url``
the writer, the readers, provisioning, erasure and reclassification each
reach the home database on its own server, and nothing of it on the public one.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from core.errors import QueryError
from core.settings import InfluxSettings
from leedswin.services import LocalInfluxDB
from storage.erasure import DeviceRange, count_points, delete_points, measurements
from storage.influx import make_sink
from storage.points import encode, make_point
from storage.provision import Account, apply_retention, plan, provision, servers
from storage.query import InfluxQL, Series, merge_series
from storage.reclassify import move_device
from tests.conftest import influxql

HOME, PUBLIC = "a000000000000001", "b000000000000002"
T0 = 1_760_000_000_000_000_000


def _settings(public: LocalInfluxDB, home: LocalInfluxDB, database: str) -> InfluxSettings:
    return InfluxSettings(url=public.url, home_url=home.url, database=database)


def _write(settings: InfluxSettings) -> None:
    sink = make_sink(settings)
    sink.ensure_database()
    points = []
    for i in range(20):
        for dev, privacy, site in ((HOME, "home", "home-0001"), (PUBLIC, "public", "briggate")):
            tags = {"dev_eui": dev, "model": "elsys_ers", "site": site, "privacy": privacy}
            points.append(make_point("climate", tags, {"temperature": 20.0 + i}, T0 + i * 10**9))
            points.append(make_point("uplink", tags, {"f_cnt": i}, T0 + i * 10**9))
    sink.write(encode(points))
    sink.close()


def _count(url: str, database: str, dev: str) -> int:
    try:
        series = influxql(
            url,
            database,
            f"SELECT count(\"f_cnt\") FROM uplink WHERE dev_eui = '{dev}'",
            home=False,
        )
    except AssertionError as exc:
        assert "database not found" in str(exc)
        return 0
    return int(series[0]["values"][0][1]) if series else 0


@pytest.mark.integration
def test_writer_and_readers_keep_home_data_on_their_own_server(
    influxdb: LocalInfluxDB, home_influxdb: LocalInfluxDB, influx_db: str
) -> None:
    settings = _settings(influxdb, home_influxdb, influx_db)
    _write(settings)
    assert _count(influxdb.url, influx_db, PUBLIC) == 20
    assert _count(influxdb.url, settings.home_db, HOME) == 0  # no home database here at all
    assert _count(home_influxdb.url, settings.home_db, HOME) == 20
    assert _count(home_influxdb.url, settings.home_db, PUBLIC) == 0
    assert settings.home_db not in httpx.get(f"{influxdb.url}/debug/vars").text

    with InfluxQL(settings) as client:
        # One answer from both servers, as from one server holding both databases.
        series = client.query(
            'SELECT mean("temperature") FROM climate WHERE time >= $t GROUP BY "dev_eui"',
            {"t": T0},
        )
        assert {s.tags["dev_eui"]: s.values[0][1] for s in series} == {HOME: 29.5, PUBLIC: 29.5}
        by_site = client.query('SELECT count("f_cnt") FROM uplink GROUP BY "site"')
        assert {s.tags["site"]: s.values[0][1] for s in by_site} == {
            "briggate": 20,
            "home-0001": 20,
        }
        # database=<home database> goes to the home server.
        assert client.query("SHOW MEASUREMENTS", database=settings.home_db)
        assert client.ping()
    with InfluxQL(settings.public(), include_home=False) as public:
        assert {
            s.tags.get("dev_eui")
            for s in public.query('SELECT count("f_cnt") FROM uplink GROUP BY "dev_eui"')
        } == {PUBLIC}


@pytest.mark.integration
def test_a_statement_about_a_home_device_site_or_privacy_reaches_only_the_home_server(
    influx_db: str, tmp_path: Path
) -> None:
    """Any user of a 1.x server reads its running statements: a housing question naming a
    home DevEUI or home site, or asking for ``privacy = 'home'``, must not reach the public
    server at all (its own HTTP access log is the witness)."""
    with (
        LocalInfluxDB(tmp_path / "public", access_log=True) as public,
        LocalInfluxDB(tmp_path / "home", access_log=True) as home,
    ):
        settings = _settings(public, home, influx_db)
        _write(settings)
        count = 'SELECT count("f_cnt") FROM uplink WHERE '
        with InfluxQL(settings) as client:
            for where, params in (
                ('"dev_eui" = $dev', {"dev": HOME}),
                ('"site" = $site', {"site": "home-0001"}),
                (f"\"dev_eui\" = '{HOME}'", None),
                ('"privacy" = $p', {"p": "home"}),
            ):
                assert client.query(count + where, params)[0].values[0][1] == 20
            # A public device's or site's statement still reads both (nothing to hide there).
            assert (
                client.query(count + '"site" = $site', {"site": "briggate"})[0].values[0][1] == 20
            )
            assert client.query(count + '"privacy" = $p', {"p": "public"})[0].values[0][1] == 20
        public_log = public.log_path.read_text()
        assert HOME not in public_log and "home-0001" not in public_log
        assert "%22home%22" not in public_log  # the JSON-encoded ``params`` of privacy=home
        assert HOME in home.log_path.read_text()


@pytest.mark.integration
def test_erasure_and_reclassification_reach_the_home_server(
    influxdb: LocalInfluxDB, home_influxdb: LocalInfluxDB, influx_db: str
) -> None:
    settings = _settings(influxdb, home_influxdb, influx_db)
    _write(settings)
    report = move_device(settings, PUBLIC, "home")
    assert report.moved == {"climate": 20, "uplink": 20}
    assert _count(influxdb.url, influx_db, PUBLIC) == 0
    assert _count(home_influxdb.url, settings.home_db, PUBLIC) == 20

    span = DeviceRange(HOME, T0, T0 + 10**12)
    with InfluxQL(settings, include_home=False) as client:
        found = measurements(client, settings.home_db, HOME)
        assert sorted(found) == ["climate", "uplink"]
        assert count_points(client, settings.home_db, "uplink", span) == 20
        for measurement in found:
            delete_points(client, settings.home_db, measurement, span)
    assert _count(home_influxdb.url, settings.home_db, HOME) == 0


@pytest.mark.integration
def test_provisioning_two_servers_gives_the_public_role_nothing_on_the_home_one() -> None:
    admin = Account("admin", "admin-pw")
    accounts = {
        "bridge": Account("bridge", "b-pw"),
        "housing": Account("housing", "h-pw"),
        "public": Account("public", "p-pw"),
    }
    with LocalInfluxDB(auth=True) as public, LocalInfluxDB(auth=True) as home:
        settings = InfluxSettings(url=public.url, home_url=home.url, database="city")
        assert servers(settings) == ("public", "home")
        provision(settings, admin, accounts)  # type: ignore[arg-type]

        def ask(server: LocalInfluxDB, who: Account, q: str, db: str) -> httpx.Response:
            return httpx.get(
                f"{server.url}/query", params={"q": q, "db": db}, auth=(who.username, who.password)
            )

        databases = ask(public, admin, "SHOW DATABASES", "city").json()
        assert ["city_home"] not in databases["results"][0]["series"][0]["values"]
        assert ask(home, accounts["public"], "SHOW QUERIES", "city_home").status_code == 401
        assert ask(home, accounts["housing"], "SHOW MEASUREMENTS", "city_home").status_code == 200
        users = ask(home, admin, "SHOW USERS", "city_home").json()["results"][0]["series"][0]
        assert sorted(row[0] for row in users["values"]) == ["admin", "bridge", "housing"]
        # The script form of the same, per server: no public account on the home one.
        assert not any('"public"' in line for line in plan(settings, admin, accounts, "home"))  # type: ignore[arg-type]
        assert any('"public"' in line for line in plan(settings, admin, accounts, "public"))  # type: ignore[arg-type]
        applied = apply_retention(
            InfluxSettings(
                url=public.url,
                home_url=home.url,
                database="city",
                username="admin",
                password="admin-pw",
                home_retention="30d",
            )
        )
        assert ("city_home", "autogen", "30d") in applied
        policies = ask(home, admin, 'SHOW RETENTION POLICIES ON "city_home"', "city_home").json()
        assert policies["results"][0]["series"][0]["values"][0][1] == "720h0m0s"


def test_merge_series_puts_the_two_servers_answers_together() -> None:
    a = Series("m", {"site": "x"}, ["time", "v"], [[2, 1.0]])
    b = Series("m", {"site": "x"}, ["time", "v"], [[1, 2.0]])
    c = Series("m", {"site": "y"}, ["time", "v"], [[1, 3.0]])
    merged = merge_series([a], [b, c], "SELECT v FROM m")
    assert [(s.tags["site"], s.values) for s in merged] == [
        ("x", [[1, 2.0], [2, 1.0]]),
        ("y", [[1, 3.0]]),
    ]
    with pytest.raises(QueryError, match="spans the public and the home server"):
        merge_series(
            [a], [Series("m", {"site": "x"}, ["time", "v"], [[2, 5.0]])], 'SELECT mean("x") AS v'
        )


def test_merge_series_combines_counts_sums_and_extremes_of_one_group() -> None:
    q = 'SELECT count("error") AS n, sum("x"), min("x") AS lo, max("x"), count(*) FROM m'
    columns = ["time", "n", "sum", "lo", "max", "count_f"]
    public = [Series("m", {"dev_eui": "x"}, columns, [[5, 2, 1.5, 0.5, 9.0, 3]])]
    home = [Series("m", {"dev_eui": "x"}, columns, [[5, 3, 2.0, 0.25, None, 4]])]
    (merged,) = merge_series(public, home, q)
    assert merged.values == [[5, 5, 3.5, 0.25, 9.0, 7]]

"""End to end on the real InfluxDB: raw readings in, derived series and alerts out."""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from core.settings import InfluxSettings, InsightsSettings
from insights import awaab
from insights.alerts import AlertStore
from insights.jobs import InsightsJobs, InsightsScheduler
from leedswin.services import LocalInfluxDB
from storage.influx import V1Sink
from storage.points import Point, encode, make_point
from storage.query import InfluxQL
from storage.registry import open_registry
from tests.conftest import influxql

pytestmark = pytest.mark.integration

UNTIL = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)  # a Monday
HOUR = timedelta(hours=1)
#: A people counter whose running totals are declared 16-bit cumulative.
VS121 = "milesight-vs121"


def ns(moment: datetime) -> int:
    return int(moment.timestamp()) * 1_000_000_000


def tags(dev: str, site: str, privacy: str, need: str, model: str | None = None) -> dict[str, str]:
    """Tags as the bridge writes them. Counters default to a model that declares its
    counters (the job counts no other); other needs to a model no rule depends on."""
    if model is None:
        model = VS121 if need == "footfall" else "test-model"
    return {"dev_eui": dev, "model": model, "site": site, "privacy": privacy, "need": need}


@pytest.fixture
def env(
    influxdb: LocalInfluxDB, influx_db: str, tmp_path: Path
) -> Iterator[tuple[InsightsJobs, V1Sink, AlertStore, str]]:
    settings = InfluxSettings(url=influxdb.url, database=influx_db)
    sink = V1Sink(settings)
    sink.ensure_database()
    query = InfluxQL(settings)
    alerts = AlertStore(open_registry(tmp_path / "registry.sqlite3"))
    jobs = InsightsJobs(InsightsSettings(), query, sink, alerts)
    yield jobs, sink, alerts, influx_db
    query.close()
    sink.close()


def write(sink: V1Sink, points: list[Point]) -> None:
    shuffled = points[:]
    random.Random(7).shuffle(shuffled)  # delivery order must not matter
    sink.write(encode(shuffled))


def climate(dev: str, start: datetime, hours: int, temperature: float, rh: float) -> list[Point]:
    """Two readings an hour, like a 30-minute sensor."""
    return [
        make_point(
            "climate",
            tags(dev, f"home-{dev}", "home", "damp"),
            {"temperature": temperature, "relative_humidity": rh},
            ns(start + i * timedelta(minutes=30)),
        )
        for i in range(hours * 2)
    ]


def test_damp_week_raises_high_alert_with_deadlines_and_dry_home_stays_low(
    env: tuple[InsightsJobs, V1Sink, AlertStore, str], influxdb: LocalInfluxDB
) -> None:
    jobs, sink, alerts, db = env
    start = UNTIL - timedelta(days=9)
    write(sink, climate("d0000000000000a1", start, 9 * 24, 19.0, 80.0))  # damp
    write(sink, climate("d0000000000000b2", start, 9 * 24, 20.5, 45.0))  # dry
    # A public climate sensor is not a home: never assessed.
    sink.write(
        encode(
            [
                make_point(
                    "climate",
                    tags("c1", "park", "public", "damp"),
                    {"temperature": 10.0, "relative_humidity": 99.0},
                    ns(start),
                )
            ]
        )
    )

    report = jobs.run(start, UNTIL)
    assert report.errors == []
    assert report.damp_homes == 2

    latest = {
        s["tags"]["dev_eui"]: dict(zip(s["columns"], s["values"][0], strict=True))
        for s in influxql(
            influxdb.url,
            db,
            'SELECT * FROM "damp_risk" GROUP BY "dev_eui" ORDER BY time DESC LIMIT 1',
        )
    }
    assert set(latest) == {"d0000000000000a1", "d0000000000000b2"}
    assert latest["d0000000000000a1"]["risk"] == "high"
    assert latest["d0000000000000a1"]["privacy"] == "home"
    assert latest["d0000000000000b2"]["risk"] == "low"
    assert latest["d0000000000000b2"]["mould_index"] == 0.0
    assert latest["d0000000000000a1"]["surface_rh"] == pytest.approx(99.8, abs=0.01)
    assert 0 < latest["d0000000000000a1"]["mould_index"] < 1

    opened = alerts.list(status="open")
    assert [a.dev_eui for a in opened] == ["d0000000000000a1"]
    alert = opened[0]
    assert alert.level == "high"
    # The cold-spot share needs half of the 7-day window: 84 wet hours after the first reading.
    assert alert.opened_at == start + 84 * HOUR == datetime(2026, 11, 17, 12, tzinfo=UTC)
    assert alert.evidence["surface80_7d"] == 1.0
    d = alert.deadlines()
    assert d == awaab.deadlines(alert.opened_at)
    assert d.emergency == datetime(2026, 11, 18, 12, tzinfo=UTC)
    assert d.investigation == datetime(2026, 12, 2, tzinfo=UTC)  # end of Tue 1 Dec
    assert d.written_summary == datetime(2026, 12, 5, tzinfo=UTC)
    assert d.safety_work == datetime(2026, 12, 9, tzinfo=UTC)
    assert not alert.overdue(UNTIL)
    assert alert.overdue(datetime(2026, 12, 3, tzinfo=UTC))

    # Idempotent: a rerun writes the same points and opens nothing new.
    count = influxql(influxdb.url, db, 'SELECT count("risk_level") FROM "damp_risk"')[0]["values"][
        0
    ][1]
    again = jobs.run(start, UNTIL)
    assert again.alerts_opened == []
    assert (
        influxql(influxdb.url, db, 'SELECT count("risk_level") FROM "damp_risk"')[0]["values"][0][1]
        == count
    )
    assert len(alerts.list()) == 1


def test_pm_series_crossing_bands_gives_expected_daqi(
    env: tuple[InsightsJobs, V1Sink, AlertStore, str], influxdb: LocalInfluxDB
) -> None:
    jobs, sink, _, db = env
    start = UNTIL - timedelta(days=3)
    levels = [10.0] * 24 + [40.0] * 24 + [80.0] * 24
    points = [
        make_point(
            "air_quality",
            tags("aq1", "briggate", "public", "air_quality"),
            {"pm2_5": value, "pm10": value},
            ns(start + i * HOUR + timedelta(minutes=m)),
        )
        for i, value in enumerate(levels)
        for m in (5, 35)
    ]
    # A home air sensor never appears in the public index.
    points.append(
        make_point(
            "air_quality",
            tags("aqhome", "home-x", "home", "air_quality"),
            {"pm2_5": 500.0},
            ns(start),
        )
    )
    write(sink, points)

    report = jobs.run(start, UNTIL)
    assert report.errors == []
    rows = influxql(
        influxdb.url,
        db,
        'SELECT "index", "band", "pm2_5_24h", "pm2_5_index", "pm10_index", "indicative" FROM "daqi" WHERE "level" = \'device\' AND "dev_eui" = \'aq1\'',
    )[0]
    by_hour = {
        int((t - ns(start)) // 3_600_000_000_000): dict(zip(rows["columns"][1:], rest, strict=True))
        for t, *rest in rows["values"]
    }
    assert 16 not in by_hour  # 17 of 24 hours: below 75 % completeness
    assert by_hour[17]["index"] == 1 and by_hour[17]["band"] == "Low"  # 18/24 hours present
    assert by_hour[23]["pm2_5_index"] == 1 and by_hour[23]["pm10_index"] == 1
    assert by_hour[35]["pm2_5_24h"] == pytest.approx(25.0)  # 12 h at 10, 12 h at 40
    assert by_hour[35]["pm2_5_index"] == 3
    assert by_hour[47]["pm2_5_index"] == 4 and by_hour[47]["band"] == "Moderate"
    assert by_hour[59]["pm2_5_24h"] == pytest.approx(60.0)
    assert by_hour[59]["index"] == 8 and by_hour[59]["band"] == "High"
    assert by_hour[71]["index"] == 10 and by_hour[71]["band"] == "Very High"
    assert all(row["indicative"] is True for row in by_hour.values())
    site = influxql(
        influxdb.url,
        db,
        'SELECT last("index") FROM "daqi" WHERE "level" = \'site\' GROUP BY "site"',
    )
    assert {s["tags"]["site"]: s["values"][0][1] for s in site} == {"briggate": 10}


def test_wrapping_resetting_counter_gives_exact_hourly_totals(
    env: tuple[InsightsJobs, V1Sink, AlertStore, str], influxdb: LocalInfluxDB
) -> None:
    jobs, sink, _, db = env
    start = UNTIL - timedelta(hours=10)
    rng = random.Random(3)
    total_in, total_out, f_cnt = 65_500, 10, 100
    expected_in: dict[int, int] = {}
    expected_out: dict[int, int] = {}
    points: list[Point] = []
    baseline = start - timedelta(minutes=15)  # last reading before the window: the baseline
    readings = [baseline] + [start + i * timedelta(minutes=15) for i in range(40)]
    for k, moment in enumerate(readings):
        hour = int((moment - start) // HOUR)
        if k > 0:
            d_in, d_out = rng.randint(0, 40), rng.randint(0, 30)
            if k == 20:  # device reset: counters and fCnt restart, the total is the new count
                total_in, total_out, f_cnt = d_in, d_out, 0
            else:
                total_in, total_out = (total_in + d_in) % 65536, (total_out + d_out) % 65536
            expected_in[hour] = expected_in.get(hour, 0) + d_in
            expected_out[hour] = expected_out.get(hour, 0) + d_out
        f_cnt += 1
        if k == 30:  # a missed uplink: its people show up in the next reading
            continue
        fields = {"people_in": float(total_in), "people_out": float(total_out)}
        points.append(
            make_point(
                "footfall", tags("ff1", "headrow", "public", "footfall", VS121), fields, ns(moment)
            )
        )
        points.append(
            make_point(
                "uplink",
                tags("ff1", "headrow", "public", "footfall", VS121),
                {"f_cnt": f_cnt},
                ns(moment),
            )
        )
    # The reading missed at k == 30 is in hour 7, and so is k == 31 which carries it.
    write(sink, points)
    write(sink, points[:10])  # QoS 1 redelivery

    report = jobs.run(start, UNTIL)
    assert report.errors == []
    rows = influxql(
        influxdb.url,
        db,
        'SELECT "people_in", "people_out", "wraps", "resets", "gaps" FROM "footfall_counts" WHERE "period" = \'hour\' AND "level" = \'device\'',
    )[0]
    got = {int((r[0] - ns(start)) // 3_600_000_000_000): r[1:] for r in rows["values"]}
    assert {h: v[0] for h, v in got.items()} == expected_in
    assert {h: v[1] for h, v in got.items()} == expected_out
    assert sum(v[2] for v in got.values()) >= 1  # the 16-bit counter wrapped
    assert sum(v[3] for v in got.values()) == 2  # one reset, seen on both directions
    assert sum(v[4] for v in got.values()) == 2  # one fCnt gap, both directions
    day = influxql(
        influxdb.url,
        db,
        'SELECT "people_in", "hours" FROM "footfall_counts" WHERE "period" = \'day\' AND "level" = \'site\'',
    )[0]
    assert [v[1:] for v in day["values"]] == [[sum(expected_in.values()), 24]]


def test_outdoor_sensor_sets_the_cold_spot(
    influxdb: LocalInfluxDB, influx_db: str, tmp_path: Path
) -> None:
    """20 °C / 70 % indoors: high at the 5 °C default; only medium (room RH ≥ 70 %) once a
    mild outdoor sensor reads 15 °C and the cold spot stays under 80 %."""
    influx = InfluxSettings(url=influxdb.url, database=influx_db)
    sink = V1Sink(influx)
    sink.ensure_database()
    start = UNTIL - timedelta(days=8)
    home = climate("d0000000000000e5", start, 8 * 24, 20.0, 70.0)
    outdoor = [
        make_point(
            "climate",
            tags("0000000000000out", "roof", "public", "damp"),
            {"temperature": 15.0},
            ns(start + i * HOUR),
        )
        for i in range(8 * 24)
    ]
    sink.write(encode(home + outdoor))
    with InfluxQL(influx) as query:
        default = InsightsJobs(InsightsSettings(), query, sink)
        default.run(start, UNTIL)
        q = 'SELECT last("risk"), last("surface_rh"), last("outdoor_temperature") FROM "damp_risk"'
        assert influxql(influxdb.url, influx_db, q)[0]["values"][0][1:] == [
            "high",
            pytest.approx(88.5, abs=0.1),
            5.0,
        ]
        measured = InsightsJobs(InsightsSettings(outdoor_dev_eui="0000000000000out"), query, sink)
        measured.run(start, UNTIL)
        assert influxql(influxdb.url, influx_db, q)[0]["values"][0][1:] == [
            "medium",
            pytest.approx(75.7, abs=0.1),
            15.0,
        ]
    sink.close()


def test_footfall_day_with_clock_change_has_25_hours(
    env: tuple[InsightsJobs, V1Sink, AlertStore, str], influxdb: LocalInfluxDB
) -> None:
    """Sunday 25 Oct 2026, BST ends: the London day has 25 hourly counts; week-on-week
    compares with Sunday 18 Oct at the same wall-clock time."""
    jobs, sink, _, db = env
    first = datetime(2026, 10, 16, 23, tzinfo=UTC)  # 00:00 BST on Saturday 17 October
    end = datetime(2026, 10, 26, 0, tzinfo=UTC)  # 00:00 GMT on Monday 26 October
    points = []
    for i in range(int((end - first) / HOUR) + 1):
        moment = first + i * HOUR
        t = tags("ff9", "briggate", "public", "footfall", VS121)
        points.append(
            make_point("footfall", t, {"people_in": float(7 * i), "people_out": 0.0}, ns(moment))
        )
        points.append(make_point("uplink", t, {"f_cnt": i}, ns(moment)))
    sink.write(encode(points))
    report = jobs.run(datetime(2026, 10, 25, tzinfo=UTC) - HOUR, end)
    assert report.errors == []
    days = influxql(
        influxdb.url,
        db,
        'SELECT "people_in", "hours", "week_ago_in" FROM "footfall_counts" WHERE "period" = \'day\' AND "level" = \'site\'',
    )[0]["values"]
    assert [row[1:] for row in days] == [[7 * 25, 25, 7 * 24]]
    assert days[0][0] == ns(datetime(2026, 10, 24, 23, tzinfo=UTC))


def test_no2_in_ppm_is_converted_by_the_models_declared_unit(
    env: tuple[InsightsJobs, V1Sink, AlertStore, str], influxdb: LocalInfluxDB
) -> None:
    """uRADMonitor declares NO2 in ppm: 0.25 ppm is 477.5 µg/m³ (index 8) with no setting."""
    jobs, sink, _, db = env
    start = UNTIL - timedelta(hours=4)
    points = [
        make_point(
            "air_quality",
            tags("ur1", "park-row", "public", "air_quality", model="uradmonitor-industrial"),
            {"no2": 0.25},
            ns(start + i * HOUR + timedelta(minutes=10)),
        )
        for i in range(4)
    ]
    write(sink, points)
    assert jobs.run(start, UNTIL).errors == []
    rows = influxql(
        influxdb.url,
        db,
        'SELECT last("no2_1h"), last("no2_index") FROM "daqi" WHERE "dev_eui" = \'ur1\'',
    )[0]
    assert rows["values"][0][1] == pytest.approx(0.25 * 1000 * 1.91, rel=0.01)
    assert rows["values"][0][2] == 8


def footfall_reading(
    dev: str, model: str, moment: datetime, f_cnt: int, fields: dict[str, float]
) -> list[Point]:
    """What the bridge writes for one counter uplink: the readings and the ``uplink`` point."""
    t = tags(dev, "kirkgate", "public", "footfall", model)
    return [
        make_point("footfall", t, fields, ns(moment)),
        make_point("uplink", t, {"f_cnt": f_cnt}, ns(moment)),
    ]


def test_row_without_people_out_is_missing_not_a_reset(
    env: tuple[InsightsJobs, V1Sink, AlertStore, str], influxdb: LocalInfluxDB
) -> None:
    """Issue 17.5: one row with people_in but no people_out. Read as 0 it became a reset
    and the day showed 935 out; the day's true figures are 25 in and 25 out."""
    jobs, sink, _, db = env
    day = datetime(2026, 11, 20, tzinfo=UTC)  # a London day (GMT)
    points = footfall_reading(
        "ffm", VS121, day - timedelta(minutes=10), 40, {"people_in": 1000.0, "people_out": 910.0}
    )
    for k in range(1, 6):
        fields = {"people_in": 1000.0 + 5 * k, "people_out": 910.0 + 5 * k}
        if k == 3:
            del fields["people_out"]
        points += footfall_reading("ffm", VS121, day + k * 2 * HOUR, 40 + k, fields)
    write(sink, points)
    report = jobs.run(day, day + timedelta(days=1))
    assert report.errors == [] and report.footfall_devices == 1
    rows = influxql(
        influxdb.url,
        db,
        'SELECT "people_in", "people_out", "net", "resets" FROM "footfall_counts"'
        " WHERE \"period\" = 'day' AND \"level\" = 'device'",
    )[0]["values"]
    assert [r[1:] for r in rows] == [[25, 25, 0, 0]]


def test_vs133_32_bit_reset_and_period_cross_check(
    env: tuple[InsightsJobs, V1Sink, AlertStore, str], influxdb: LocalInfluxDB
) -> None:
    """Issue 10.6: the VS133 declares 32-bit totals, so 50,010 → 12 within an hour is a reset
    counting 12, not a 16-bit wrap of 15,538. Its own period counts cross-check the totals."""
    jobs, sink, _, db = env
    hour = UNTIL - 3 * HOUR
    points: list[Point] = []
    readings = [  # (minute, fCnt, total in, period in)
        (-10, 7, 50_000, 4),
        (10, 8, 50_010, 10),
        (30, 9, 12, 12),  # counters cleared on the device: a reset
        (50, 10, 20, 9),  # the totals say 8: flagged
    ]
    for minute, f_cnt, total, period in readings:
        fields = {
            "people_in": float(total),
            "people_out": 0.0,
            "period_in": float(period),
            "period_out": 0.0,
        }
        points += footfall_reading(
            "ff133", "milesight-vs133", hour + timedelta(minutes=minute), f_cnt, fields
        )
    write(sink, points)
    assert jobs.run(hour, UNTIL).errors == []
    rows = influxql(
        influxdb.url,
        db,
        'SELECT "people_in", "resets", "wraps", "period_mismatches" FROM "footfall_counts"'
        " WHERE \"period\" = 'hour' AND \"level\" = 'device'",
    )[0]["values"]
    assert [r[1:] for r in rows] == [[10 + 12 + 8, 1, 0, 1]]


def test_model_without_counter_declaration_is_not_guessed(
    env: tuple[InsightsJobs, V1Sink, AlertStore, str], influxdb: LocalInfluxDB
) -> None:
    jobs, sink, _, db = env
    points = footfall_reading("ffx", "test-model", UNTIL - 2 * HOUR, 1, {"people_in": 5.0})
    points += footfall_reading("ffx", "test-model", UNTIL - HOUR, 2, {"people_in": 9.0})
    write(sink, points)
    report = jobs.run(UNTIL - 3 * HOUR, UNTIL)
    assert report.footfall_undeclared == ["ffx (test-model)"]
    assert report.footfall_points == 0
    assert influxql(influxdb.url, db, 'SELECT * FROM "footfall_counts"') == []


def _raw_history(until: datetime, days: int) -> list[Point]:
    """Twelve days of a damp home, an air-quality device and a VS133 counter, with the
    faults the rules are for: missing hours, x.5 band edges, a skewed clock, a glitch,
    a rejoin and a row without people_out."""
    rng = random.Random(11)
    start = until - timedelta(days=days)
    points: list[Point] = []
    for h in range(days * 24):
        moment = start + h * HOUR
        if h % 37 != 5:  # some hours with no climate reading
            points.append(
                make_point(
                    "climate",
                    tags("d00000000000c0de", "home-c", "home", "damp"),
                    {
                        "temperature": 17.0 + rng.random() * 4,
                        "relative_humidity": 70 + rng.random() * 20,
                    },
                    ns(moment + timedelta(minutes=7)),
                )
            )
        if h % 29 != 3:
            no2 = rng.choice([45.6, 200.5, 67.5, 134.5, rng.random() * 300])
            points.append(
                make_point(
                    "air_quality",
                    tags("aq7", "vicar-lane", "public", "air_quality"),
                    {"no2": no2, "pm2_5": rng.choice([11.5, 23.5, 35.5, rng.random() * 60])},
                    ns(moment + timedelta(minutes=20)),
                )
            )
    total_in, total_out, f_cnt = 40_000, 39_000, 300
    for k in range(days * 24 * 6):  # every 10 minutes
        moment = start + k * timedelta(minutes=10)
        d_in, d_out = rng.randint(0, 12), rng.randint(0, 12)
        total_in, total_out = total_in + d_in, total_out + d_out
        f_cnt = 0 if k == days * 24 * 6 - 200 else f_cnt + 1  # a rejoin two days before the end
        stamped = moment - timedelta(minutes=15) if k % 97 == 0 else moment  # clock skew
        fields = {
            "people_in": float(total_in),
            "people_out": float(total_out),
            "period_in": float(d_in),
            "period_out": float(d_out),
        }
        if k % 113 == 0:
            fields["people_in"] = 0.0  # a one-uplink glitch
        if k % 131 == 0:
            del fields["people_out"]
        points += footfall_reading("ff7", "milesight-vs133", stamped, f_cnt, fields)
    return points


def test_backfill_and_scheduled_run_write_identical_points(
    influxdb: LocalInfluxDB, influx_db: str
) -> None:
    """Issue 17 proof: a 10-day backfill and the scheduled job (the last 48 hours, less
    history loaded) produce the same daqi, damp_risk and footfall_counts points."""
    raw = InfluxSettings(url=influxdb.url, database=influx_db)
    out_backfill = InfluxSettings(url=influxdb.url, database=influx_db + "_bf")
    out_scheduled = InfluxSettings(url=influxdb.url, database=influx_db + "_sc")
    sinks = [V1Sink(raw), V1Sink(out_backfill), V1Sink(out_scheduled)]
    raw_sink, bf, sc = sinks
    settings = InsightsSettings(recompute_hours=48)
    try:
        for sink in sinks:
            sink.ensure_database()
        raw_sink.write(encode(_raw_history(UNTIL, 12)))
        with InfluxQL(raw) as query:
            report = InsightsJobs(settings, query, bf).run(UNTIL - timedelta(days=10), UNTIL)
            assert report.errors == [] and report.footfall_devices == 1
            scheduler = InsightsScheduler(
                settings,
                threading.Event(),
                jobs=InsightsJobs(settings, query, sc),
                clock=lambda: UNTIL,
            )
            assert scheduler.tick().errors == []
    finally:
        for sink in sinks:
            sink.close()
    since = ns(UNTIL - 48 * HOUR)
    for measurement in ("daqi", "damp_risk", "footfall_counts"):
        q = f'SELECT * FROM "{measurement}" WHERE time >= {since} GROUP BY *'
        backfilled = influxql(influxdb.url, out_backfill.database, q)
        scheduled = influxql(influxdb.url, out_scheduled.database, q)
        assert scheduled, measurement
        assert backfilled == scheduled, measurement
    flags = influxql(
        influxdb.url,
        out_scheduled.database,
        'SELECT sum("glitches"), sum("reordered"), sum("period_mismatches") FROM "footfall_counts"'
        " WHERE \"period\" = 'hour' AND \"level\" = 'device'",
    )[0]["values"][0][1:]
    assert flags[0] >= 1 and flags[1] >= 1  # the faults were seen
    assert flags[2] == 0  # and the period counts agree with the cleaned differences

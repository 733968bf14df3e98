"""Housing damp risk in tenants' homes: personal data, deployed only to the restricted folder.

Open alerts and their Awaab's Law deadlines live in the SQLite alert store,
not in InfluxDB (``insights.alerts``; the API serves them at
``/v1/housing/alerts``). Grafana's InfluxDB datasource cannot reach them, so
the "Homes at high or severe risk" table shows what InfluxDB does know: when
each home's hourly assessment first reached high or severe in the range. The
statutory deadlines are counted in working days from the moment the landlord
became aware, which only the alert store records.
"""

from __future__ import annotations

from dashboards.model import (
    BAND_AREA,
    COLOUR_CELLS,
    HOUSING_DATASOURCE,
    Json,
    dashboard,
    on_datasource,
    panel,
    table,
    tag_variable,
    target,
    thresholds,
    timeseries,
)
from insights.damp import RiskLevel
from storage.schema import DAMP_RISK

UID = "leedswin-housing"
#: Points per line of the per-home panels: one line per home, so far fewer points each than
#: the panel's width (Grafana then picks a wider ``$__interval``: 12 h for 30 days, 3 h for
#: 7, the hourly assessments themselves for a day). Damp is a matter of sustained humidity;
#: 6-hour means over 30 days cost InfluxDB 1.6 three fifths more for every home's line
#: (``bench.api``) and showed nothing a 30-day view is read for.
HOME_LINE_POINTS = 60

HOME = "\"privacy\" = 'home'"
HOMES = (
    f'{HOME} AND "site" =~ /^$home$/ AND "model" =~ /^$model$/'
    ' AND "dev_eui" =~ /^$device$/ AND $timeFilter'
)

VARIABLES = [
    tag_variable("home", "Home", DAMP_RISK, "site", HOME),
    tag_variable("model", "Model", DAMP_RISK, "model", f'{HOME} AND "site" =~ /^$home$/'),
    tag_variable(
        "device",
        "Device",
        DAMP_RISK,
        "dev_eui",
        f'{HOME} AND "site" =~ /^$home$/ AND "model" =~ /^$model$/',
    ),
]

LEVELS = tuple(level.label for level in RiskLevel)
RISK_STEPS = thresholds((None, "green"), (1, "yellow"), (2, "orange"), (3, "red"))
RISK_NAMES = [
    {
        "type": "value",
        "options": {
            str(level): {"text": name, "index": level} for level, name in enumerate(LEVELS)
        },
    }
]
MOULD_STEPS = thresholds((None, "green"), (1, "yellow"), (3, "orange"), (4, "red"))
RH_STEPS = thresholds((None, "green"), (70, "orange"), (80, "red"))


def homes_at(level: int) -> Json:
    """Homes whose latest risk (the worst of their devices' latest hours) is ``level``."""
    return target(
        chr(ord("A") + level),
        f'SELECT count("risk_level") AS "{LEVELS[level]}" FROM (SELECT max("risk_level")'
        f' AS "risk_level" FROM (SELECT last("risk_level") AS "risk_level" FROM "{DAMP_RISK}"'
        f' WHERE {HOMES} GROUP BY "site", "dev_eui") WHERE $timeFilter GROUP BY "site")'
        f' WHERE "risk_level" = {level} AND $timeFilter',
    )


def build() -> Json:
    panels = [
        panel_homes_by_risk(),
        table(
            "Homes at high or severe risk",
            "Homes whose hourly assessment reached high or severe in the range: when it"
            " first did, the worst level, and the latest evidence. Open alerts and their"
            " Awaab's Law deadlines are in the alert store (API /v1/housing/alerts), which"
            " Grafana's InfluxDB datasource cannot read.",
            [
                target(
                    "A",
                    'SELECT first("risk_level") AS "first high", max("risk_level") AS "worst level"'
                    f' FROM "{DAMP_RISK}" WHERE {HOMES} AND "risk_level" >= 2'
                    ' GROUP BY "site", "dev_eui"',
                    table=True,
                ),
            ],
            width=16,
            steps=RISK_STEPS,
            mappings=RISK_NAMES,
            overrides=[
                {
                    "matcher": {"id": "byName", "options": "Time"},
                    "properties": [{"id": "displayName", "value": "high since"}],
                },
                {
                    "matcher": {"id": "byName", "options": "worst level"},
                    "properties": [COLOUR_CELLS],
                },
            ],
        ),
        table(
            "Latest assessment per home",
            "Each home's latest hourly assessment: risk, VTT mould index (0 none … 6 full"
            " coverage), room humidity, estimated cold-spot humidity, dew point and share"
            " of the last 7 days' hours above 70 % and 80 % RH.",
            [
                # The newest row as it is: one assessment (seven last() selectors could mix
                # hours where a 7-day share was left out for want of data), and cheaper, each
                # selector reading every row of the range (InfluxDB 1.6, 30 days of 287
                # homes: 0.27 s against 0.47 s).
                target(
                    "A",
                    'SELECT "risk_level" AS "risk", "mould_index" AS "mould index",'
                    ' "relative_humidity" AS "RH %", "surface_rh" AS "cold-spot RH %",'
                    ' "dew_point" AS "dew point °C", "rh70_7d" AS "7 d ≥70 %",'
                    ' "rh80_7d" AS "7 d ≥80 %"'
                    f' FROM "{DAMP_RISK}" WHERE {HOMES} GROUP BY "site", "dev_eui"'
                    " ORDER BY time DESC LIMIT 1",
                    table=True,
                )
            ],
            width=24,
            overrides=[
                {
                    "matcher": {"id": "byName", "options": "risk"},
                    "properties": [
                        {"id": "mappings", "value": RISK_NAMES},
                        {"id": "thresholds", "value": RISK_STEPS},
                        COLOUR_CELLS,
                    ],
                },
                {
                    "matcher": {"id": "byName", "options": "mould index"},
                    "properties": [{"id": "thresholds", "value": MOULD_STEPS}, COLOUR_CELLS],
                },
                {
                    "matcher": {"id": "byRegexp", "options": "/7 d/"},
                    "properties": [{"id": "unit", "value": "percentunit"}],
                },
            ],
            transformations=[{"id": "organize", "options": {"excludeByName": {"Time": True}}}],
        ),
        timeseries(
            "Relative humidity",
            "Hourly room humidity per home (solid) and estimated humidity at the coldest"
            " surface (dashed). Mould needs surface humidity above about 80 % for long periods.",
            [
                target(
                    "A",
                    f'SELECT mean("relative_humidity") FROM "{DAMP_RISK}" WHERE {HOMES}'
                    ' GROUP BY time($__interval), "site" fill(none)',
                    alias="$tag_site",
                ),
                target(
                    "B",
                    f'SELECT mean("surface_rh") FROM "{DAMP_RISK}" WHERE {HOMES}'
                    ' GROUP BY time($__interval), "site" fill(none)',
                    alias="$tag_site cold spot",
                ),
            ],
            unit="humidity",
            steps=RH_STEPS,
            custom=BAND_AREA,
            minimum=0,
            maximum=100,
            interval="1h",
            max_points=HOME_LINE_POINTS,
            overrides=[_dashed("B")],
        ),
        timeseries(
            "Dew point and cold-spot temperature",
            "Dew point of the room air (solid) and the estimated coldest surface"
            " temperature (dashed). Where the surface falls to the dew point, water condenses.",
            [
                target(
                    "A",
                    f'SELECT mean("dew_point") FROM "{DAMP_RISK}" WHERE {HOMES}'
                    ' GROUP BY time($__interval), "site" fill(none)',
                    alias="$tag_site dew point",
                ),
                target(
                    "B",
                    f'SELECT mean("surface_temperature") FROM "{DAMP_RISK}" WHERE {HOMES}'
                    ' GROUP BY time($__interval), "site" fill(none)',
                    alias="$tag_site cold spot",
                ),
            ],
            unit="celsius",
            interval="1h",
            max_points=HOME_LINE_POINTS,
            overrides=[_dashed("B")],
        ),
        timeseries(
            "Mould index",
            "VTT mould index at the cold spot per home: 1 microscopic growth starting,"
            " 3 visible mould, 4 and above visible over a tenth of the surface or more.",
            [
                target(
                    "A",
                    f'SELECT max("mould_index") FROM "{DAMP_RISK}" WHERE {HOMES}'
                    ' GROUP BY time($__interval), "site" fill(none)',
                    alias="$tag_site",
                )
            ],
            width=24,
            steps=MOULD_STEPS,
            custom=BAND_AREA,
            minimum=0,
            maximum=6,
            decimals=2,
            interval="1h",
            max_points=HOME_LINE_POINTS,
        ),
    ]
    board = dashboard(
        UID,
        "Leeds WIN – Housing damp risk (restricted)",
        "Damp and mould risk in tenants' homes from room temperature and humidity."
        " Personal data: only the housing team may view this dashboard.",
        ["housing", "restricted"],
        VARIABLES,
        panels,
    )
    # Home data live in their own database, which only the housing datasource can read.
    return on_datasource(board, HOUSING_DATASOURCE)


def panel_homes_by_risk() -> Json:
    colours = ("green", "yellow", "orange", "red")
    return panel(
        "bargauge",
        "Homes by risk level",
        "Number of homes at each damp-risk level, from each home's latest hourly"
        " assessment (the worst of its sensors). Levels with no homes are not drawn.",
        [homes_at(level) for level in range(len(LEVELS))],
        width=8,
        unit="short",
        decimals=0,
        minimum=0,
        options={
            "orientation": "horizontal",
            "displayMode": "basic",
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
        },
        overrides=[
            {
                "matcher": {"id": "byName", "options": name},
                "properties": [{"id": "color", "value": {"mode": "fixed", "fixedColor": colour}}],
            }
            for name, colour in zip(LEVELS, colours, strict=True)
        ],
    )


def _dashed(ref: str) -> Json:
    return {
        "matcher": {"id": "byFrameRefID", "options": ref},
        "properties": [{"id": "custom.lineStyle", "value": {"fill": "dash", "dash": [10, 10]}}],
    }

"""Air quality by site, against the UK Daily Air Quality Index bands."""

from __future__ import annotations

from dashboards.model import (
    BAND_AREA,
    COLOUR_CELLS,
    Json,
    dashboard,
    stat,
    table,
    tag_variable,
    target,
    thresholds,
    timeseries,
)
from insights.daqi import BAND_LIMITS, band
from storage.schema import AIR_QUALITY, DAQI

UID = "leedswin-air-quality"

#: DEFRA's colours for DAQI indices 1–10.
DAQI_COLOURS = (
    "#9CFF9C",
    "#31FF00",
    "#31CF00",
    "#FFFF00",
    "#FFCF00",
    "#FF9A00",
    "#FF6464",
    "#FF0000",
    "#990000",
    "#CE30FF",
)

PUBLIC = "\"privacy\" = 'public'"
READINGS = (
    f'{PUBLIC} AND "site" =~ /^$site$/ AND "model" =~ /^$model$/'
    ' AND "dev_eui" =~ /^$device$/ AND $timeFilter'
)
#: Site-level DAQI points carry no device tags: filter them by site only.
SITE_INDEX = f'{PUBLIC} AND "level" = \'site\' AND "site" =~ /^$site$/ AND $timeFilter'

VARIABLES = [
    tag_variable("site", "Site", AIR_QUALITY, "site", PUBLIC),
    tag_variable("model", "Model", AIR_QUALITY, "model", f'{PUBLIC} AND "site" =~ /^$site$/'),
    tag_variable(
        "device",
        "Device",
        AIR_QUALITY,
        "dev_eui",
        f'{PUBLIC} AND "site" =~ /^$site$/ AND "model" =~ /^$model$/',
    ),
]


def daqi_steps(pollutant: str) -> Json:
    """Concentration thresholds at the start of each index (limits are whole µg/m³, rounded half up)."""
    starts = [limit + 0.5 for limit in BAND_LIMITS[pollutant]]
    return thresholds((None, DAQI_COLOURS[0]), *zip(starts, DAQI_COLOURS[1:], strict=True))


INDEX_STEPS = thresholds(*((None if i == 1 else i, DAQI_COLOURS[i - 1]) for i in range(1, 11)))
#: Shows an index as "5 Moderate".
INDEX_NAMES = [
    {
        "type": "value",
        "options": {
            str(index): {"text": f"{index} {band(index)}", "index": index - 1}
            for index in range(1, 11)
        },
    }
]


def pollutant_panel(field: str, mean_field: str, title: str, averaging: str) -> Json:
    return timeseries(
        f"{title} by site",
        f"Hourly mean {title} per site (thin lines) and the {averaging} mean the DAQI uses"
        f" (thick), against the DAQI index bands: green Low (1–3), yellow/orange Moderate"
        f" (4–6), red High (7–9), purple Very High (10). Low-cost sensors are indicative only.",
        [
            target(
                "A",
                f'SELECT mean("{field}") FROM "{AIR_QUALITY}" WHERE {READINGS}'
                ' GROUP BY time($__interval), "site" fill(none)',
                alias="$tag_site",
            ),
            target(
                "B",
                f'SELECT max("{mean_field}") FROM "{DAQI}" WHERE {SITE_INDEX}'
                ' GROUP BY time($__interval), "site" fill(none)',
                alias=f"$tag_site {averaging} mean",
            ),
        ],
        unit="conμgm3",
        steps=daqi_steps(field),
        custom=BAND_AREA,
        minimum=0,
        interval="1h",
        overrides=[
            {
                "matcher": {"id": "byFrameRefID", "options": "B"},
                "properties": [{"id": "custom.lineWidth", "value": 4}],
            }
        ],
    )


def build() -> Json:
    panels = [
        stat(
            "Current DAQI by site",
            "The latest hourly Daily Air Quality Index (1–10) of each site: the highest"
            " index of its monitors, from PM2.5/PM10 24-hour means, NO2 hourly means and"
            " O3 8-hour means.",
            [
                target(
                    "A",
                    f'SELECT last("index") FROM "{DAQI}" WHERE {SITE_INDEX} GROUP BY "site"',
                    alias="$tag_site",
                )
            ],
            width=12,
            steps=INDEX_STEPS,
            mappings=INDEX_NAMES,
            decimals=0,
        ),
        table(
            "Index per pollutant",
            "Latest index of each pollutant per site; the overall index is the highest.",
            [
                target(
                    "A",
                    'SELECT last("pm2_5_index") AS "PM2.5", last("pm10_index") AS "PM10",'
                    ' last("no2_index") AS "NO2", last("o3_index") AS "O3",'
                    ' last("index") AS "overall", last("band") AS "band"'
                    f' FROM "{DAQI}" WHERE {SITE_INDEX} GROUP BY "site"',
                    table=True,
                )
            ],
            width=12,
            steps=INDEX_STEPS,
            overrides=[
                {"matcher": {"id": "byType", "options": "number"}, "properties": [COLOUR_CELLS]}
            ],
            transformations=[{"id": "organize", "options": {"excludeByName": {"Time": True}}}],
        ),
        timeseries(
            "DAQI by site",
            "Hourly DAQI of each site over the range, against the index bands.",
            [
                target(
                    "A",
                    f'SELECT max("index") FROM "{DAQI}" WHERE {SITE_INDEX}'
                    ' GROUP BY time($__interval), "site" fill(none)',
                    alias="$tag_site",
                )
            ],
            width=24,
            steps=INDEX_STEPS,
            custom=BAND_AREA,
            minimum=0,
            maximum=10,
            decimals=0,
            interval="1h",
        ),
        pollutant_panel("pm2_5", "pm2_5_24h", "PM2.5", "24 h"),
        pollutant_panel("pm10", "pm10_24h", "PM10", "24 h"),
        pollutant_panel("no2", "no2_1h", "NO2", "1 h"),
        timeseries(
            "CO2 by site",
            "Carbon dioxide per site (ppm; not part of the DAQI). Outdoors it sits near"
            " 420 ppm; sustained values above 1000 ppm point at a poorly ventilated space.",
            [
                target(
                    "A",
                    f'SELECT mean("co2") FROM "{AIR_QUALITY}" WHERE {READINGS}'
                    ' GROUP BY time($__interval), "site" fill(none)',
                    alias="$tag_site",
                )
            ],
            unit="ppm",
            steps=thresholds((None, "green"), (1000, "orange"), (1500, "red")),
            custom=BAND_AREA,
        ),
    ]
    return dashboard(
        UID,
        "Leeds WIN – Air quality",
        "PM2.5, PM10, NO2 and CO2 from the public air-quality sensors, by site, with the"
        " Daily Air Quality Index bands and each site's current index.",
        ["air-quality"],
        VARIABLES,
        panels,
    )

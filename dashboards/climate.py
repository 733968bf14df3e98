"""Climate of public places: temperature and humidity by site. Home sensors never appear here."""

from __future__ import annotations

from dashboards.model import (
    BAND_AREA,
    Json,
    dashboard,
    stat,
    tag_variable,
    target,
    thresholds,
    timeseries,
)
from storage.schema import CLIMATE

UID = "leedswin-climate"

PUBLIC = "\"privacy\" = 'public'"
READINGS = (
    f'{PUBLIC} AND "site" =~ /^$site$/ AND "model" =~ /^$model$/'
    ' AND "dev_eui" =~ /^$device$/ AND $timeFilter'
)

VARIABLES = [
    tag_variable("site", "Site", CLIMATE, "site", PUBLIC),
    tag_variable("model", "Model", CLIMATE, "model", f'{PUBLIC} AND "site" =~ /^$site$/'),
    tag_variable(
        "device",
        "Device",
        CLIMATE,
        "dev_eui",
        f'{PUBLIC} AND "site" =~ /^$site$/ AND "model" =~ /^$model$/',
    ),
]

TEMPERATURE_STEPS = thresholds((None, "blue"), (4, "green"), (25, "orange"), (30, "red"))
HUMIDITY_STEPS = thresholds((None, "orange"), (30, "green"), (70, "orange"), (80, "red"))


def latest(field: str, title: str, description: str, unit: str, steps: Json) -> Json:
    return stat(
        title,
        description,
        [
            target(
                "A",
                f'SELECT last("{field}") FROM "{CLIMATE}" WHERE {READINGS} GROUP BY "site"',
                alias="$tag_site",
            )
        ],
        width=12,
        unit=unit,
        steps=steps,
        decimals=1,
    )


def by_site(field: str, title: str, description: str, unit: str, steps: Json) -> Json:
    return timeseries(
        title,
        description,
        [
            target(
                "A",
                f'SELECT mean("{field}") FROM "{CLIMATE}" WHERE {READINGS}'
                ' GROUP BY time($__interval), "site" fill(none)',
                alias="$tag_site",
            )
        ],
        width=24,
        unit=unit,
        steps=steps,
        custom=BAND_AREA,
        interval="10m",
    )


def build() -> Json:
    panels = [
        latest(
            "temperature",
            "Temperature now",
            "Latest temperature reported at each public site.",
            "celsius",
            TEMPERATURE_STEPS,
        ),
        latest(
            "relative_humidity",
            "Humidity now",
            "Latest relative humidity reported at each public site.",
            "humidity",
            HUMIDITY_STEPS,
        ),
        by_site(
            "temperature",
            "Temperature by site",
            "Mean air temperature per site and interval. Blue below 4 °C (frost risk on"
            " paths), orange above 25 °C and red above 30 °C (heat).",
            "celsius",
            TEMPERATURE_STEPS,
        ),
        by_site(
            "relative_humidity",
            "Relative humidity by site",
            "Mean relative humidity per site and interval. Indoor public spaces above"
            " 70 % for long periods risk condensation and mould.",
            "humidity",
            HUMIDITY_STEPS,
        ),
    ]
    return dashboard(
        UID,
        "Leeds WIN – Climate",
        "Temperature and humidity of public places, by site. Sensors in homes are"
        " excluded (privacy = public only).",
        ["climate"],
        VARIABLES,
        panels,
    )

"""Network and device health: is every public device reporting, how well, and what was refused."""

from __future__ import annotations

from dashboards.model import (
    AMBER,
    GREEN,
    RED,
    Json,
    bars,
    custom_variable,
    dashboard,
    panel,
    stat,
    table,
    tag_variable,
    target,
    thresholds,
)

UID = "leedswin-network"

#: Public devices matching the dashboard's variables, within the time picker's range.
DEVICES = (
    '"privacy" = \'public\' AND "site" =~ /^$site$/ AND "model" =~ /^$model$/'
    ' AND "dev_eui" =~ /^$device$/ AND $timeFilter'
)
#: Dead letters carry the device's tags when it was known (unknown devices count as home).
REFUSED = '"privacy" = \'public\' AND "site" =~ /^$site$/ AND $timeFilter'

VARIABLES = [
    tag_variable("site", "Site", "uplink", "site", "\"privacy\" = 'public'"),
    tag_variable(
        "model", "Model", "uplink", "model", '"privacy" = \'public\' AND "site" =~ /^$site$/'
    ),
    tag_variable(
        "device",
        "Device",
        "uplink",
        "dev_eui",
        '"privacy" = \'public\' AND "site" =~ /^$site$/ AND "model" =~ /^$model$/',
    ),
    custom_variable("silent_after", "Silent after", ["30m", "1h", "2h", "6h", "24h"], "2h"),
]


def build() -> Json:
    panels = [
        stat(
            "Uplinks",
            "Uplinks stored from public devices in the selected range.",
            [target("A", f'SELECT count("f_cnt") AS "uplinks" FROM "uplink" WHERE {DEVICES}')],
            unit="short",
        ),
        stat(
            "Devices reporting",
            "Public devices with at least one uplink in the selected range.",
            [
                target(
                    "A",
                    'SELECT count("f_cnt") AS "devices" FROM (SELECT last("f_cnt") AS "f_cnt"'
                    f' FROM "uplink" WHERE {DEVICES} GROUP BY "dev_eui")',
                )
            ],
            unit="short",
        ),
        stat(
            "Silent devices",
            "Public devices whose last uplink in the range is older than the 'Silent after'"
            " choice. Pick a value a few times the fleet's reporting interval.",
            [
                target(
                    "A",
                    'SELECT count("f_cnt") AS "silent" FROM (SELECT last("f_cnt") AS "f_cnt"'
                    f' FROM "uplink" WHERE {DEVICES} GROUP BY "dev_eui")'
                    " WHERE time < now() - $silent_after",
                )
            ],
            unit="short",
            steps=thresholds((None, GREEN), (1, RED)),
        ),
        stat(
            "Dead letters",
            "Uplink events the bridge refused (undecodable, unknown port, failed sanity"
            " checks…) from public devices, in the selected range.",
            [target("A", f'SELECT count("error") AS "refused" FROM "dead_letter" WHERE {REFUSED}')],
            unit="short",
            steps=thresholds((None, GREEN), (1, AMBER), (100, RED)),
        ),
        bars(
            "Uplinks per minute by model",
            "Stored uplinks per minute, averaged over each interval, stacked by device model."
            " A model dropping to zero points at a decoder or gateway problem.",
            [
                target(
                    "A",
                    'SELECT count("f_cnt") * 60000 / $__interval_ms FROM "uplink"'
                    f' WHERE {DEVICES} GROUP BY time($__interval), "model" fill(0)',
                    alias="$tag_model",
                )
            ],
            width=24,
            unit="short",
            interval="1m",
            custom={"drawStyle": "bars", "fillOpacity": 80, "stacking": {"mode": "normal"}},
        ),
        table(
            "Silent devices",
            "Public devices whose last uplink is older than 'Silent after', with when they"
            " were last heard and their typical interval (median gap between uplinks).",
            [
                target(
                    "A",
                    'SELECT "f_cnt" AS "last f_cnt" FROM (SELECT last("f_cnt") AS "f_cnt"'
                    f' FROM "uplink" WHERE {DEVICES} GROUP BY "dev_eui", "site", "model")'
                    ' WHERE time < now() - $silent_after GROUP BY "dev_eui", "site", "model"',
                    table=True,
                ),
                target(
                    "B",
                    'SELECT median("gap") AS "typical interval" FROM (SELECT elapsed("f_cnt", 1s)'
                    f' AS "gap" FROM "uplink" WHERE {DEVICES} GROUP BY "dev_eui")'
                    ' GROUP BY "dev_eui"',
                    table=True,
                ),
            ],
            overrides=[
                {
                    "matcher": {"id": "byName", "options": "typical interval"},
                    "properties": [{"id": "unit", "value": "s"}],
                },
                {
                    "matcher": {"id": "byName", "options": "Time"},
                    "properties": [{"id": "displayName", "value": "last heard"}],
                },
            ],
            transformations=[
                {"id": "merge", "options": {}},
                {"id": "filterByValue", "options": _only_silent()},
            ],
        ),
        table(
            "Batteries, lowest first",
            "Last reported battery of each public device: percentage for models that"
            " report one, voltage for the others. Red below 20 % / 2.5 V.",
            [
                target(
                    "A",
                    'SELECT last("battery_percent") AS "battery %" FROM "uplink"'
                    f' WHERE {DEVICES} GROUP BY "dev_eui", "site", "model"',
                    table=True,
                ),
                target(
                    "B",
                    'SELECT last("battery_voltage") AS "battery V" FROM "uplink"'
                    f' WHERE {DEVICES} GROUP BY "dev_eui", "site", "model"',
                    table=True,
                ),
            ],
            overrides=[
                _field_style(
                    "battery %", "percent", thresholds((None, RED), (20, AMBER), (40, GREEN))
                ),
                _field_style(
                    "battery V", "volt", thresholds((None, RED), (2.5, AMBER), (3.0, GREEN))
                ),
            ],
            transformations=[
                {"id": "merge", "options": {}},
                {"id": "organize", "options": {"excludeByName": {"Time": True}}},
                {"id": "sortBy", "options": {"sort": [{"field": "battery %"}]}},
            ],
        ),
        panel(
            "histogram",
            "RSSI distribution",
            "Received signal strength of every uplink at its best gateway. Below −115 dBm"
            " the link is close to failing; move the device or add a gateway.",
            [target("A", f'SELECT "rssi" FROM "uplink" WHERE {DEVICES}')],
            unit="dBm",
            steps=thresholds((None, RED), (-115, AMBER), (-100, GREEN)),
            options={"bucketSize": 5, "legend": {"showLegend": False}},
        ),
        panel(
            "histogram",
            "SNR distribution",
            "Signal-to-noise ratio of every uplink at its best gateway. LoRa still decodes"
            " below 0 dB, but under about −10 dB only the slowest data rates get through.",
            [target("A", f'SELECT "snr" FROM "uplink" WHERE {DEVICES}')],
            unit="dB",
            steps=thresholds((None, RED), (-10, AMBER), (0, GREEN)),
            options={"bucketSize": 2, "legend": {"showLegend": False}},
        ),
        bars(
            "Dead letters by reason",
            "Refused events per interval, by error code (the `reason` tag).",
            [
                target(
                    "A",
                    f'SELECT count("error") FROM "dead_letter" WHERE {REFUSED}'
                    ' GROUP BY time($__interval), "reason" fill(none)',
                    alias="$tag_reason",
                )
            ],
            unit="short",
            custom={"drawStyle": "bars", "fillOpacity": 80, "stacking": {"mode": "normal"}},
        ),
        table(
            "Dead-letter reasons",
            "Refused events per reason in the range, with the latest error message.",
            [
                target(
                    "A",
                    'SELECT count("error") AS "count", last("error") AS "latest error"'
                    f' FROM "dead_letter" WHERE {REFUSED} GROUP BY "reason"',
                    table=True,
                )
            ],
            transformations=[{"id": "organize", "options": {"excludeByName": {"Time": True}}}],
        ),
    ]
    return dashboard(
        UID,
        "Leeds WIN – Network and device health",
        "Uplink rates, silent devices, batteries, radio quality and refused events of the"
        " public sensor network. Home sensors are not shown here.",
        ["network"],
        VARIABLES,
        panels,
    )


def _field_style(name: str, unit: str, steps: Json) -> Json:
    return {
        "matcher": {"id": "byName", "options": name},
        "properties": [{"id": "unit", "value": unit}, {"id": "thresholds", "value": steps}],
    }


def _only_silent() -> Json:
    """Keep merged rows that came from query A (typical intervals of active devices drop out)."""
    return {
        "filters": [{"fieldName": "last f_cnt", "config": {"id": "isNotNull", "options": {}}}],
        "match": "all",
        "type": "include",
    }

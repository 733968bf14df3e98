"""Network and device health: is every public device reporting, how well, and what was refused."""

from __future__ import annotations

from dashboards.model import (
    AMBER,
    COLOUR_CELLS,
    GREEN,
    RED,
    Json,
    bars,
    custom_variable,
    dashboard,
    panel,
    reuse,
    stat,
    table,
    tag_variable,
    target,
    thresholds,
)
from storage.schema import (
    DEAD_LETTER,
    LEVEL_DEVICE,
    LEVEL_TAG,
    ROLLUP_HOURLY,
    UPLINK,
    rollup_field,
)

UID = "leedswin-network"

#: Public devices matching the dashboard's variables.
MATCH = (
    '"privacy" = \'public\' AND "site" =~ /^$site$/ AND "model" =~ /^$model$/'
    ' AND "dev_eui" =~ /^$device$/'
)
#: ... within the time picker's range.
DEVICES = f"{MATCH} AND $timeFilter"
#: Hourly uplink rollups (insights.rollups) of those devices: long ranges read these, never
#: every uplink. They hold whole hours up to the insights job's last run.
HOURLY = ROLLUP_HOURLY[UPLINK]
ROLLED = f"\"{LEVEL_TAG}\" = '{LEVEL_DEVICE}' AND {DEVICES}"
UPLINKS = rollup_field("f_cnt", "count")
#: Per device with uplinks in the range: its uplinks in the hours overlapping the last
#: $silent_after ("recent", 0 when none), from the hourly rollups ('Silent after' counts in
#: whole hours, up to an hour more). The range part only lists the devices: ``last()`` reads
#: one row per device and shard where ``sum()`` read all 720 of a 30-day range (0.2 s
#: instead of 0.6 s for 1,000 devices). Two subqueries because InfluxDB pushes an outer time
#: condition into a subquery, so "last uplink older than X" cannot be a time filter on last().
#: Every level repeats the range: without an outer time condition InfluxDB 1.x opens the
#: subquery's series in every shard group of the retention (a year: 1.7 s instead of 0.3 s).
BY_DEVICE = 'GROUP BY "dev_eui", "site", "model"'
RECENT_UPLINKS = "recent uplinks"
RECENT = (
    f'SELECT sum("recent") AS "recent" FROM'
    f' (SELECT sum("{UPLINKS}") AS "recent" FROM "{HOURLY}"'
    f" WHERE \"{LEVEL_TAG}\" = '{LEVEL_DEVICE}' AND {MATCH}"
    f" AND time > now() - $silent_after - 1h {BY_DEVICE}),"
    f' (SELECT last("{UPLINKS}") * 0 AS "recent" FROM "{HOURLY}"'
    f" WHERE {ROLLED} {BY_DEVICE}) WHERE $timeFilter {BY_DEVICE}"
)
#: Dead letters carry the device's tags when it was known (unknown devices count as home).
REFUSED = '"privacy" = \'public\' AND "site" =~ /^$site$/ AND $timeFilter'

VARIABLES = [
    tag_variable("site", "Site", UPLINK, "site", "\"privacy\" = 'public'"),
    tag_variable(
        "model", "Model", UPLINK, "model", '"privacy" = \'public\' AND "site" =~ /^$site$/'
    ),
    tag_variable(
        "device",
        "Device",
        UPLINK,
        "dev_eui",
        '"privacy" = \'public\' AND "site" =~ /^$site$/ AND "model" =~ /^$model$/',
    ),
    custom_variable("silent_after", "Silent after", ["30m", "1h", "2h", "6h", "24h"], "2h"),
]


def build() -> Json:
    silent = table(
        "Silent devices",
        "Public devices that sent uplinks in the range but none in the last 'Silent"
        " after' period. Compare with each device's typical interval in 'Reporting"
        " intervals' and pick 'Silent after' a few times the fleet's usual interval.",
        [
            target(
                "A",
                f'SELECT "recent" AS "{RECENT_UPLINKS}" FROM ({RECENT})'
                f' WHERE "recent" = 0 AND $timeFilter {BY_DEVICE}',
                table=True,
            ),
        ],
        transformations=[
            {"id": "organize", "options": {"excludeByName": {"Time": True, RECENT_UPLINKS: True}}}
        ],
    )
    intervals = table(
        "Reporting intervals",
        "Per public device, from the hourly rollups: the typical gap between uplinks (the"
        " range divided by its uplinks: its interval, if it reported all along), the"
        " hours of the range without any uplink, and the uplinks counted. Silent hours"
        " mean missed uplinks, an outage, or a device added during the range.",
        [
            target(
                "A",
                f'SELECT $__range_s / sum("{UPLINKS}") AS "typical interval",'
                f' $__range_s / 3600 - count("{UPLINKS}") AS "silent hours",'
                f' sum("{UPLINKS}") AS "uplinks" FROM "{HOURLY}" WHERE {ROLLED} {BY_DEVICE}',
                table=True,
            ),
        ],
        unit="s",
        overrides=[
            {
                "matcher": {"id": "byName", "options": name},
                "properties": [{"id": "unit", "value": "short"}],
            }
            for name in ("uplinks", "silent hours")
        ],
        transformations=[
            {"id": "organize", "options": {"excludeByName": {"Time": True}}},
            {"id": "sortBy", "options": {"sort": [{"field": "silent hours", "desc": True}]}},
        ],
    )
    panels = [
        stat(
            "Uplinks",
            "Uplinks stored from public devices in the selected range (hourly rollups): the"
            " sum of 'Reporting intervals', which this panel reuses.",
            [reuse(intervals)],
            unit="short",
            options=_summary("sum", "uplinks"),
            transformations=[MERGE],
            no_value="0",
        ),
        stat(
            "Devices reporting",
            "Public devices with at least one uplink in the selected range: the rows of"
            " 'Reporting intervals', which this panel reuses.",
            [reuse(intervals)],
            unit="short",
            options=_summary("count", "uplinks"),
            transformations=[MERGE],
            no_value="0",
        ),
        stat(
            "Silent devices",
            "Public devices with uplinks in the range but none in the last 'Silent after'"
            " period, counted in whole hours from the hourly rollups (so up to an hour"
            " more): the rows of the 'Silent devices' table, which this panel reuses. Pick a"
            " value a few times the fleet's reporting interval.",
            [reuse(silent)],
            unit="short",
            steps=thresholds((None, GREEN), (1, RED)),
            options=_summary("count", RECENT_UPLINKS),
            transformations=[MERGE],
            no_value="0",
        ),
        stat(
            "Dead letters",
            "Uplink events the bridge refused (undecodable, unknown port, failed sanity"
            " checks…) from public devices, in the selected range.",
            [
                target(
                    "A", f'SELECT count("error") AS "refused" FROM "{DEAD_LETTER}" WHERE {REFUSED}'
                )
            ],
            unit="short",
            steps=thresholds((None, GREEN), (1, AMBER), (100, RED)),
        ),
        bars(
            "Uplinks per minute by model",
            "Stored uplinks per minute, averaged over each interval (an hour at least: read"
            " from the hourly rollups), stacked by device model. A model dropping to zero"
            " points at a decoder or gateway problem.",
            [
                target(
                    "A",
                    f'SELECT sum("{UPLINKS}") * 60000 / $__interval_ms FROM "{HOURLY}"'
                    f' WHERE {ROLLED} GROUP BY time($__interval), "model" fill(0)',
                    alias="$tag_model",
                )
            ],
            width=24,
            unit="short",
            interval="1h",
            # 120 bars: 6-hour ones for 30 days. InfluxDB 1.6 pays per window and model:
            # 3-hour windows took 0.4 s for 1,000 devices, 6-hour ones 0.2 s.
            max_points=120,
            custom={"drawStyle": "bars", "fillOpacity": 80, "stacking": {"mode": "normal"}},
        ),
        silent,
        table(
            "Device health",
            "Each public device's newest state from the fleet-health run (insights.fleet):"
            " link ok/late/silent against its expected interval (ChirpStack profile, else its"
            " median gap), battery ok/low/critical against its model's thresholds, radio"
            " degraded when RSSI/SNR or gateways dropped over the last day. Worst first.",
            [
                target(
                    "A",
                    'SELECT last("link_level") AS "link level", last("link") AS "link",'
                    ' last("missed_uplinks") AS "missed uplinks",'
                    ' last("expected_interval") AS "expected interval",'
                    ' last("battery") AS "battery", last("radio") AS "radio",'
                    ' last("rejoins") AS "rejoins"'
                    f' FROM "device_health" WHERE {DEVICES} GROUP BY "dev_eui", "site", "model"',
                    table=True,
                ),
            ],
            width=24,
            unit="short",
            overrides=[
                _state_style("link", {"ok": GREEN, "late": AMBER, "silent": RED}),
                _state_style("battery", {"ok": GREEN, "low": AMBER, "critical": RED}),
                _state_style("radio", {"ok": GREEN, "degraded": AMBER}),
                {
                    "matcher": {"id": "byName", "options": "expected interval"},
                    "properties": [{"id": "unit", "value": "s"}],
                },
            ],
            transformations=[
                {"id": "organize", "options": {"excludeByName": {"Time": True}}},
                {"id": "sortBy", "options": {"sort": [{"field": "link level", "desc": True}]}},
            ],
        ),
        intervals,
        table(
            "Batteries, lowest first",
            "Last reported battery of each public device: percentage for models that"
            " report one, voltage for the others. Red below 20 % / 2.5 V.",
            [
                target(
                    "A",
                    f'SELECT last("battery_percent") AS "battery %" FROM "{UPLINK}"'
                    f' WHERE {DEVICES} GROUP BY "dev_eui", "site", "model"',
                    table=True,
                ),
                target(
                    "B",
                    f'SELECT last("battery_voltage") AS "battery V" FROM "{UPLINK}"'
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
            "RSSI by device",
            "Each public device's mean received signal strength at its best gateway over"
            " the range (hourly rollups), as a distribution over devices. Below −115 dBm the"
            " link is close to failing; move the device or add a gateway.",
            [target("A", _per_device_mean("rssi"))],
            unit="dBm",
            steps=thresholds((None, RED), (-115, AMBER), (-100, GREEN)),
            options={"bucketSize": 5, "legend": {"showLegend": False}},
        ),
        panel(
            "histogram",
            "SNR by device",
            "Each public device's mean signal-to-noise ratio at its best gateway over the"
            " range (hourly rollups), as a distribution over devices. LoRa still decodes"
            " below 0 dB, but under about −10 dB only the slowest data rates get through.",
            [target("A", _per_device_mean("snr"))],
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
                    f'SELECT count("error") FROM "{DEAD_LETTER}" WHERE {REFUSED}'
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
                    f' FROM "{DEAD_LETTER}" WHERE {REFUSED} GROUP BY "reason"',
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


#: Summary panels reuse a table's rows; Grafana may hand them one frame per series.
MERGE: Json = {"id": "merge", "options": {}}


def _summary(calculation: str, field: str) -> Json:
    """Stat options reducing one column of the reused rows (``sum``, ``count``) to one value."""
    return {
        "reduceOptions": {"calcs": [calculation], "fields": f"/^{field}$/", "values": False},
        "colorMode": "background",
        "textMode": "value_and_name",
    }


def _per_device_mean(field: str) -> str:
    """One value per device (Σsum / Σcount of its hourly rollups): as many points as devices."""
    total, count = rollup_field(field, "sum"), rollup_field(field, "count")
    return (
        f'SELECT "{field}" FROM (SELECT sum("{total}") / sum("{count}") AS "{field}"'
        f' FROM "{HOURLY}" WHERE {ROLLED} GROUP BY "dev_eui") WHERE $timeFilter'
    )


def _field_style(name: str, unit: str, steps: Json) -> Json:
    return {
        "matcher": {"id": "byName", "options": name},
        "properties": [
            {"id": "unit", "value": unit},
            {"id": "thresholds", "value": steps},
            COLOUR_CELLS,
        ],
    }


def _state_style(name: str, colours: dict[str, str]) -> Json:
    """Colour a text state column (ok/late/silent…) by value."""
    options = {
        state: {"color": colour, "index": i} for i, (state, colour) in enumerate(colours.items())
    }
    return {
        "matcher": {"id": "byName", "options": name},
        "properties": [
            {"id": "mappings", "value": [{"type": "value", "options": options}]},
            COLOUR_CELLS,
        ],
    }

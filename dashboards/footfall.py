"""Footfall: people counted in and out per site, by hour and day, against the week before."""

from __future__ import annotations

from dashboards.model import (
    Json,
    bars,
    dashboard,
    stat,
    table,
    tag_variable,
    target,
    timeseries,
)
from storage.schema import FOOTFALL_COUNTS

UID = "leedswin-footfall"

PUBLIC = "\"privacy\" = 'public'"
#: ``footfall_counts`` site totals (insights sums the site's counters, handling wraps and resets).
SITES = f'{PUBLIC} AND "level" = \'site\' AND "site" =~ /^$site$/'

VARIABLES = [
    tag_variable("site", "Site", FOOTFALL_COUNTS, "site", f"{PUBLIC} AND \"level\" = 'site'"),
]


def build() -> Json:
    panels = [
        stat(
            "People in, last 7 days",
            "People counted in at the selected sites over the last 7 complete and current"
            " days, the same 7 days a week earlier, and the change. Days without a count a"
            " week earlier are left out of the comparison.",
            [
                target(
                    "A",
                    'SELECT sum("people_in") AS "last 7 days", sum("week_ago_in") AS "week before",'
                    ' (sum("people_in") - sum("week_ago_in")) / sum("week_ago_in") * 100'
                    f' AS "change %" FROM "{FOOTFALL_COUNTS}" WHERE {SITES}'
                    ' AND "period" = \'day\' AND "week_ago_in" >= 0 AND time > now() - 7d',
                )
            ],
            width=24,
            unit="short",
            overrides=[
                {
                    "matcher": {"id": "byName", "options": "change %"},
                    "properties": [
                        {"id": "unit", "value": "percent"},
                        {"id": "decimals", "value": 1},
                    ],
                }
            ],
            options={
                "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                "colorMode": "none",
                "textMode": "value_and_name",
            },
        ),
        bars(
            "Hourly people in by site",
            "People counted in per hour (UTC hour start) at each site.",
            [
                target(
                    "A",
                    f'SELECT "people_in" FROM "{FOOTFALL_COUNTS}" WHERE {SITES}'
                    ' AND "period" = \'hour\' AND $timeFilter GROUP BY "site"',
                    alias="$tag_site",
                )
            ],
            width=24,
            unit="short",
        ),
        bars(
            "Daily people in by site",
            "People counted in per day (London midnight to midnight) at each site.",
            [
                target(
                    "A",
                    f'SELECT "people_in" FROM "{FOOTFALL_COUNTS}" WHERE {SITES}'
                    ' AND "period" = \'day\' AND $timeFilter GROUP BY "site"',
                    alias="$tag_site",
                )
            ],
            unit="short",
        ),
        timeseries(
            "Week on week",
            "Daily people in at each site (solid) and on the same weekday a week earlier (dashed).",
            [
                target(
                    "A",
                    f'SELECT "people_in" FROM "{FOOTFALL_COUNTS}" WHERE {SITES}'
                    ' AND "period" = \'day\' AND $timeFilter GROUP BY "site"',
                    alias="$tag_site",
                ),
                target(
                    "B",
                    f'SELECT "week_ago_in" FROM "{FOOTFALL_COUNTS}" WHERE {SITES}'
                    ' AND "period" = \'day\' AND $timeFilter GROUP BY "site"',
                    alias="$tag_site a week earlier",
                ),
            ],
            unit="short",
            overrides=[
                {
                    "matcher": {"id": "byFrameRefID", "options": "B"},
                    "properties": [
                        {"id": "custom.lineStyle", "value": {"fill": "dash", "dash": [10, 10]}}
                    ],
                }
            ],
        ),
        table(
            "Daily counts",
            "Each site's days: in, out, net (in − out), hours counted, and data-quality"
            " notes (counter wraps and resets handled, gaps between uplinks).",
            [
                target(
                    "A",
                    'SELECT "people_in" AS "in", "people_out" AS "out", "net", "hours",'
                    f' "wraps", "resets", "gaps" FROM "{FOOTFALL_COUNTS}" WHERE {SITES}'
                    ' AND "period" = \'day\' AND $timeFilter GROUP BY "site"',
                    table=True,
                )
            ],
            width=24,
        ),
    ]
    return dashboard(
        UID,
        "Leeds WIN – Footfall",
        "People counted in and out of the public footfall sites, hourly and daily, with a"
        " week-on-week comparison.",
        ["footfall"],
        VARIABLES,
        panels,
    )

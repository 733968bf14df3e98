"""Plain-data builders for Grafana dashboard JSON (schema 39, InfluxQL targets).

grafana-foundation-sdk was considered and left out: it has no InfluxDB query
builder, so every target would still be a hand-written dict, and the JSON it
emits is what these few functions produce. Keeping the dashboards as plain
dicts makes the committed JSON easy to diff and the panel queries easy to run
in tests against the real InfluxDB.
"""

from __future__ import annotations

from typing import Any

Json = dict[str, Any]

#: Every public panel and variable points at this datasource; the provisioning file creates it.
#: Its credentials read the public database only.
DATASOURCE_UID = "leedswin-influxdb"
DATASOURCE: Json = {"type": "influxdb", "uid": DATASOURCE_UID}
#: The housing dashboard's datasource: the home database, with credentials only it holds.
HOUSING_DATASOURCE_UID = "leedswin-influxdb-housing"
HOUSING_DATASOURCE: Json = {"type": "influxdb", "uid": HOUSING_DATASOURCE_UID}


#: Grafana's built-in datasource that hands a panel the results of another panel of the
#: dashboard (``reuse``): no query of its own, so no load on InfluxDB.
DASHBOARD_DATASOURCE: Json = {"type": "datasource", "uid": "-- Dashboard --"}


def on_datasource(node: Any, datasource: Json) -> Any:
    """A copy of dashboard JSON with every InfluxDB datasource reference replaced by
    ``datasource`` (panels reusing another panel's results keep ``DASHBOARD_DATASOURCE``)."""
    if isinstance(node, dict):
        return {
            key: dict(datasource)
            if key == "datasource" and value != DASHBOARD_DATASOURCE
            else on_datasource(value, datasource)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [on_datasource(item, datasource) for item in node]
    return node


SCHEMA_VERSION = 39
GRID_WIDTH = 24

GREEN, AMBER, RED, BLUE, PURPLE = "green", "orange", "red", "blue", "purple"


def thresholds(*steps: tuple[float | None, str]) -> Json:
    """Absolute thresholds; the first step's value is None (the base colour)."""
    return {
        "mode": "absolute",
        "steps": [{"color": color, "value": value} for value, color in steps],
    }


def target(ref: str, query: str, alias: str | None = None, table: bool = False) -> Json:
    """A raw InfluxQL target; ``table`` asks Grafana for one row per series (table panels)."""
    body: Json = {
        "refId": ref,
        "datasource": DATASOURCE,
        "rawQuery": True,
        "query": query,
        "resultFormat": "table" if table else "time_series",
    }
    if alias:
        body["alias"] = alias
    return body


def reuse(source: Json) -> Json:
    """A target that takes the results of the ``source`` panel (the same object, passed to
    :func:`dashboard` too, which writes its id in) instead of querying: panels that only
    summarise another panel's rows cost InfluxDB nothing. The source's own
    transformations are not applied (``withTransforms``: false), so the rows are as its
    query returned them."""
    return {
        "refId": "A",
        "datasource": DASHBOARD_DATASOURCE,
        "panelId": 0,
        "withTransforms": False,
        _SOURCE: source,
    }


#: Key of a ``reuse`` target holding its source panel until :func:`dashboard` numbers them.
_SOURCE = "_source"


def tag_variable(name: str, label: str, measurement: str, key: str, where: str) -> Json:
    """Multi-select variable from SHOW TAG VALUES; "All" is the regex ``.*`` (used as /^$name$/)."""
    query = f'SHOW TAG VALUES FROM "{measurement}" WITH KEY = "{key}" WHERE {where}'
    return {
        "name": name,
        "label": label,
        "type": "query",
        "datasource": DATASOURCE,
        "query": query,
        "definition": query,
        "refresh": 2,
        "includeAll": True,
        "allValue": ".*",
        "multi": True,
        "sort": 1,
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "options": [],
        "hide": 0,
    }


def custom_variable(name: str, label: str, values: list[str], default: str) -> Json:
    """A fixed list of choices (durations, thresholds) for a query to use as ``$name``."""
    return {
        "name": name,
        "label": label,
        "type": "custom",
        "query": ",".join(values),
        "includeAll": False,
        "multi": False,
        "current": {"selected": True, "text": default, "value": default},
        "options": [
            {"selected": value == default, "text": value, "value": value} for value in values
        ],
        "hide": 0,
    }


def panel(
    kind: str,
    title: str,
    description: str,
    targets: list[Json],
    *,
    width: int = 12,
    height: int = 8,
    unit: str | None = None,
    steps: Json | None = None,
    decimals: int | None = None,
    minimum: float | None = None,
    maximum: float | None = None,
    custom: Json | None = None,
    mappings: list[Json] | None = None,
    overrides: list[Json] | None = None,
    options: Json | None = None,
    transformations: list[Json] | None = None,
    interval: str | None = None,
    max_points: int | None = None,
    no_value: str | None = None,
) -> Json:
    """One panel; its id and position are given by :func:`dashboard`. ``max_points``: Grafana's
    ``maxDataPoints`` (default: the panel's width in pixels), which sets ``$__interval``.
    Targets made by :func:`reuse` make it a panel of ``DASHBOARD_DATASOURCE``. ``no_value``:
    what to show when there are no rows (say ``0`` for a count)."""
    defaults: Json = {"color": {"mode": "thresholds" if steps else "palette-classic"}}
    for key, value in (
        ("unit", unit),
        ("thresholds", steps),
        ("decimals", decimals),
        ("min", minimum),
        ("max", maximum),
        ("custom", custom),
        ("mappings", mappings),
        ("noValue", no_value),
    ):
        if value is not None:
            defaults[key] = value
    body: Json = {
        "type": kind,
        "title": title,
        "description": description,
        "datasource": DASHBOARD_DATASOURCE
        if any(_SOURCE in target for target in targets)
        else DATASOURCE,
        "targets": targets,
        "fieldConfig": {"defaults": defaults, "overrides": overrides or []},
        "options": options or {},
        "gridPos": {"w": width, "h": height},
    }
    if transformations:
        body["transformations"] = transformations
    if interval:
        body["interval"] = interval
    if max_points:
        body["maxDataPoints"] = max_points
    return body


def timeseries(title: str, description: str, targets: list[Json], **kw: Any) -> Json:
    kw.setdefault("options", {"legend": {"displayMode": "table", "placement": "right"}})
    return panel("timeseries", title, description, targets, **kw)


def bars(title: str, description: str, targets: list[Json], **kw: Any) -> Json:
    """A time series drawn as bars: counts per period."""
    kw.setdefault("custom", {"drawStyle": "bars", "fillOpacity": 80, "lineWidth": 1})
    return timeseries(title, description, targets, **kw)


def stat(title: str, description: str, targets: list[Json], **kw: Any) -> Json:
    kw.setdefault(
        "options",
        {
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "colorMode": "background",
            "textMode": "value_and_name",
        },
    )
    kw.setdefault("width", 6)
    kw.setdefault("height", 5)
    return panel("stat", title, description, targets, **kw)


def table(title: str, description: str, targets: list[Json], **kw: Any) -> Json:
    kw.setdefault("custom", {"filterable": True})
    return panel("table", title, description, targets, **kw)


#: Colour a table column's cells by the thresholds (use in an override's properties).
COLOUR_CELLS: Json = {"id": "custom.cellOptions", "value": {"type": "color-background"}}


#: Time-series style drawing the thresholds as coloured background bands.
BAND_AREA: Json = {"thresholdsStyle": {"mode": "line+area"}, "fillOpacity": 0, "lineWidth": 2}


def dashboard(
    uid: str,
    title: str,
    description: str,
    tags: list[str],
    variables: list[Json],
    panels: list[Json],
    time_from: str = "now-7d",
) -> Json:
    """Number the panels and lay them out left to right, wrapping at Grafana's 24 columns;
    ``reuse`` targets get their source panel's number."""
    numbers = {id(item): number for number, item in enumerate(panels, start=1)}
    x = y = row_height = 0
    laid_out = []
    for number, item in enumerate(panels, start=1):
        w, h = item["gridPos"]["w"], item["gridPos"]["h"]
        if x + w > GRID_WIDTH:
            x, y, row_height = 0, y + row_height, 0
        targets = [
            {k: v for k, v in t.items() if k != _SOURCE} | {"panelId": numbers[id(t[_SOURCE])]}
            if _SOURCE in t
            else t
            for t in item["targets"]
        ]
        laid_out.append(
            {"id": number, **item, "targets": targets, "gridPos": {"x": x, "y": y, "w": w, "h": h}}
        )
        x += w
        row_height = max(row_height, h)
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": ["leedswin", *tags],
        "editable": True,
        "graphTooltip": 1,
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "timezone": "browser",
        "time": {"from": time_from, "to": "now"},
        "refresh": "5m",
        "templating": {"list": variables},
        "annotations": {"list": []},
        "links": [],
        "panels": laid_out,
    }

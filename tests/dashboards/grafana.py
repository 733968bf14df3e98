"""What Grafana does to a panel query before InfluxDB sees it, for running panels in tests.

Grafana replaces ``$timeFilter`` with the picker's range, ``$__range_s`` with its
length in seconds, ``$__interval`` and ``$__interval_ms`` with the panel interval, and each ``$var``/``${var}`` with
the variable's value: for a multi-value variable inside ``/^$var$/`` that is a
regex (``.*`` for All, escaped values joined with ``|`` otherwise).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from dashboards.build import BOARDS, Board

Json = dict[str, Any]

BUILT_INS = {"timeFilter", "__interval", "__interval_ms", "__range_s"}
TIME_FILTER = "time > now() - 30d"
INTERVAL = "1h"
VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)")


def used_variables(text: str) -> set[str]:
    return {a or b for a, b in VARIABLE.findall(text)} - BUILT_INS


def regex_value(values: list[str]) -> str:
    """A concrete multi-value selection as Grafana writes it into an InfluxQL regex."""
    escaped = [re.sub(r"([\\/^$.|?*+()\[\]{}-])", r"\\\1", v) for v in values]
    return escaped[0] if len(escaped) == 1 else "(" + "|".join(escaped) + ")"


def defaults(dashboard: Json) -> dict[str, str]:
    """Every variable at its default: All (``.*``) for tag variables, the current choice otherwise."""
    values = {}
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            values[variable["name"]] = variable["allValue"]
        else:
            values[variable["name"]] = variable["current"]["value"]
    return values


def substitute(query: str, values: Mapping[str, str]) -> str:
    query = query.replace("$timeFilter", TIME_FILTER)
    query = query.replace("$__interval_ms", "3600000").replace("$__interval", INTERVAL)
    query = query.replace("$__range_s", str(30 * 86_400))

    def value(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name not in values:
            raise KeyError(f"variable ${name} is not defined")
        return values[name]

    return VARIABLE.sub(value, query)


def panels(dashboard: Json) -> Iterator[Json]:
    yield from dashboard["panels"]


def query_targets(dashboard: Json, panel: Json) -> list[Json]:
    """The targets whose queries fill ``panel``: its own, or for a panel reusing another's
    results (Grafana's Dashboard datasource: ``panelId``), that panel's."""
    found = []
    for target in panel["targets"]:
        if "panelId" in target:
            source = next(p for p in dashboard["panels"] if p["id"] == target["panelId"])
            found += query_targets(dashboard, source)
        else:
            found.append(target)
    return found


def queries(dashboard: Json) -> Iterator[tuple[str, str]]:
    """(where, InfluxQL) for every panel target that queries and every query variable."""
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            if "query" in target:
                yield f"{panel['title']}/{target['refId']}", target["query"]
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            yield f"${variable['name']}", variable["query"]


def built() -> list[tuple[Board, Json]]:
    return [(board, board.build()) for board in BOARDS]

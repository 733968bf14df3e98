"""The `leedswin` console script: typed flags in, settings built here, work handed down."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="leedswin",
    help="Leeds WIN sensor platform: bridge, decoders, API, insights, dashboards, simulator.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

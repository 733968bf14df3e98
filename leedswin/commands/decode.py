"""`leedswin decode` and `leedswin models`: try a payload by hand; list what can be decoded.

The README's supported-devices table is ``leedswin models --markdown`` output, kept in the
README between the ``models`` markers; regenerate it in place after adding a model with
``leedswin models --write-readme README.md``.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import typer

from core.errors import DecodeError
from decoders import decode_uplink, supported_models
from leedswin.commands.settings import replace_section

START, END = "<!-- models:start -->", "<!-- models:end -->"
_NEED_ORDER = {"damp": 0, "air_quality": 1, "footfall": 2}
_FRAME_ORDER = ("readings", "history", "status")


def _ports(ports: Iterable[int]) -> str:
    """``1, 5`` or ``1–223``: consecutive runs of three or more ports collapse to a range."""
    runs: list[list[int]] = []
    for port in sorted(ports):
        if runs and port == runs[-1][-1] + 1:
            runs[-1].append(port)
        else:
            runs.append([port])
    return ", ".join(
        f"{run[0]}–{run[-1]}" if len(run) >= 3 else ", ".join(map(str, run)) for run in runs
    )


_NUMBER = re.compile(r"\d+")


def _fields(fields: dict[str, str]) -> str:
    """``name (unit)`` list; runs of 3+ numbered siblings (``region_1_count`` …) become one entry."""
    entries: list[tuple[str, int | None, str]] = []  # (template, number, unit)
    for name, unit in fields.items():
        match = _NUMBER.search(name)
        if match is None:
            entries.append((name, None, unit))
        else:
            template = f"{name[: match.start()]}{{}}{name[match.end() :]}"
            entries.append((template, int(match.group()), unit))
    out: list[str] = []
    i = 0
    while i < len(entries):
        template, number, unit = entries[i]
        j = i + 1
        while (
            number is not None
            and j < len(entries)
            and entries[j][0] == template
            and entries[j][2] == unit
            and entries[j][1] == number + (j - i)
        ):
            j += 1
        if j - i >= 3:
            out.append(f"`{template.format(f'{number}…{number + j - i - 1}')}` ({unit})")
        else:
            j = i + 1
            out.append(f"`{template if number is None else template.format(number)}` ({unit})")
        i = j
    return ", ".join(out)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _ordered(models: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(models, key=lambda m: (_NEED_ORDER.get(m["need"], 9), m["model"]))


def models_markdown() -> str:
    """The supported-devices table: one row per model key, generated from the decoder specs."""
    rows = [
        "| model key | vendor | model | need | fPorts | frames | fields (unit) | docs |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for m in _ordered(supported_models()):
        fields = _fields(m["fields"])
        rows.append(
            "| "
            + " | ".join(
                [
                    f"`{m['model']}`",
                    _cell(m["vendor"]),
                    _cell(m.get("name") or ""),
                    m["need"],
                    _ports(m["f_ports"]),
                    ", ".join(k for k in _FRAME_ORDER if k in m["frames"]),
                    _cell(fields),
                    f"[payload format]({m['doc_url']})",
                ]
            )
            + " |"
        )
    return "\n".join(rows)


def _fail(message: str) -> typer.Exit:
    typer.echo(message, err=True)
    return typer.Exit(code=2)


def register(app: typer.Typer) -> None:
    @app.command("decode")
    def decode_command(
        model: str = typer.Argument(..., help="Model key, e.g. elsys-ers (see `leedswin models`)"),
        f_port: int = typer.Argument(..., help="LoRaWAN fPort of the uplink"),
        payload_hex: str = typer.Argument(..., metavar="HEX", help="Payload as hex, e.g. 0100e2"),
    ) -> None:
        """Decode one payload and print everything it says as JSON; exit 2 if it is not a frame.

        The JSON is the ``DecodedUplink``: ``frames`` (each with ``readings``, ``time_ns`` =
        the device's clock or ``age_s`` before the uplink, both null for "at the uplink", and
        ``withheld`` out-of-range values), ``status`` and ``unknown`` parts (offset, hex, note).
        """
        try:
            payload = bytes.fromhex(payload_hex)
        except ValueError as exc:
            raise _fail(f"bad hex payload {payload_hex!r}: {exc}") from None
        try:
            decoded = decode_uplink(model, f_port, payload)
        except DecodeError as exc:
            raise _fail(f"{exc.code}: {exc}") from None
        typer.echo(json.dumps(dataclasses.asdict(decoded)))

    @app.command("models")
    def models_command(
        markdown: bool = typer.Option(
            False, "--markdown", help="Print the README's markdown table"
        ),
        write_readme: Path | None = typer.Option(
            None, help="Rewrite the device table between the models markers in this README"
        ),
    ) -> None:
        """List every supported model (JSON, or the README's markdown table)."""
        if write_readme is not None:
            table = models_markdown()
            write_readme.write_text(replace_section(write_readme.read_text(), START, END, table))
            return
        if markdown:
            typer.echo(models_markdown())
            return
        typer.echo(json.dumps(_ordered(supported_models()), indent=2))

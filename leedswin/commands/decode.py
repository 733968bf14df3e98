"""`leedswin decode`: try a payload by hand, and the README's supported-devices table.

The table is ``leedswin models --markdown`` output (``models_markdown`` here), kept in the
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

from core.errors import ConfigError, DecodeError
from decoders import decode_uplink, supported_models
from leedswin.commands.models import decode_with_codec

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
        if j - i >= 3 and number is not None:
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
        args: list[str] = typer.Argument(
            ...,
            metavar="[MODEL] F_PORT HEX",
            help="Model key (see `leedswin models`), fPort and payload hex, e.g. elsys-ers 5 0100e2;"
            " with --codec or --model-file only F_PORT HEX",
        ),
        codec: Path | None = typer.Option(
            None, "--codec", help="Run this vendor codec (.js) instead of a model's decoder"
        ),
        model_file: Path | None = typer.Option(
            None, "--model-file", help="A model definition (.yaml): also print canonical readings"
        ),
    ) -> None:
        """Decode one payload and print everything it says as JSON; exit 2 if it is not a frame.

        With a model key the JSON is the ``DecodedUplink``: ``frames`` (each with ``readings``,
        ``time_ns`` = the device's clock or ``age_s`` before the uplink, both null for "at the
        uplink", and ``withheld`` out-of-range values), ``status`` and ``unknown`` parts
        (offset, hex, note). With ``--codec``/``--model-file`` it is the codec's own
        ``{data, warnings, errors}``, plus ``readings`` when a model file maps them.
        """
        by_codec = codec is not None or model_file is not None
        if len(args) != (2 if by_codec else 3):
            usage = "F_PORT HEX" if by_codec else "MODEL F_PORT HEX"
            raise _fail(f"expected {usage}, got {len(args)} argument(s)")
        *model, port_text, payload_hex = args
        try:
            f_port = int(port_text)
        except ValueError:
            raise _fail(f"bad fPort {port_text!r}: not a whole number") from None
        try:
            payload = bytes.fromhex(payload_hex)
        except ValueError as exc:
            raise _fail(f"bad hex payload {payload_hex!r}: {exc}") from None
        if by_codec:
            try:
                result = decode_with_codec(codec, f_port, payload, model_file)
            except ConfigError as exc:
                raise _fail(f"{exc.code}: {exc}") from None
            typer.echo(json.dumps(result))
            if result["errors"]:
                raise typer.Exit(code=2)
            return
        try:
            decoded = decode_uplink(model[0], f_port, payload)
        except DecodeError as exc:
            raise _fail(f"{exc.code}: {exc}") from None
        typer.echo(json.dumps(dataclasses.asdict(decoded)))

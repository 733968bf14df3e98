"""`leedswin models` (native and configured models, where each is decoded) and `models check DIR`.

``decode_with_codec`` is the body of ``leedswin decode --codec FILE [--model-file FILE]``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import typer

from core.errors import CodecError, ConfigError, DecodeError
from decoders import supported_models
from decoders.codec import Codec
from decoders.configured import (
    ConfiguredModel,
    check_examples,
    load_directory,
    load_model,
)

__all__ = ["check_directory", "configured_models", "decode_with_codec", "register"]


def _where(model: ConfiguredModel) -> str:
    return "network server (event object)" if model.decoded == "upstream" else "codec"


def configured_models(models: list[ConfiguredModel]) -> list[dict[str, Any]]:
    """``supported_models()`` rows for configured models, plus where and from which files."""
    return [
        {
            "model": m.key,
            "vendor": m.spec.vendor,
            "name": m.spec.model,
            "need": m.spec.need,
            "f_ports": sorted(m.spec.f_ports),
            "fields": {f.name: f.unit for f in m.spec.fields},
            "frames": sorted(m.spec.frame_kinds),
            "doc_url": m.spec.doc_url,
            "decoded": _where(m),
            "file": str(m.path),
        }
        for m in models
    ]


def list_models(models_dir: Path | None) -> list[dict[str, Any]]:
    """Native models (decoded in Python) beside the configured ones of ``models_dir``."""
    rows = [{**row, "decoded": "native"} for row in supported_models()]
    if models_dir is not None:
        rows += configured_models(list(load_directory(models_dir).values()))
    return rows


def check_directory(directory: Path) -> tuple[list[str], bool]:
    """Load every model file in a directory and run its examples: report lines and success."""
    lines: list[str] = []
    ok = True
    paths = sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")])
    if not paths:
        return [f"{directory}: no model files (*.yaml)"], False
    for path in paths:
        try:
            model = load_model(path, run_examples=False)
        except ConfigError as exc:
            lines.append(f"FAIL {path.name}: {exc}")
            ok = False
            continue
        failures = check_examples(model)
        count = len(model.examples)
        if failures:
            ok = False
            lines.append(f"FAIL {path.name} ({model.key}): {len(failures)} of {count} examples")
            lines += [f"     {failure}" for failure in failures]
        elif count == 0:
            lines.append(f"ok   {path.name} ({model.key}, {_where(model)}): no examples to run")
        else:
            lines.append(f"ok   {path.name} ({model.key}, {_where(model)}): {count} examples pass")
    return lines, ok


def decode_with_codec(
    codec_file: Path | None, f_port: int, payload: bytes, model_file: Path | None = None
) -> dict[str, Any]:
    """``{data, warnings, errors}`` from a codec file, plus ``readings`` with a model file.

    ``ConfigError`` if the codec or model file cannot be read or loaded; a codec
    that fails on this payload gives ``data: None`` and its message in ``errors``.

    With ``model_file``, the codec named in it is used when ``codec_file`` is None;
    ``readings`` are the canonical readings by frame, with withheld values and status.
    ``input.recvTime`` is now.
    """
    model = load_model(model_file, run_examples=False) if model_file is not None else None
    if codec_file is not None:
        try:
            source = codec_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{codec_file}: cannot read codec: {exc}") from None
        try:
            codec = Codec(source, name=codec_file.name)
        except CodecError as exc:
            raise ConfigError(f"{codec_file}: {exc.reason}") from None
    elif model is not None and model.codec is not None:
        codec = model.codec
    else:
        raise ConfigError("give --codec FILE, or a --model-file whose model has a codec")
    variables = model.variables if model is not None else {}
    try:
        result = codec.decode(f_port, payload, time.time_ns() // 1_000_000, variables)
    except CodecError as exc:
        return {"data": None, "warnings": [], "errors": [exc.reason]}
    errors: list[str] = []
    out: dict[str, Any] = {"data": result.data, "warnings": list(result.warnings), "errors": errors}
    if result.normalized is not None:
        out["normalized"] = result.normalized
    if model is not None:
        try:
            checked = model.checked(model.map_output(result))
        except DecodeError as exc:
            errors.append(exc.reason)
            return out
        out["readings"] = [
            {
                "readings": frame.readings,
                "withheld": frame.withheld,
                **({"time_ns": frame.time_ns} if frame.time_ns is not None else {}),
            }
            for frame in checked.frames
        ]
        out["status"] = checked.status
    return out


def _fail(message: str) -> typer.Exit:
    typer.echo(message, err=True)
    return typer.Exit(code=2)


def register(app: typer.Typer) -> None:
    """Add the ``models`` group (listing, ``check``) to the console script."""
    group = typer.Typer(help="Models: native decoders and configured codecs.")

    @group.callback(invoke_without_command=True)
    def models_command(
        ctx: typer.Context,
        models_dir: Path | None = typer.Option(
            None, "--models-dir", help="Directory of configured model files to list too"
        ),
        markdown: bool = typer.Option(
            False, "--markdown", help="Print the README's markdown table (native models)"
        ),
        write_readme: Path | None = typer.Option(
            None, help="Rewrite the device table between the models markers in this README"
        ),
    ) -> None:
        """List native and configured models with where each is decoded (JSON)."""
        if ctx.invoked_subcommand is not None:
            return
        if markdown or write_readme is not None:
            from leedswin.commands.decode import END, START, models_markdown
            from leedswin.commands.settings import replace_section

            table = models_markdown()
            if write_readme is not None:
                text = replace_section(write_readme.read_text(), START, END, table)
                write_readme.write_text(text)
            else:
                typer.echo(table)
            return
        try:
            rows = list_models(models_dir)
        except ConfigError as exc:
            raise _fail(f"{exc.code}: {exc}") from None
        typer.echo(json.dumps(rows, indent=2))

    @group.command("check")
    def check_command(
        directory: Path = typer.Argument(..., help="Directory of model files and codecs"),
    ) -> None:
        """Load every model file and run its examples; exit 2 if any fails."""
        lines, ok = check_directory(directory)
        for line in lines:
            typer.echo(line)
        if not ok:
            raise typer.Exit(code=2)

    app.add_typer(group, name="models")

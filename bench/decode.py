"""Decode throughput per registered model: ``python -m bench.decode``.

For every model in ``decoders.registry.SPECS`` that has an encoder in
``firmware_sim.encoders.ENCODERS``, a few hundred distinct frames are encoded from values
drawn inside the model's declared field ranges, then decoded in a tight loop on one core:

- *family*: the family's pure ``decode(f_port, payload)`` alone;
- *decoders.decode*: the public entry point (fPort check, range checks, error wrapping),
  which is what the bridge calls;
- *batch*: rows/s through a vectorised decoder, where the family module lists one in
  ``BATCH_DECODERS`` (model key -> ``fn(f_port, payloads) -> dict[str, np.ndarray]``).

Models whose encoder cannot make a frame that decodes are listed with the reason, not dropped.
"""

from __future__ import annotations

import importlib
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from decoders import decode
from decoders.registry import SPECS
from decoders.spec import DecoderSpec
from firmware_sim.encoders import ENCODERS

app = typer.Typer(add_completion=False)


@dataclass
class Result:
    model: str
    frame_bytes: str = ""
    family: float | None = None
    public: float | None = None
    batch: float | None = None
    note: str = ""


def _frames(spec: DecoderSpec, count: int, rng: random.Random) -> tuple[int, list[bytes]]:
    """Distinct valid frames; falls back to mid-range values if random ones do not encode."""
    encode = ENCODERS[spec.key]
    midpoint = {f.name: (f.minimum + f.maximum) / 2 for f in spec.fields}
    f_port, frames = 0, []
    for _ in range(count):
        values = {f.name: rng.uniform(f.minimum, f.maximum) for f in spec.fields}
        for candidate in (values, midpoint):
            try:
                port, payload = encode(candidate)
                decode(spec.key, port, payload)
            except Exception:  # an encoder's own limits: try the next candidate
                continue
            f_port = port
            frames.append(payload)
            break
    if not frames:
        raise ValueError("encoder gave no frame that decodes")
    return f_port, frames


REPEATS = 5


def _rate(fn: Callable[[], Any], per_call: int, seconds: float) -> float:
    """Decodes/s of ``fn`` (``per_call`` decodes per call): the best of ``REPEATS`` windows.

    The best window, as ``timeit`` advises, because on a shared machine the slower windows
    measure the neighbours, not the decoder.
    """
    best = 0.0
    for _ in range(REPEATS):
        calls, start = 0, time.perf_counter()
        while True:
            fn()
            calls += 1
            elapsed = time.perf_counter() - start
            if elapsed >= seconds / REPEATS:
                break
        best = max(best, calls * per_call / elapsed)
    return best


def _batch_decoders(spec: DecoderSpec) -> dict[str, Callable[..., Any]]:
    module = importlib.import_module(spec.decode.__module__)
    return getattr(module, "BATCH_DECODERS", {})


def measure(spec: DecoderSpec, frames_per_model: int, seconds: float, batch_size: int) -> Result:
    result = Result(spec.key)
    if spec.key not in ENCODERS:
        result.note = "no encoder"
        return result
    try:
        f_port, frames = _frames(spec, frames_per_model, random.Random(spec.key))
    except ValueError as exc:
        result.note = str(exc)
        return result
    sizes = sorted({len(f) for f in frames})
    result.frame_bytes = "/".join(map(str, sizes))
    family = spec.decode
    key = spec.key

    def run_family() -> None:
        for frame in frames:
            family(f_port, frame)

    def run_public() -> None:
        for frame in frames:
            decode(key, f_port, frame)

    result.family = _rate(run_family, len(frames), seconds)
    result.public = _rate(run_public, len(frames), seconds)
    batch_fn = _batch_decoders(spec).get(key)
    if batch_fn is not None and len(sizes) == 1:
        rows = (frames * (batch_size // len(frames) + 1))[:batch_size]
        result.batch = _rate(lambda: batch_fn(f_port, rows), len(rows), seconds)
    return result


def _fmt(rate: float | None) -> str:
    return "—" if rate is None else f"{rate:,.0f}"


@app.command()
def main(
    seconds: float = typer.Option(1.0, help="Time per measurement (split into repeats)."),
    frames: int = typer.Option(256, help="Distinct frames per model."),
    batch_size: int = typer.Option(10_000, help="Rows per call for batch decoders."),
    model: list[str] = typer.Option([], help="Only these model keys (repeatable)."),
) -> None:
    """Decodes per second per model on one core."""
    specs = [s for s in SPECS if not model or s.key in model]
    table = Table(title="Decode throughput (one core)")
    table.add_column("model", no_wrap=True)
    table.add_column("bytes", justify="right")
    table.add_column("family/s", justify="right")
    table.add_column("decode()/s", justify="right")
    table.add_column("batch rows/s", justify="right")
    table.add_column("note")
    for spec in specs:
        r = measure(spec, frames, seconds, batch_size)
        table.add_row(r.model, r.frame_bytes, _fmt(r.family), _fmt(r.public), _fmt(r.batch), r.note)
    Console(width=max(Console().width, 100)).print(table)


if __name__ == "__main__":
    app()

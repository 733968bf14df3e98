"""JavaScript codec throughput beside the native decoder for the same model: ``python -m bench.codec``.

The model is the Dragino LHT65N: ``dragino-lht65n`` (native, Python) and
``dragino-lht65n-js`` (the vendor-style codec ``tests/decoders/codecs/models/lht65n.js``
with its model file). A few hundred distinct frames are made as ``bench.decode`` makes
them (``firmware_sim`` encoder, values drawn inside the declared ranges) and decoded in a
tight loop on one core, best of ``bench.decode.REPEATS`` windows:

- *native decode_uplink*: ``decoders.decode_uplink`` on the native model;
- *codec alone*: ``Codec.decode`` (QuickJS call, input built in JS, JSON result parsed);
- *configured decode_uplink*: ``decoders.decode_uplink`` on the configured model
  (codec, field map, unit conversion, range checks);
- *upstream object*: ``readings_from_object`` on the codec's output, i.e. the cost of a
  model decoded by the network server.
"""

from __future__ import annotations

import random
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

import decoders
from bench.decode import _frames, _rate
from decoders.configured import ModelCatalog, install, readings_from_object

MODELS = Path(__file__).resolve().parent.parent / "tests" / "decoders" / "codecs" / "models"
NATIVE, CONFIGURED = "dragino-lht65n", "dragino-lht65n-js"

app = typer.Typer(add_completion=False)


@app.command()
def main(
    seconds: float = typer.Option(1.0, help="Time per measurement (split into repeats)."),
    frames: int = typer.Option(256, help="Distinct frames."),
) -> None:
    """Decodes per second, native beside JavaScript codec, on one core."""
    catalog = ModelCatalog(MODELS)
    install(catalog)
    model = catalog.get(CONFIGURED)
    assert model is not None and model.codec is not None
    f_port, payloads = _frames(decoders.get_spec(NATIVE), frames, random.Random(NATIVE))
    codec = model.codec
    outputs = [codec.decode(f_port, p).data for p in payloads]

    def native() -> None:
        for payload in payloads:
            decoders.decode_uplink(NATIVE, f_port, payload)

    def codec_alone() -> None:
        for payload in payloads:
            codec.decode(f_port, payload)

    def configured() -> None:
        for payload in payloads:
            decoders.decode_uplink(CONFIGURED, f_port, payload)

    def upstream() -> None:
        for data in outputs:
            readings_from_object(model, data)

    table = Table(title=f"LHT65N decodes/s, {len(payloads)} distinct 11-byte frames (one core)")
    table.add_column("path")
    table.add_column("decodes/s", justify="right")
    for name, fn in [
        ("native decode_uplink", native),
        ("codec alone (QuickJS)", codec_alone),
        ("configured decode_uplink", configured),
        ("upstream object (field map)", upstream),
    ]:
        table.add_row(name, f"{_rate(fn, len(payloads), seconds):,.0f}")
    install(None)
    Console(width=max(Console().width, 80)).print(table)


if __name__ == "__main__":
    app()

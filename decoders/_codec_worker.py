"""The process a ``decoders.codec.Codec`` runs its JavaScript in: ``python -I _codec_worker.py``.

Run as a script (not imported through the ``decoders`` package, so it starts in
tens of milliseconds). It reads the codec and its limits, compiles them into
one QuickJS context, answers ``{"kind", "normalizes"}``, then serves one call
per request until its stdin closes. Messages both ways are a 4-byte big-endian
length and an orjson body. After a time, memory or stack failure it answers and
exits: the context may be in a bad state, and the parent starts a new process.

The parent kills this process (by its own ``Popen``) when a call overruns its
wall-clock bound, because QuickJS cannot guarantee that bound itself: its
interrupt handler only runs every ~10,000 bytecode branches and calls, and when
the heap is full the "interrupted" error cannot be allocated and becomes a
catchable "out of memory", so a codec that catches in a loop runs on.
"""

from __future__ import annotations

import struct
import sys
from typing import Any

import orjson
import quickjs

# Run after the codec's own source, in the same context. It detects the
# convention once, builds the input object, and returns one JSON string so the
# whole result crosses into Python in a single conversion (and a getter or
# cycle in the result fails inside the time limit, not in Python).
HARNESS = r"""
(function () {
  var g = globalThis;
  var kind = typeof g.decodeUplink === 'function' ? 'decodeUplink'
           : typeof g.Decode === 'function' ? 'Decode'
           : typeof g.Decoder === 'function' ? 'Decoder' : '';
  var decodeUplink = g.decodeUplink, Decode = g.Decode, Decoder = g.Decoder;
  var normalize = typeof g.normalizeUplink === 'function' ? g.normalizeUplink : null;
  function list(v) { return Array.isArray(v) ? v.map(String) : (v == null ? [] : [String(v)]); }
  g.__leedswin_kind = kind;
  g.__leedswin_normalizes = normalize !== null;
  g.__leedswin_run = function (fPort, hex, recvMs, variablesJson) {
    var bytes = new Array(hex.length / 2);
    for (var i = 0; i < bytes.length; i++) bytes[i] = parseInt(hex.substr(i * 2, 2), 16);
    var variables = JSON.parse(variablesJson);
    var out;
    if (kind === 'decodeUplink') {
      var r = decodeUplink({bytes: bytes, fPort: fPort, recvTime: new Date(recvMs), variables: variables});
      if (r === null || typeof r !== 'object') return JSON.stringify({shape: typeof r});
      out = {data: r.data, warnings: list(r.warnings), errors: list(r.errors)};
    } else if (kind === 'Decode') {
      out = {data: Decode(fPort, bytes, variables), warnings: [], errors: []};
    } else {
      out = {data: Decoder(bytes, fPort), warnings: [], errors: []};
    }
    if (normalize && out.errors.length === 0 && out.data !== null && typeof out.data === 'object') {
      var n = normalize({data: out.data, recvTime: new Date(recvMs)});
      if (n !== null && typeof n === 'object') {
        out.normalized = n.data === undefined ? null : n.data;
        out.warnings = out.warnings.concat(list(n.warnings));
        out.errors = out.errors.concat(list(n.errors));
      }
    }
    out.shape = out.data === null ? 'null' : Array.isArray(out.data) ? 'array' : typeof out.data;
    return JSON.stringify(out);
  };
  g.console = {log: function () {}, info: function () {}, warn: function () {},
               error: function () {}, debug: function () {}};
})();
"""


def _read(stream: Any) -> Any:
    header = stream.read(4)
    if len(header) < 4:
        raise SystemExit(0)  # the parent closed our stdin: it is done with this codec
    return orjson.loads(stream.read(struct.unpack(">I", header)[0]))


def _write(stream: Any, message: dict[str, Any]) -> None:
    body = orjson.dumps(message)
    stream.write(struct.pack(">I", len(body)) + body)
    stream.flush()


def _failure(exc: BaseException) -> dict[str, Any]:
    """What the codec threw, and whether the context may be broken (a limit was hit)."""
    text = str(exc).strip()
    stack = isinstance(exc, quickjs.StackOverflow)
    fatal = stack or any(
        mark in text
        for mark in ("InternalError: interrupted", "out of memory", "Maximum call stack size")
    )
    # QuickJS throws null (no error object) when even the error could not be
    # allocated, as when memory runs out during garbage collection.
    if text in ("", "null"):
        fatal = True
    return {"error": text, "stack": stack, "fatal": fatal}


def main() -> None:
    """Serve one codec until stdin closes (or a limit leaves its context unusable)."""
    requests, replies = sys.stdin.buffer, sys.stdout.buffer
    setup = _read(requests)
    context = quickjs.Context()
    context.set_memory_limit(setup["memory_bytes"])
    context.set_max_stack_size(setup["stack_bytes"])
    context.set_time_limit(setup["time_s"])
    try:
        context.eval(setup["source"])
        context.eval(HARNESS)
    except quickjs.JSException as exc:
        _write(replies, _failure(exc))
        return
    _write(
        replies,
        {
            "kind": context.get("__leedswin_kind") or "",
            "normalizes": bool(context.get("__leedswin_normalizes")),
        },
    )
    run = context.get("__leedswin_run")
    output_chars = setup["output_chars"]
    while True:
        f_port, hex_payload, recv_ms, variables_json = _read(requests)
        try:
            # ms as a float: the extension passes a Python int to JS as a 32-bit integer.
            text = run(f_port, hex_payload, float(recv_ms), variables_json)
        except quickjs.JSException as exc:
            failure = _failure(exc)
            _write(replies, failure)
            if failure["fatal"]:
                return
            continue
        if not isinstance(text, str):
            _write(replies, {"text": None})
        elif len(text) > output_chars:
            _write(replies, {"too_long": len(text)})
        else:
            _write(replies, {"text": text})


if __name__ == "__main__":
    main()

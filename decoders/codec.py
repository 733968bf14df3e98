"""Vendor JavaScript codecs, run in QuickJS with per-call time, memory and stack limits.

Three conventions are understood, detected from the functions a codec defines
(first match wins):

- ``decodeUplink(input)``: the LoRaWAN Device Repository / The Things Stack /
  ChirpStack v4 form. ``input`` is ``{bytes, fPort, recvTime, variables}``
  (``bytes`` a plain Array of 0–255, ``recvTime`` a ``Date``, ``variables``
  the device's string variables); it returns ``{data, warnings, errors}`` and
  a non-empty ``errors`` means decoding failed
  (thethingsindustries.com/docs/integrations/payload-formatters/javascript/uplink/,
  chirpstack.io/docs/chirpstack/use/device-profiles.html "Codec").
- ``Decode(fPort, bytes, variables)``: ChirpStack v3; returns the data object.
- ``Decoder(bytes, port)``: The Things Network v2; returns the data object.

If the codec also defines ``normalizeUplink({data})`` (the Device Repository's
normalized payload), it is called on the decoded data and its output is
returned beside it.

Engine choice: ``quickjs-ng`` (PyPI, wheels for CPython 3.10+, released with
each upstream QuickJS-ng tag). QuickJS is what ChirpStack itself runs codecs in,
so a codec that works there behaves the same here; a ``Context`` has its own
runtime with memory, stack and time limits. Measured on the development
machine, a vendor-style codec decodes 20,000–70,000 uplinks/s through it,
where V8 through ``mini-racer`` (per-call timeout and memory limit too, but
each call hops to V8's thread) managed about 3,000 calls/s of an empty
function. The older ``quickjs`` package (same API) was last released in 2023;
the two install the same ``quickjs`` module, so only one may be installed.

Sandbox: a bare QuickJS context has only the ECMAScript built-ins (no ``std``/
``os`` modules, no ``require``, ``process``, ``fetch``, file system or network)
and no Python callables are added; ``console`` is a pure-JS no-op so vendor
codecs that log still run. Each call is bounded by ``Limits``: CPU time (the
extension measures ``clock()``, which is process CPU time, so busy sibling
threads make the bound tighter, never looser), heap bytes, native stack bytes
and output size. Every failure is a ``CodecError`` with the codec's own
message; after a time, memory or stack failure the context is thrown away and
recompiled on the next call, so a codec that filled its heap cannot poison the
next uplink.

Compilation happens once per codec per thread: a QuickJS runtime must only be
used from the thread that made it, so each thread that calls ``Codec.decode``
gets its own context, compiled on its first call and reused afterwards.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import orjson
import quickjs

from core.errors import CodecError

__all__ = ["Codec", "CodecOutput", "Convention", "Limits"]

Convention = Literal["decodeUplink", "Decode", "Decoder"]


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds on one codec call: CPU seconds, heap bytes, native stack bytes, output chars."""

    time_s: float = 0.1
    memory_bytes: int = 32 * 1024 * 1024
    stack_bytes: int = 512 * 1024
    output_chars: int = 64 * 1024


@dataclass(frozen=True, slots=True)
class CodecOutput:
    """What a codec returned: ``data`` (a JSON object), its warnings, and the normalized payload.

    ``normalized`` is ``normalizeUplink``'s ``data`` (one measurement object or a
    list of them), or None when the codec defines no ``normalizeUplink``.
    """

    data: dict[str, Any]
    warnings: tuple[str, ...] = ()
    normalized: Any = None


# Run after the codec's own source, in the same context. It detects the
# convention once, builds the input object, and returns one JSON string so the
# whole result crosses into Python in a single conversion (and a getter or
# cycle in the result fails inside the time limit, not in Python).
_HARNESS = r"""
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


class Codec:
    """One codec's source, compiled once per calling thread; ``decode`` runs one uplink.

    ``CodecError`` at construction if the source does not compile, its top level
    fails, or it defines none of ``decodeUplink``, ``Decode`` or ``Decoder``.
    """

    def __init__(self, source: str, name: str = "codec", limits: Limits | None = None) -> None:
        self.source = source
        self.name = name
        self.limits = limits or Limits()
        self._local = threading.local()
        context = self._context()  # compile now: a broken codec fails at load, not per uplink
        self.convention: Convention = context.get("__leedswin_kind")
        #: Whether the codec defines ``normalizeUplink`` (its output is ``CodecOutput.normalized``).
        self.normalizes: bool = bool(context.get("__leedswin_normalizes"))

    def _context(self) -> Any:
        """This thread's compiled context and run function, made on first use."""
        run = getattr(self._local, "run", None)
        if run is not None:
            return self._local.context
        context = quickjs.Context()
        context.set_memory_limit(self.limits.memory_bytes)
        context.set_max_stack_size(self.limits.stack_bytes)
        context.set_time_limit(self.limits.time_s)
        try:
            context.eval(self.source)
            context.eval(_HARNESS)
        except quickjs.JSException as exc:
            raise CodecError(f"{self.name} does not load: {_message(exc, self.limits)}") from None
        if not context.get("__leedswin_kind"):
            raise CodecError(f"{self.name} defines none of decodeUplink, Decode or Decoder")
        self._local.context = context
        self._local.run = context.get("__leedswin_run")
        return context

    def decode(
        self,
        f_port: int,
        payload: bytes,
        recv_time_ms: int = 0,
        variables: Mapping[str, str] | None = None,
    ) -> CodecOutput:
        """Run the codec on one uplink; ``CodecError`` (with the codec's message) on any failure.

        ``recv_time_ms`` is the uplink's receive time in ms since the Unix epoch
        (``input.recvTime``); ``variables`` are the device's codec variables.
        """
        self._context()
        run = self._local.run
        try:
            # ms as a float: the extension passes a Python int to JS as a 32-bit integer.
            text = run(
                f_port,
                bytes(payload).hex(),
                float(recv_time_ms),
                orjson.dumps(variables or {}).decode(),
            )
        except quickjs.JSException as exc:
            message = _message(exc, self.limits)
            if _fatal(exc):
                self._discard()
            raise CodecError(f"{self.name}: {message}") from None
        if not isinstance(text, str):
            raise CodecError(f"{self.name}: result is not serialisable to JSON")
        if len(text) > self.limits.output_chars:
            raise CodecError(
                f"{self.name}: result is {len(text)} characters, limit {self.limits.output_chars}"
            )
        try:
            out = orjson.loads(text)
        except orjson.JSONDecodeError as exc:  # a codec that replaced JSON.stringify
            raise CodecError(f"{self.name}: result is not JSON: {exc}") from None
        if not isinstance(out, dict) or not isinstance(out.get("shape"), str):
            raise CodecError(f"{self.name}: result is not a decodeUplink result")
        if "data" not in out and "errors" not in out:
            raise CodecError(f"{self.name}: decodeUplink returned {out['shape']}, not an object")
        if out["errors"]:
            raise CodecError(f"{self.name}: " + "; ".join(out["errors"]))
        if out["shape"] != "object":
            raise CodecError(f"{self.name}: data is {out['shape']}, not an object")
        return CodecOutput(out["data"], tuple(out["warnings"]), out.get("normalized"))

    def _discard(self) -> None:
        self._local.run = None
        self._local.context = None


def _message(exc: BaseException, limits: Limits) -> str:
    """The codec's own message: the first line of what it threw, or which limit it hit."""
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if isinstance(exc, quickjs.StackOverflow) or "Maximum call stack size" in first:
        return f"stack limit of {limits.stack_bytes} bytes exceeded (recursion too deep): {first}"
    if first == "InternalError: interrupted":
        return f"time limit of {limits.time_s * 1000:g} ms CPU exceeded"
    if first == "InternalError: out of memory":
        return f"memory limit of {limits.memory_bytes} bytes exceeded"
    return first


def _fatal(exc: BaseException) -> bool:
    """Whether the context may be left in a bad state (a limit was hit mid-run)."""
    text = str(exc)
    return isinstance(exc, quickjs.StackOverflow) or (
        "InternalError: interrupted" in text
        or "InternalError: out of memory" in text
        or "Maximum call stack size" in text
    )

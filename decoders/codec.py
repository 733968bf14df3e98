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
runtime with memory, stack and time limits. The older ``quickjs`` package (same
API) was last released in 2023; the two install the same ``quickjs`` module, so
only one may be installed.

Sandbox: a bare QuickJS context has only the ECMAScript built-ins (no ``std``/
``os`` modules, no ``require``, ``process``, ``fetch``, file system or network)
and no Python callables are added; ``console`` is a pure-JS no-op so vendor
codecs that log still run. Each call is bounded by ``Limits``: CPU time (the
extension measures ``clock()``), heap bytes, native stack bytes, output size,
and wall-clock time. Every failure is a ``CodecError`` with the codec's own
message.

Each codec runs in a process of its own (``decoders/_codec_worker.py``), because
QuickJS cannot bound a call by itself: its interrupt handler runs only every
~10,000 branches and calls, and when the heap is full the "interrupted" error
cannot be allocated and turns into a catchable "out of memory", so a codec that
catches in a loop ran for minutes (measured: > 60 s, and 11 s wall / 4.8 s CPU
for a 100 ms bound). A call that has no answer within ``Limits.wall_s`` has its
process killed and a new one is started for the next call; so is a process whose
call hit a time, memory or stack limit, so a codec that filled its heap cannot
poison the next uplink. Measured with ``python -m bench.codec`` on the
development machine: 21,000 LHT65N decodes/s through the process against 37,000
in-process; the configured model's full decode path is unchanged at ~19,000/s,
as the codec's process works while the caller maps fields.

Compilation happens once per codec per thread: each thread that calls
``Codec.decode`` gets its own process (a QuickJS runtime must only be used from
one thread, and replies must not interleave), compiled on its first call and
reused afterwards.
"""

from __future__ import annotations

import os
import select
import struct
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import orjson

from core.errors import CodecError

__all__ = ["Codec", "CodecOutput", "Convention", "Limits"]

Convention = Literal["decodeUplink", "Decode", "Decoder"]

_WORKER = Path(__file__).with_name("_codec_worker.py")
#: Allowance for starting the interpreter and compiling the codec, beside ``wall_s``.
_START_S = 10.0


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds on one codec call: CPU seconds, heap bytes, native stack bytes, output chars."""

    time_s: float = 0.1
    memory_bytes: int = 32 * 1024 * 1024
    stack_bytes: int = 512 * 1024
    output_chars: int = 64 * 1024
    #: Wall-clock bound on one call, whatever the codec catches (see ``decode``).
    wall_s: float = 1.0


@dataclass(frozen=True, slots=True)
class CodecOutput:
    """What a codec returned: ``data`` (a JSON object), its warnings, and the normalized payload.

    ``normalized`` is ``normalizeUplink``'s ``data`` (one measurement object or a
    list of them), or None when the codec defines no ``normalizeUplink``.
    """

    data: dict[str, Any]
    warnings: tuple[str, ...] = ()
    normalized: Any = None


class _Worker:
    """One codec in its own process (``decoders/_codec_worker.py``), compiled on start."""

    def __init__(self, source: str, name: str, limits: Limits) -> None:
        self.name, self.limits = name, limits
        self.process = subprocess.Popen(  # noqa: S603 - our interpreter and our script
            [sys.executable, "-I", str(_WORKER)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            bufsize=0,
        )
        self._finalizer = weakref.finalize(self, _stop, self.process)
        self.send(
            {
                "source": source,
                "time_s": limits.time_s,
                "memory_bytes": limits.memory_bytes,
                "stack_bytes": limits.stack_bytes,
                "output_chars": limits.output_chars,
            }
        )
        self.ready: dict[str, Any] = self.receive(limits.wall_s + _START_S)

    def send(self, message: Any) -> None:
        body = orjson.dumps(message)
        try:
            self.process.stdin.write(struct.pack(">I", len(body)) + body)  # type: ignore[union-attr]
        except OSError:
            pass  # the process is gone: receive() reports it

    def receive(self, timeout: float) -> dict[str, Any]:
        """The next reply; ``CodecError`` when none comes within ``timeout`` s of wall time."""
        fd = self.process.stdout.fileno()  # type: ignore[union-attr]
        deadline = time.monotonic() + timeout
        data = b""
        need = 4
        while True:
            while len(data) < need:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
                    self.stop()
                    raise CodecError(
                        f"{self.name}: wall-clock limit of {timeout * 1000:g} ms exceeded "
                        "(its process was ended)"
                    )
                chunk = os.read(fd, 1 << 16)
                if not chunk:
                    self.stop()
                    raise CodecError(f"{self.name}: codec process ended (out of memory?)")
                data += chunk
            if need == 4:
                need = 4 + struct.unpack(">I", data[:4])[0]
                continue
            reply: dict[str, Any] = orjson.loads(data[4:need])
            return reply

    def stop(self) -> None:
        self._finalizer()

    @property
    def alive(self) -> bool:
        return self.process.poll() is None


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Kill the codec's process (ours, by its handle) and reap it."""
    if process.poll() is None:
        process.kill()
    process.wait()
    for stream in (process.stdin, process.stdout):
        if stream is not None:
            stream.close()


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
        ready = self._context().ready  # compile now: a broken codec fails at load, not per uplink
        self.convention: Convention = ready["kind"]
        #: Whether the codec defines ``normalizeUplink`` (its output is ``CodecOutput.normalized``).
        self.normalizes: bool = ready["normalizes"]

    def _context(self) -> _Worker:
        """This thread's codec process, started (and the codec compiled) on first use."""
        worker: _Worker | None = getattr(self._local, "worker", None)
        if worker is not None and worker.alive:
            return worker
        self._local.worker = None
        worker = _Worker(self.source, self.name, self.limits)
        if "error" in worker.ready:
            worker.stop()
            reason = _message(worker.ready, self.limits)
            raise CodecError(f"{self.name} does not load: {reason}")
        if not worker.ready["kind"]:
            worker.stop()
            raise CodecError(f"{self.name} defines none of decodeUplink, Decode or Decoder")
        self._local.worker = worker
        return worker

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
        Whatever the codec does, the call returns within ``Limits.wall_s`` of wall time.
        """
        worker = self._context()
        worker.send(
            [f_port, bytes(payload).hex(), recv_time_ms, orjson.dumps(variables or {}).decode()]
        )
        reply = worker.receive(self.limits.wall_s)
        if "error" in reply:
            if reply["fatal"]:
                worker.stop()  # a new process (and context) for the next uplink
            raise CodecError(f"{self.name}: {_message(reply, self.limits)}")
        if "too_long" in reply:
            raise CodecError(
                f"{self.name}: result is {reply['too_long']} characters, "
                f"limit {self.limits.output_chars}"
            )
        text = reply["text"]
        if not isinstance(text, str):
            raise CodecError(f"{self.name}: result is not serialisable to JSON")
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


def _message(failure: Mapping[str, Any], limits: Limits) -> str:
    """The codec's own message: the first line of what it threw, or which limit it hit."""
    text = failure["error"]
    first = text.splitlines()[0] if text else ""
    if failure["stack"] or "Maximum call stack size" in first:
        return f"stack limit of {limits.stack_bytes} bytes exceeded (recursion too deep): {first}"
    if first == "InternalError: interrupted":
        return f"time limit of {limits.time_s * 1000:g} ms CPU exceeded"
    if first == "InternalError: out of memory":
        return f"memory limit of {limits.memory_bytes} bytes exceeded"
    if first in ("", "null"):
        # QuickJS throws null when it cannot even allocate the error, e.g. out of
        # memory while collecting garbage.
        return (
            f"memory limit of {limits.memory_bytes} bytes exceeded "
            "(out of memory, no error object could be made)"
        )
    return first

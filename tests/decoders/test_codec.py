"""The JavaScript engine: conventions, vendor-style codecs against hand-computed values, hostile codecs."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from core.errors import CodecError, DecodeError
from decoders.codec import Codec, Limits

CODECS = Path(__file__).parent / "codecs"
MODELS = CODECS / "models"
HOSTILE = CODECS / "hostile"


def load(path: Path, limits: Limits | None = None) -> Codec:
    return Codec(path.read_text(), name=path.name, limits=limits)


def test_decode_uplink_input_has_bytes_fport_recvtime_and_variables() -> None:
    codec = Codec(
        "function decodeUplink(i) { return {data: {bytes: i.bytes, port: i.fPort,"
        " time: i.recvTime.toISOString(), isArray: Array.isArray(i.bytes), v: i.variables}}; }"
    )
    out = codec.decode(7, b"\x00\xff", recv_time_ms=1_764_504_000_123, variables={"k": "v"})
    assert codec.convention == "decodeUplink"
    assert out.data == {
        "bytes": [0, 255],
        "port": 7,
        "time": "2025-11-30T12:00:00.123Z",
        "isArray": True,
        "v": {"k": "v"},
    }


def test_chirpstack_v3_and_ttn_v2_forms() -> None:
    v3 = load(MODELS / "pedestrian.js")
    assert v3.convention == "Decode"
    out = v3.decode(1, bytes.fromhex("0a00000007000000"), variables={"scale": "2"})
    assert out.data == {"counts": {"in": 20, "out": 14}}
    v2 = load(MODELS / "ttnv2.js")
    assert v2.convention == "Decoder"
    # 0x2134 = 8500 -> 85.00 - 40 = 45.0 degC
    assert v2.decode(1, b"\x21\x34").data == {"temp": 45.0}


def test_lht65n_codec_matches_hand_computed_values() -> None:
    # battery 0xCBF6: status 3, 0x0BF6 = 3062 mV; SHT 0x0B0D = 2829 -> 28.29 degC;
    # RH 0x01E6 = 486 -> 48.6 %; probe type 1, 0x0ADD = 2781 -> 27.81 degC
    out = load(MODELS / "lht65n.js").decode(2, bytes.fromhex("cbf60b0d01e6010add7fff"))
    assert out.data == {
        "BatV": 3.062,
        "Bat_status": 3,
        "Hum_SHT": 48.6,
        "Ext_sensor": "Temperature Sensor",
        "TempC_SHT": 28.29,
        "TempC_DS": 27.81,
    }
    assert out.warnings == ()


def test_negative_temperature_and_a_warning() -> None:
    codec = load(MODELS / "lht65n.js")
    # 0xFF38 = -200 -> -2.00 degC
    assert codec.decode(2, bytes.fromhex("cbf6ff3801e6000000 0000".replace(" ", ""))).data[
        "TempC_SHT"
    ] == pytest.approx(-2.0)
    out = codec.decode(2, bytes.fromhex("cbf67fff01e600000000 00".replace(" ", "")))
    assert "TempC_SHT" not in out.data
    assert out.warnings == ("SHT sensor error",)


def test_typed_arrays_dataview_and_nested_arrays() -> None:
    # float32 12.5 = 41480000, 20.25 = 41a20000, 30 = 41f00000; 0x02a8 = 680 -> 68.0 degF;
    # 0x5a = 90 -> 45 %; 0x0ce4 = 3300 mV
    out = load(MODELS / "airnest.js").decode(
        10, bytes.fromhex("4148000041a2000041f0000002a85a0ce4")
    )
    assert out.data == {
        "pm": {"1_0": 12.5, "2_5": 20.25, "10": 30},
        "sensors": [{"kind": "sht", "temperature_f": 68.0, "humidity": 45}],
        "power": {"battery": {"mv": 3300}},
    }


def test_date_arithmetic_and_normalize_uplink() -> None:
    codec = load(MODELS / "climalog.js")
    assert codec.normalizes
    # recvTime 2026-11-30T12:00:00Z; record ages 30 and 0 minutes
    out = codec.decode(
        3,
        bytes.fromhex("02001e07d037278d0000ff383c2792"),
        recv_time_ms=1_796_040_000_000,
    )
    assert [r["time"] for r in out.data["records"]] == [
        "2026-11-30T11:30:00.000Z",
        "2026-11-30T12:00:00.000Z",
    ]
    assert out.normalized == [
        {
            "time": "2026-11-30T11:30:00.000Z",
            "air": {"temperature": 20, "relativeHumidity": 55, "pressure": 1012.5},
        },
        {
            "time": "2026-11-30T12:00:00.000Z",
            "air": {"temperature": -2, "relativeHumidity": 60, "pressure": 1013},
        },
    ]


def test_codec_errors_list_is_a_codec_error_with_its_message() -> None:
    with pytest.raises(CodecError, match="LHT65N frame is 11 bytes, got 2"):
        load(MODELS / "lht65n.js").decode(2, b"\x01\x02")


def test_console_logging_is_a_no_op() -> None:
    codec = Codec("function decodeUplink(i){ console.log('x', i); return {data: {ok: 1}}; }")
    assert codec.decode(1, b"").data == {"ok": 1}


@pytest.mark.parametrize(
    ("file", "message"),
    [
        ("loop.js", "time limit of 50 ms CPU exceeded"),
        ("recursion.js", "stack limit"),
        ("allocation.js", "memory limit of 8388608 bytes exceeded"),
        ("gc_oom.js", r"memory limit of 8388608 bytes exceeded \(out of memory"),
        ("throws.js", "Error: reserved frame type 0xff"),
        ("string_data.js", "data is string, not an object"),
        ("require.js", "ReferenceError: require is not defined"),
        ("process.js", "ReferenceError: process is not defined"),
        ("fetch.js", "ReferenceError: fetch is not defined"),
    ],
)
def test_hostile_codec_is_a_typed_error_and_the_next_uplink_decodes(
    file: str, message: str
) -> None:
    limits = Limits(time_s=0.05, memory_bytes=8 * 1024 * 1024, stack_bytes=256 * 1024)
    codec = load(HOSTILE / file, limits)
    assert codec.decode(1, b"\x01").data == {"n": 1}
    for _ in range(2):  # twice: a discarded context is rebuilt each time
        with pytest.raises(CodecError, match=message) as caught:
            codec.decode(1, b"\xff")
        assert isinstance(caught.value, DecodeError)
        assert caught.value.code == "codec_error"
        assert codec.decode(1, b"\x07").data == {"n": 7}


@pytest.mark.timeout(60)
@pytest.mark.parametrize("file", ["catch_oom.js", "catch_oom_reset.js"])
def test_a_codec_that_catches_its_limit_errors_is_stopped_by_the_wall_clock(file: str) -> None:
    # The interrupt QuickJS raises at the CPU limit becomes a catchable "out of memory"
    # when the heap is full, so these loops outlive it; the wall-clock bound ends them.
    codec = load(HOSTILE / file, Limits(wall_s=0.5))
    for _ in range(2):  # the second call runs in a fresh process
        with pytest.raises(
            CodecError, match="wall-clock limit of 500 ms exceeded|limit of"
        ) as caught:
            codec.decode(1, b"\x01")
        assert caught.value.code == "codec_error"


def test_garbage_results_are_codec_errors() -> None:
    cases = {
        "function decodeUplink(i){ return 5; }": "returned number",
        "function decodeUplink(i){ return {data: [1, 2]}; }": "data is array",
        "function decodeUplink(i){ return {data: null}; }": "data is null",
        "function decodeUplink(i){ return {}; }": "data is undefined",
        "function decodeUplink(i){ var o = {}; o.self = o; return {data: o}; }": "circular",
        "function decodeUplink(i){ return {data: {n: 10n}}; }": "BigInt",
        "function decodeUplink(i){ return {data: {s: 'x'.repeat(100000)}}; }": "limit 65536",
    }
    for source, message in cases.items():
        with pytest.raises(CodecError, match=message):
            Codec(source).decode(1, b"")


def test_a_codec_that_does_not_load_fails_at_load_not_per_uplink() -> None:
    with pytest.raises(CodecError, match="SyntaxError"):
        Codec("function decodeUplink(i) { return {data: {}}; ")
    with pytest.raises(CodecError, match="defines none of decodeUplink, Decode or Decoder"):
        Codec("function decode(i) {}")
    with pytest.raises(CodecError, match="time limit"):
        Codec("for (;;) {}", limits=Limits(time_s=0.05))
    with pytest.raises(CodecError, match="require is not defined"):
        Codec("var fs = require('fs'); function decodeUplink(i) {}")


def test_no_host_objects_in_the_sandbox() -> None:
    codec = Codec(
        "function decodeUplink(i) { return {data: {t: [typeof require, typeof process,"
        " typeof fetch, typeof XMLHttpRequest, typeof std, typeof os, typeof importScripts]}}; }"
    )
    assert codec.decode(1, b"").data == {"t": ["undefined"] * 7}


def test_compiled_once_per_thread_and_usable_from_several_threads() -> None:
    codec = load(MODELS / "lht65n.js")
    first = codec._context()
    codec.decode(2, bytes.fromhex("cbf60b0d01e6010add7fff"))
    assert codec._context() is first  # reused, not recompiled per uplink
    results: list[float] = []

    def worker() -> None:
        for _ in range(50):
            results.append(codec.decode(2, bytes.fromhex("cbf60b0d01e6010add7fff")).data["BatV"])

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [3.062] * 150


def test_a_codec_that_replaces_json_gets_a_codec_error() -> None:
    for replacement in ("function () { return '[1]'; }", "function () { return '{'; }"):
        codec = Codec(
            f"JSON.stringify = {replacement};"
            " function decodeUplink(i) { return {data: {n: 1}}; }"
        )
        with pytest.raises(CodecError, match="result is not"):
            codec.decode(1, b"")


def test_modern_javascript_as_vendors_now_write_it() -> None:
    codec = Codec(
        """
        const TYPES = new Map([[0x01, 'temperature'], [0x02, 'humidity']]);
        class Reader {
          #bytes; #at = 0;
          constructor(bytes) { this.#bytes = Uint8Array.from(bytes); }
          get done() { return this.#at >= this.#bytes.length; }
          u8() { return this.#bytes[this.#at++]; }
          i16() { const v = new DataView(this.#bytes.buffer).getInt16(this.#at); this.#at += 2; return v; }
        }
        function decodeUplink({ bytes, fPort, variables }) {
          const r = new Reader(bytes), data = {};
          while (!r.done) {
            const type = TYPES.get(r.u8()) ?? 'unknown';
            data[type] = r.i16() / 10;
          }
          const labels = Object.entries(data).map(([k, v]) => `${k}=${v.toFixed(1)}`);
          return { data: { ...data, summary: labels.join(' '), site: variables?.site ?? null } };
        }
        """
    )
    # 0x00e6 = 230 -> 23.0; 0x01c2 = 450 -> 45.0
    assert codec.decode(1, bytes.fromhex("0100e60201c2")).data == {
        "temperature": 23.0,
        "humidity": 45.0,
        "summary": "temperature=23.0 humidity=45.0",
        "site": None,
    }

"""Milesight channel/type family (AM100, AM300, VS13x, VS12x): a run of ``ID TYPE DATA`` records.

Source: Milesight-IoT/SensorDecoders READMEs (https://github.com/Milesight-IoT/SensorDecoders:
``am-series/am104``, ``am-series/am308``, ``am-series/am319-hcho``, ``am-series/am319-o3``,
``AM_Series/AM300``, ``vs-series/vs133``, ``vs-series/vs121``) and the examples in
TheThingsNetwork/lorawan-devices ``vendor/milesight-iot/*-codec.yaml``. Every record is a
channel id byte, a channel type byte, then a value whose size the (id, type) pair fixes; the
length is not sent, so at the first pair this model does not send (or a record cut short)
the walk stops: the readings before it are kept and the rest is reported as an
``UnknownPart`` (offset, hex). A frame whose very first record is not this model's is
refused (``IntegrityError``; ``PayloadLengthError`` if it is cut short).
Multi-byte values are **little-endian**. Uplinks use fPort 85.

Attribute records (all models) are device status, never readings: ``FF 01`` 1 B protocol
version, ``FF 08`` 6 B serial, ``FF 09`` 2 B hardware version, ``FF 0A`` 2 B firmware
version, ``FF 0B`` 1 B device status (sent on power-on), ``FF 0F`` 1 B LoRaWAN class,
``FF 16`` 8 B serial, ``FF 18`` 2 B sensor enable mask (AM100 series), ``FF 1F`` 4 B firmware
(VS121), ``FF FE`` 1 B reset event, ``FF FF``
2 B TSL version. They land in ``status`` (versions and serials as the hex sent, e.g.
firmware ``0110`` = v1.10), so a power-on report is a valid frame with no readings.

AM104 (temperature, humidity, PIR activity, light)::

    01 75  B      battery %                         battery_percent
    03 67  h      temperature / 10 °C               temperature
    04 68  B      humidity / 2 %RH                  relative_humidity
    05 6A  H      PIR activity level                activity
    06 65  H H H  lux, infrared+visible, infrared   illuminance, infrared_and_visible, infrared

AM308 / AM319 (indoor air quality; AM319 adds HCHO or O3)::

    01 75  B  battery %                  battery_percent
    03 67  h  temperature / 10 °C        temperature
    04 68  B  humidity / 2 %RH           relative_humidity
    05 00  B  PIR 0 idle, 1 trigger      pir
    06 CB  B  light level 0-5            light_level
    07 7D  H  CO2 ppm                    co2
    08 7D  H  TVOC IAQ index / 100       tvoc (README: "unit: iaq, read: uint16/100";
                                               the vendor example 0x0025 is tvoc 0.37)
    08 E6  H  TVOC µg/m³                 tvoc_ugm3
    09 73  H  pressure / 10 hPa          pressure
    0A 7D  H  HCHO / 100 mg/m³ (AM319)   hcho
    0B 7D  H  PM2.5 µg/m³                pm2_5
    0C 7D  H  PM10 µg/m³                 pm10
    0D 7D  H  O3 / 100 ppm (AM319-O3)    o3
    0E 01  B  buzzer 0 off, 1 on         buzzer
    20 CE  history record (20 B AM308, 22 B AM319): uint32 Unix time, int16 temperature / 10,
           uint16 humidity / 2 (two bytes here, unlike 04 68), PIR, light level, CO2,
           TVOC IAQ / 100, pressure / 10, PM2.5, PM10; the AM319 adds one word (HCHO or
           O3 by variant: not emitted). Returned as a frame at the device's time
           (``decoders.frames.history`` handles a clock that was never set).
    21 CE  the same with TVOC in ug/m3                    (tvoc_ugm3)

VS133 (ToF line crossing, up to 4 lines and 4 regions)::

    03 D2  I      line 1 total in               people_in
    04 D2  I      line 1 total out              people_out
    05 CC  H H    line 1 in, out this period    period_in, period_out
    06..0E        same for lines 2-4            line_N_total_in/out, line_N_period_in/out
    0F E3  B B B B  people in regions 1-4       region_N_count
    10 E4  B H H  region 1-4, avg, max dwell s  region_N_dwell_avg, region_N_dwell_max
                  (another region number: the record is reported as undecoded)

VS121 (AI workplace occupancy, people counting in up to 16 regions)::

    04 C9  B B H  people now, regions enabled, region mask   people_count, regions_enabled
                  (mask bit order is inconsistent between the vendor's examples: not used)
    05 CC  H H    in, out this period                        period_in, period_out
    06 CD  B      most people seen this period               people_count_max
    07 D5  8 x B  people in regions 1-8                      region_N_count
    08 D5  8 x B  people in regions 9-16                     region_N_count
    09..0C DA  4 x H  flows from A/B/C/D to A..D             flow_X_to_Y
    0D CC  H H    total in, out                              people_in, people_out
    0E E4  B H H  dwell time (id 00 = all regions, average, maximum): the unit is not
                  documented, so the record is reported as undecoded (never dropped silently)
    0F 85  I      device Unix time                           status device_time_s

``people_in``/``people_out`` are always the device's running totals (they wrap at the
field's width); per-period counts are ``period_in``/``period_out``.

Speed: a device sends the same few frame shapes over and over, so after one walk a shape is
compiled into one struct (``_Frame``); later frames of that length whose header bytes all
match decode with a single ``unpack``. The walk stays the reference and the tests check
both paths agree.
"""

from __future__ import annotations

import operator
import struct
from collections.abc import Callable, Iterable

from core.errors import IntegrityError, PayloadLengthError, UnsupportedPortError
from decoders.frames import Uplink
from decoders.spec import Counter, DecodedUplink, DecoderSpec, FieldSpec, Reading

F_PORT = 85
F_PORTS = frozenset({F_PORT})
REPO = "https://github.com/Milesight-IoT/SensorDecoders/tree/main/"

_Emit = Callable[[bytes, int, Reading], None]
#: How a record joins a whole-frame struct: its format with unemitted bytes as padding,
#: the names of the values it yields, and the (name, divisor) pairs among them to scale.
_Layout = tuple[str, tuple[str, ...], tuple[tuple[str, int], ...]]
_Rec = tuple[int, _Emit | None, _Layout | None]
_Table = dict[int, _Rec]
#: Records that do not yield readings at the uplink's time (status, history): size, handler.
_Special = Callable[[bytes, int, int, "Uplink"], None]
_Specials = dict[int, tuple[int, _Special]]

_MAX_LAYOUTS = 64  # per model: compiled frame shapes kept for the fast path


def _key(channel: int, type_: int) -> int:
    return channel << 8 | type_


def _codes(fmt: str) -> list[str]:
    """``"8B"`` -> eight ``"B"``: one struct code per value."""
    count = "".join(c for c in fmt if c.isdigit())
    code = fmt[len(count) :]
    return [code] * int(count or 1) if len(code) == 1 else list(code)


def _one(fmt: str, name: str, divisor: int = 1) -> _Rec:
    """A record holding one value."""
    st = struct.Struct("<" + fmt)
    unpack = st.unpack_from
    if divisor == 1:

        def emit(p: bytes, i: int, out: Reading) -> None:
            out[name] = unpack(p, i)[0]
    else:

        def emit(p: bytes, i: int, out: Reading) -> None:
            out[name] = unpack(p, i)[0] / divisor

    scaled = ((name, divisor),) if divisor != 1 else ()
    return st.size, emit, (fmt, (name,), scaled)


def _many(fmt: str, names: Iterable[str | None]) -> _Rec:
    """A record holding several unscaled values; ``None`` names are not emitted."""
    st = struct.Struct("<" + fmt)
    unpack = st.unpack_from
    names = tuple(names)
    pairs = tuple((n, idx) for idx, n in enumerate(names) if n is not None)

    def emit(p: bytes, i: int, out: Reading) -> None:
        values = unpack(p, i)
        for name, idx in pairs:
            out[name] = values[idx]

    padded = "".join(
        code if name is not None else f"{struct.calcsize(code)}x"
        for code, name in zip(_codes(fmt), names, strict=True)
    )
    return st.size, emit, (padded, tuple(n for n in names if n is not None), ())


def _dwell(regions: int) -> _Special:
    """VS133 dwell record: region number 1..regions, then average and maximum seconds."""
    st = struct.Struct("<BHH")
    unpack = st.unpack_from
    names = {n: (f"region_{n}_dwell_avg", f"region_{n}_dwell_max") for n in range(1, regions + 1)}

    def handle(p: bytes, i: int, size: int, up: Uplink) -> None:
        region, avg, peak = unpack(p, i)
        pair = names.get(region)
        if pair is None:
            up.skip(p, i - 2, i + size, f"dwell record for region {region}, expected 1..{regions}")
            return
        up.now[pair[0]] = avg
        up.now[pair[1]] = peak

    return handle


def _status_hex(key: str) -> _Special:
    def handle(p: bytes, i: int, size: int, up: Uplink) -> None:
        up.set(key, p[i : i + size].hex())

    return handle


def _status_int(key: str) -> _Special:
    def handle(p: bytes, i: int, size: int, up: Uplink) -> None:
        up.set(key, p[i])

    return handle


#: Attribute records: what the device says about itself, kept as status.
_ATTRIBUTES: _Specials = {
    _key(0xFF, 0x01): (1, _status_int("protocol_version")),
    _key(0xFF, 0x08): (6, _status_hex("serial_number")),
    _key(0xFF, 0x09): (2, _status_hex("hardware_version")),
    _key(0xFF, 0x0A): (2, _status_hex("firmware_version")),
    _key(0xFF, 0x0B): (1, _status_int("device_status")),
    _key(0xFF, 0x0F): (1, _status_int("lorawan_class")),
    _key(0xFF, 0x16): (8, _status_hex("serial_number")),
    _key(0xFF, 0x18): (2, _status_hex("sensor_status")),
    _key(0xFF, 0x1F): (4, _status_hex("firmware_version")),
    _key(0xFF, 0xFE): (1, _status_int("reset_event")),
    _key(0xFF, 0xFF): (2, _status_hex("tsl_version")),
}

#: AM300-series history record after its uint32 timestamp: temperature int16/10,
#: humidity uint16/2, PIR, light level, CO2, TVOC, pressure uint16/10, PM2.5, PM10
#: (AM319 adds a trailing word: HCHO or O3 depending on the variant, not emitted).
_AM_HISTORY = struct.Struct("<IhHBBHHHHH")


def _am_history(tvoc: tuple[str, int]) -> _Special:
    tvoc_name, tvoc_divisor = tvoc

    def handle(p: bytes, i: int, size: int, up: Uplink) -> None:
        ts, t, rh, pir, light, co2, voc, pressure, pm2_5, pm10 = _AM_HISTORY.unpack_from(p, i)
        up.record(
            ts,
            {
                "temperature": t / 10,
                "relative_humidity": rh / 2,
                "pir": pir,
                "light_level": light,
                "co2": co2,
                tvoc_name: voc / tvoc_divisor,
                "pressure": pressure / 10,
                "pm2_5": pm2_5,
                "pm10": pm10,
            },
        )

    return handle


def _undecoded(note: str) -> _Special:
    """A record of known size whose meaning is not settled: walked past and reported."""

    def handle(p: bytes, i: int, size: int, up: Uplink) -> None:
        up.skip(p, i - 2, i + size, note)

    return handle


def _device_time(p: bytes, i: int, size: int, up: Uplink) -> None:
    up.set("device_time_s", struct.unpack_from("<I", p, i)[0])


_CLIMATE: _Table = {
    _key(0x01, 0x75): _one("B", "battery_percent"),
    _key(0x03, 0x67): _one("h", "temperature", 10),
    _key(0x04, 0x68): _one("B", "relative_humidity", 2),
}

_AM104: _Table = {
    **_CLIMATE,
    _key(0x05, 0x6A): _one("H", "activity"),
    _key(0x06, 0x65): _many("HHH", ("illuminance", "infrared_and_visible", "infrared")),
}

_AM300: _Table = {
    **_CLIMATE,
    _key(0x05, 0x00): _one("B", "pir"),
    _key(0x06, 0xCB): _one("B", "light_level"),
    _key(0x07, 0x7D): _one("H", "co2"),
    _key(0x08, 0x7D): _one("H", "tvoc", 100),
    _key(0x08, 0xE6): _one("H", "tvoc_ugm3"),
    _key(0x09, 0x73): _one("H", "pressure", 10),
    _key(0x0B, 0x7D): _one("H", "pm2_5"),
    _key(0x0C, 0x7D): _one("H", "pm10"),
    _key(0x0E, 0x01): _one("B", "buzzer"),
}

_AM308: _Table = dict(_AM300)
_AM319: _Table = {
    **_AM300,
    _key(0x0A, 0x7D): _one("H", "hcho", 100),
    _key(0x0D, 0x7D): _one("H", "o3", 100),
}
_AM308_SPECIALS: _Specials = {
    **_ATTRIBUTES,
    _key(0x20, 0xCE): (20, _am_history(("tvoc", 100))),
    _key(0x21, 0xCE): (20, _am_history(("tvoc_ugm3", 1))),
}
_AM319_SPECIALS: _Specials = {
    **_ATTRIBUTES,
    _key(0x20, 0xCE): (22, _am_history(("tvoc", 100))),
    _key(0x21, 0xCE): (22, _am_history(("tvoc_ugm3", 1))),
}

_VS133_LINE_NAMES = {
    1: ("people_in", "people_out", "period_in", "period_out"),
    **{
        n: (
            f"line_{n}_total_in",
            f"line_{n}_total_out",
            f"line_{n}_period_in",
            f"line_{n}_period_out",
        )
        for n in (2, 3, 4)
    },
}

_VS133: _Table = {}
for _line, (_in, _out, _p_in, _p_out) in _VS133_LINE_NAMES.items():
    _base = 3 * _line
    _VS133[_key(_base, 0xD2)] = _one("I", _in)
    _VS133[_key(_base + 1, 0xD2)] = _one("I", _out)
    _VS133[_key(_base + 2, 0xCC)] = _many("HH", (_p_in, _p_out))
_VS133[_key(0x0F, 0xE3)] = _many("BBBB", [f"region_{n}_count" for n in range(1, 5)])
_VS133_SPECIALS: _Specials = {**_ATTRIBUTES, _key(0x10, 0xE4): (5, _dwell(4))}

_FLOW_NAMES = [f"flow_{a}_to_{b}" for a in "abcd" for b in "abcd"]

_VS121: _Table = {
    _key(0x04, 0xC9): _many("BBH", ("people_count", "regions_enabled", None)),
    _key(0x05, 0xCC): _many("HH", ("period_in", "period_out")),
    _key(0x06, 0xCD): _one("B", "people_count_max"),
    _key(0x07, 0xD5): _many("8B", [f"region_{n}_count" for n in range(1, 9)]),
    _key(0x08, 0xD5): _many("8B", [f"region_{n}_count" for n in range(9, 17)]),
    **{_key(0x09 + k, 0xDA): _many("4H", _FLOW_NAMES[4 * k : 4 * k + 4]) for k in range(4)},
    _key(0x0D, 0xCC): _many("HH", ("people_in", "people_out")),
}
_VS121_SPECIALS: _Specials = {
    **_ATTRIBUTES,
    _key(0x0E, 0xE4): (5, _undecoded("VS121 dwell time: unit not documented")),
    _key(0x0F, 0x85): (4, _device_time),
}


class _Frame:
    """One compiled frame shape: which (id, type) sits at which offset, and one struct for
    all of its values. A frame of the same length whose header bytes all match decodes with
    a single ``unpack`` instead of a walk, with the same result."""

    __slots__ = ("headers", "expected", "unpack", "names", "scaled")

    def __init__(self, table: _Table, keys: list[int]) -> None:
        offsets: list[int] = []
        names: list[str] = []
        scaled: dict[str, int] = {}
        fmt, offset = ["<"], 0
        for key in keys:
            size, _, layout = table[key]
            if layout is None:
                raise ValueError(f"record 0x{key:04x} has data-dependent names")
            offsets += [offset, offset + 1]
            fmt.append("2x" + layout[0])
            names += layout[1]
            scaled.update(layout[2])
            offset += 2 + size
        self.headers = operator.itemgetter(*offsets)
        self.expected = tuple(b for key in keys for b in (key >> 8, key & 0xFF))
        self.unpack = struct.Struct("".join(fmt)).unpack
        self.names = tuple(names)
        self.scaled = tuple(scaled.items())


def _walker(
    table: _Table, specials: _Specials = _ATTRIBUTES
) -> Callable[[int, bytes], Reading | DecodedUplink]:
    """A decode function for one model's channel table and its status/history records."""
    get = table.get
    get_special = specials.get
    frames: dict[int, list[_Frame]] = {}

    def walk(payload: bytes) -> Reading | DecodedUplink:
        """The reference path. The length of a record is not sent, so at the first (id, type)
        this model does not send, or a record cut short, the rest of the frame is reported
        as undecoded and what came before is kept; a frame whose first record is not this
        model's is refused."""
        end = len(payload)
        up = Uplink()
        out = up.now
        keys: list[int] = []
        compilable = True
        i = 0
        while i < end:
            key = payload[i] << 8 | payload[i + 1] if i + 2 <= end else -1
            entry = get(key)
            special = None if entry is not None else get_special(key)
            size = entry[0] if entry is not None else special[0] if special is not None else -1
            if size < 0 or i + 2 + size > end:
                what = "cut off" if size >= 0 or key < 0 else "not sent by this model"
                if i == 0:
                    error = IntegrityError if size < 0 and key >= 0 else PayloadLengthError
                    raise error(f"first record (bytes {payload[:2].hex()}) {what}")
                up.skip(payload, i, note=f"record {payload[i : i + 2].hex()} {what}")
                compilable = False
                break
            i += 2
            if entry is not None:
                emit, layout = entry[1], entry[2]
                if emit is not None:
                    emit(payload, i, out)
                keys.append(key)
                compilable = compilable and layout is not None
            else:
                assert special is not None  # size >= 0: one of the two was found
                special[1](payload, i, size, up)
                compilable = False
            i += size
        if compilable and sum(map(len, frames.values())) < _MAX_LAYOUTS:
            frames.setdefault(end, []).append(_Frame(table, keys))
        return up.result()

    def decode(f_port: int, payload: bytes) -> Reading | DecodedUplink:
        """Envelope first (fPort, not empty), then a compiled shape or the walk."""
        if f_port != F_PORT:
            raise UnsupportedPortError(f"Milesight uplinks use fPort {F_PORT}")
        if not payload:
            raise PayloadLengthError("empty payload")
        for frame in frames.get(len(payload), ()):
            headers = frame.headers(payload)
            if headers == frame.expected:
                out = dict(zip(frame.names, frame.unpack(payload), strict=True))
                for name, divisor in frame.scaled:
                    out[name] /= divisor
                return out
        return walk(payload)

    return decode


decode_am104 = _walker(_AM104)
decode_am308 = _walker(_AM308, _AM308_SPECIALS)
decode_am319 = _walker(_AM319, _AM319_SPECIALS)
decode_vs133 = _walker(_VS133, _VS133_SPECIALS)
decode_vs121 = _walker(_VS121, _VS121_SPECIALS)

_U32_MAX = float(2**32 - 1)
_U16_MAX = 65535.0

_BATTERY = FieldSpec("battery_percent", "%", 0.0, 100.0)
_TEMPERATURE = FieldSpec("temperature", "degC", -30.0, 70.0, "0.1 °C steps")
_HUMIDITY = FieldSpec("relative_humidity", "%", 0.0, 100.0, "0.5 %RH steps")
_CLIMATE_FIELDS = (_BATTERY, _TEMPERATURE, _HUMIDITY)

_AM300_FIELDS = (
    *_CLIMATE_FIELDS,
    FieldSpec("pir", "0/1", 0.0, 1.0, "PIR: 0 idle, 1 triggered"),
    FieldSpec("light_level", "level", 0.0, 5.0, "Light level 0 (dark) to 5"),
    FieldSpec("co2", "ppm", 0.0, 10000.0),
    FieldSpec(
        "tvoc", "IAQ index", 0.0, 500.0, "Channel 08/7D: uint16 / 100, TVOC air-quality index"
    ),
    FieldSpec("tvoc_ugm3", "ug/m3", 0.0, 60000.0, "Channel 08/E6"),
    FieldSpec("pressure", "hPa", 300.0, 1100.0),
    FieldSpec("pm2_5", "ug/m3", 0.0, 1000.0),
    FieldSpec("pm10", "ug/m3", 0.0, 1000.0),
    FieldSpec("buzzer", "0/1", 0.0, 1.0),
)


#: Line-crossing counters (VS133 total/period records, VS121 0x0D/0x0E records).
_TOTAL32 = Counter(32, "cumulative")
_TOTAL16 = Counter(16, "cumulative")
_PERIOD16 = Counter(16, "per_period")


def _counts(
    names: Iterable[str], maximum: float, counter: Counter | None = None, unit: str = "count"
) -> tuple[FieldSpec, ...]:
    return tuple(FieldSpec(n, unit, 0.0, maximum, counter=counter) for n in names)


AM104 = DecoderSpec(
    key="milesight-am104",
    vendor="Milesight",
    model="AM104",
    need="damp",
    f_ports=F_PORTS,
    fields=(
        *_CLIMATE_FIELDS,
        FieldSpec("activity", "level", 0.0, _U16_MAX, "PIR activity level"),
        FieldSpec("illuminance", "lux", 0.0, _U16_MAX),
        FieldSpec("infrared_and_visible", "raw", 0.0, _U16_MAX),
        FieldSpec("infrared", "raw", 0.0, _U16_MAX),
    ),
    doc_url=REPO + "am-series/am104",
    decode=decode_am104,
    frame_kinds=frozenset({"readings", "status"}),
)

AM308 = DecoderSpec(
    key="milesight-am308",
    vendor="Milesight",
    model="AM308",
    need="air_quality",
    f_ports=F_PORTS,
    fields=_AM300_FIELDS,
    doc_url=REPO + "am-series/am308",
    decode=decode_am308,
    frame_kinds=frozenset({"readings", "history", "status"}),
)

AM319 = DecoderSpec(
    key="milesight-am319",
    vendor="Milesight",
    model="AM319",
    need="air_quality",
    f_ports=F_PORTS,
    fields=(
        *_AM300_FIELDS,
        FieldSpec("hcho", "mg/m3", 0.0, 5.0, "Formaldehyde (AM319-HCHO)"),
        FieldSpec("o3", "ppm", 0.0, 10.0, "Ozone (AM319-O3)"),
    ),
    doc_url=REPO + "am-series/am319-hcho",
    decode=decode_am319,
    frame_kinds=frozenset({"readings", "history", "status"}),
)

VS133 = DecoderSpec(
    key="milesight-vs133",
    vendor="Milesight",
    model="VS133",
    need="footfall",
    f_ports=F_PORTS,
    fields=(
        FieldSpec("people_in", "count", 0.0, _U32_MAX, "Line 1 running total in", _TOTAL32),
        FieldSpec("people_out", "count", 0.0, _U32_MAX, "Line 1 running total out", _TOTAL32),
        FieldSpec("period_in", "count", 0.0, _U16_MAX, "Line 1 in, last period", _PERIOD16),
        FieldSpec("period_out", "count", 0.0, _U16_MAX, "Line 1 out, last period", _PERIOD16),
        *_counts(
            [f"line_{n}_total_{d}" for d in ("in", "out") for n in (2, 3, 4)], _U32_MAX, _TOTAL32
        ),
        *_counts(
            [f"line_{n}_period_{d}" for d in ("in", "out") for n in (2, 3, 4)], _U16_MAX, _PERIOD16
        ),
        *_counts([f"region_{n}_count" for n in range(1, 5)], 255.0),
        *_counts(
            [f"region_{n}_dwell_{s}" for s in ("avg", "max") for n in range(1, 5)],
            _U16_MAX,
            unit="s",
        ),
    ),
    doc_url=REPO + "vs-series/vs133",
    decode=decode_vs133,
    frame_kinds=frozenset({"readings", "status"}),
)

VS121 = DecoderSpec(
    key="milesight-vs121",
    vendor="Milesight",
    model="VS121",
    need="footfall",
    f_ports=F_PORTS,
    fields=(
        FieldSpec("people_count", "count", 0.0, 255.0, "People in view now"),
        FieldSpec("regions_enabled", "count", 0.0, 16.0),
        FieldSpec("people_count_max", "count", 0.0, 255.0, "Most people seen this period"),
        FieldSpec("people_in", "count", 0.0, _U16_MAX, "Running total in", _TOTAL16),
        FieldSpec("people_out", "count", 0.0, _U16_MAX, "Running total out", _TOTAL16),
        FieldSpec("period_in", "count", 0.0, _U16_MAX, "In during the last period", _PERIOD16),
        FieldSpec("period_out", "count", 0.0, _U16_MAX, "Out during the last period", _PERIOD16),
        *_counts([f"region_{n}_count" for n in range(1, 17)], 255.0),
        *_counts(_FLOW_NAMES, _U16_MAX),
    ),
    doc_url=REPO + "vs-series/vs121",
    decode=decode_vs121,
    frame_kinds=frozenset({"readings", "status"}),
)

SPECS = (AM104, AM308, AM319, VS133, VS121)

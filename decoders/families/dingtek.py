"""Dingtek DC520 bidirectional (radar) people counter: framed 0x80 ... 0x81, fPort 3.

Source: Dingtek's examples in TheThingsNetwork/lorawan-devices
``vendor/dingtek/dc520-codec.yaml`` (the frame fields are named there), the
DC510 sibling codec's layout (``vendor/dingtek/dc510.js``, same framing) and the
product page https://www.dingtek.com/dc520-bi-directional-people-counter. Dingtek
publishes no DC520 payload manual; the codec repository's ``dc520.js`` is not
public either. So only fields whose meaning and position the two vendor examples
pin down are emitted. Multi-byte values are big-endian.

Frame envelope::

    byte 0     0x80                frame head
    1..2       0x0052              device type (DC520)
    byte 3     D                   data type: 0x01 periodic, 0x02 event -> data frame
                                   0x03 parameter report (no readings)
    byte 4     L                   frame length in bytes, head to tail
    ...
    last       0x81                frame tail

Data frame (19 bytes)::

    5..6    NNNN  uint16 balance (in - out, plus configured start)  people_count
    7..8    IIII  uint16 people counted in                          people_in
    9..10   OOOO  uint16 people counted out                         people_out
    11..12        alarm flags (balance/in/out/battery)              status alarm_flags, the
                                                                    hex sent, when not 0000
                                                                    (bit assignment unpublished)
    13..14        supply voltage                                    (not emitted: scale
                                                                    unpublished for DC520)
    15      E     uint8 error code, 0 = none                        error_code
    16..17        uint16 frame counter                              (not emitted)

Whether in/out are cumulative or per period is not stated by the vendor; they are
stored as sent. A wrong head, device type, tail or unknown data type is
``IntegrityError``; a length byte that disagrees with the frame, or a data frame
shorter than 19 bytes, is ``PayloadLengthError``. A longer data frame keeps its
readings and reports the bytes between the frame counter and the tail.

Parameter report (data type 0x03, 18 bytes), a status frame; the vendor example
``800052031201020100050023003200141481`` fixes the fields::

    5..6    firmware major, minor                     firmware_version "1.2"
    7       upload interval (unit not stated)         upload_interval
    8..9    uint16 original (start) balance           original_balance
    10..11  uint16 balance alarm threshold            balance_threshold
    12..13  uint16 in-count alarm threshold           in_threshold
    14..15  uint16 out-count alarm threshold          out_threshold
    16      battery alarm threshold                   battery_threshold
"""

from __future__ import annotations

import struct

from core.errors import IntegrityError, PayloadLengthError, UnsupportedPortError
from decoders.frames import Uplink
from decoders.spec import Counter, DecodedUplink, DecoderSpec, FieldSpec, Reading

#: The in/out registers count up from power-on and wrap at 16 bits.
_TOTAL16 = Counter(16, "cumulative")

DOC_URL = "https://www.dingtek.com/dc520-bi-directional-people-counter"
F_PORT = 3

HEAD = 0x80
TAIL = 0x81
DEVICE_TYPE = 0x0052
DATA_TYPES = frozenset({0x01, 0x02})
PARAMETERS = 0x03
DATA_LENGTH = 19

#: head, device type, data type, length
_ENVELOPE = struct.Struct(">BHBB")
#: balance, in, out, alarms, voltage, error code, frame counter
_DATA = struct.Struct(">HHHHHBH")
#: firmware major, minor, upload interval, original balance, balance / in / out thresholds,
#: battery threshold
_PARAMETERS = struct.Struct(">BBBHHHHB")
PARAMETERS_LENGTH = _ENVELOPE.size + _PARAMETERS.size + 1


def decode(f_port: int, payload: bytes) -> Reading | DecodedUplink:
    """Decode a DC520 data frame into in/out counts and the balance."""
    if f_port != F_PORT:
        raise UnsupportedPortError("DC520 uplinks are sent on fPort 3")
    n = len(payload)
    if n < _ENVELOPE.size + 1:
        raise PayloadLengthError(f"{n} bytes is shorter than the frame envelope")
    head, device, kind, length = _ENVELOPE.unpack_from(payload)
    if head != HEAD or device != DEVICE_TYPE:
        raise IntegrityError(f"head/device 0x{head:02x}/0x{device:04x}, expected 0x80/0x0052")
    if length != n:
        raise PayloadLengthError(f"length byte says {length}, frame is {n} bytes")
    if payload[-1] != TAIL:
        raise IntegrityError(f"frame tail 0x{payload[-1]:02x}, expected 0x81")
    up = Uplink()
    if kind == PARAMETERS:
        if n < PARAMETERS_LENGTH:
            raise PayloadLengthError(f"parameter report is {PARAMETERS_LENGTH} bytes, got {n}")
        major, minor, interval, start, balance, in_, out, battery = _PARAMETERS.unpack_from(
            payload, _ENVELOPE.size
        )
        up.set("firmware_version", f"{major}.{minor}")
        up.set("upload_interval", interval)
        up.set("original_balance", start)
        up.set("balance_threshold", balance)
        up.set("in_threshold", in_)
        up.set("out_threshold", out)
        up.set("battery_threshold", battery)
        up.skip(payload, PARAMETERS_LENGTH - 1, n - 1, "bytes before the tail")
        return up.result()
    if kind not in DATA_TYPES:
        raise IntegrityError(f"unknown data type 0x{kind:02x}")
    if n < DATA_LENGTH:
        raise PayloadLengthError(f"data frame is {DATA_LENGTH} bytes, got {n}")
    balance, people_in, people_out, alarms, _volt, error, _counter = _DATA.unpack_from(
        payload, _ENVELOPE.size
    )
    if alarms:
        # Which bit is which alarm is unpublished; a raised alarm is still kept, as sent.
        up.set("alarm_flags", payload[11:13].hex())
    up.now.update(
        people_count=balance, people_in=people_in, people_out=people_out, error_code=error
    )
    up.skip(payload, DATA_LENGTH - 1, n - 1, "bytes before the tail not in the 19-byte frame")
    return up.result()


DC520 = DecoderSpec(
    key="dingtek-dc520",
    vendor="Dingtek",
    model="DC520 bidirectional people counter",
    need="footfall",
    f_ports=frozenset({F_PORT}),
    fields=(
        FieldSpec("people_count", "count", 0, 0xFFFF, "balance: people in minus out"),
        FieldSpec("people_in", "count", 0, 0xFFFF, "people counted entering", _TOTAL16),
        FieldSpec("people_out", "count", 0, 0xFFFF, "people counted leaving", _TOTAL16),
        FieldSpec("error_code", "code", 0, 0xFF, "device error code, 0 = none"),
    ),
    doc_url=DOC_URL,
    decode=decode,
    frame_kinds=frozenset({"readings", "status"}),
)

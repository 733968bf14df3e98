"""Dead letters: every rejected event is stored with enough to reproduce it, never just counted.

A dead letter carries the device's tags when they are known, so it is subject
to the same privacy rule as the device's readings; when the privacy is not
known it is tagged ``home`` (fail closed), because a rejected payload from an
unknown device may well be someone's flat.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from core.errors import DecodeError, PlatformError
from storage.points import FieldValue, Point, make_point
from storage.query import InfluxQL
from storage.schema import DEAD_LETTER, PRIVACY_HOME, PRIVACY_PUBLIC, TAG_KEYS

__all__ = ["DeadLetter", "dead_letter_point", "recent_dead_letters"]

#: Payload bytes kept: InfluxDB 1.x refuses string fields over 64 KiB, and a
#: dead letter is for reproducing a bug, which the first few KiB are enough for.
MAX_PAYLOAD_BYTES = 8192
MAX_ERROR_CHARS = 4096


def dead_letter_point(
    error: PlatformError | str,
    *,
    reason: str,
    topic: str,
    payload: bytes,
    time_ns: int,
    tags: Mapping[str, str],
    f_port: int | None = None,
) -> Point:
    """The ``dead_letter`` point for one rejected event (schema in storage/schema.py).

    Only the schema's tag keys are kept from ``tags``; ``f_port`` defaults to
    the one a DecodeError knows. Payloads over MAX_PAYLOAD_BYTES are cut.
    """
    known = {key: str(tags[key]) for key in TAG_KEYS if tags.get(key)}
    if known.get("privacy") not in (PRIVACY_PUBLIC, PRIVACY_HOME):
        known["privacy"] = PRIVACY_HOME
    known["reason"] = reason
    if f_port is None and isinstance(error, DecodeError):
        f_port = error.f_port
    fields: dict[str, FieldValue] = {
        "error": str(error)[:MAX_ERROR_CHARS] or reason,
        "topic": topic,
        "payload_hex": payload[:MAX_PAYLOAD_BYTES].hex(),
    }
    if f_port is not None:
        fields["f_port"] = int(f_port)
    return make_point(DEAD_LETTER, known, fields, time_ns)


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One stored dead letter, as read back for inspection."""

    time_ns: int
    reason: str
    error: str
    topic: str
    payload_hex: str
    f_port: int | None
    tags: dict[str, str] = field(default_factory=dict)


def recent_dead_letters(
    query: InfluxQL,
    limit: int,
    *,
    reason: str | None = None,
    include_home: bool = False,
) -> list[DeadLetter]:
    """The newest ``limit`` dead letters, newest first.

    Home devices' dead letters are left out unless ``include_home`` (the
    caller has checked the housing role); ``reason`` filters by error code.
    """
    if not 1 <= limit <= 10_000:
        raise ValueError(f"limit must be 1..10000, got {limit}")
    conditions = []
    params: dict[str, str] = {}
    if not include_home:
        conditions.append('"privacy" = $privacy')
        params["privacy"] = PRIVACY_PUBLIC
    if reason is not None:
        conditions.append('"reason" = $reason')
        params["reason"] = reason
    where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
    q = f'SELECT * FROM "{DEAD_LETTER}"{where} ORDER BY time DESC LIMIT {int(limit)}'
    letters = []
    for series in query.query(q, params):
        for record in series.records():
            f_port = record.get("f_port")
            letters.append(
                DeadLetter(
                    time_ns=int(record["time"]),
                    reason=str(record.get("reason") or ""),
                    error=str(record.get("error") or ""),
                    topic=str(record.get("topic") or ""),
                    payload_hex=str(record.get("payload_hex") or ""),
                    f_port=None if f_port is None else int(f_port),
                    tags={key: str(record[key]) for key in TAG_KEYS if record.get(key)},
                )
            )
    return letters

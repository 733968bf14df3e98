"""Find, read and delete one device's points in a time range, in every database it may be in.

InfluxDB 1.x: ``SHOW MEASUREMENTS WHERE "dev_eui" = '…'`` names the
measurements holding the device, ``SELECT count(*)``/``SELECT *`` read them and
``DELETE FROM "m" WHERE "dev_eui" = '…' AND time >= a AND time < b`` removes
them (InfluxQL DELETE takes tag predicates and a time range, not fields; 1.6.7
checked by tests/storage/test_erasure.py). Time bounds are integers we
computed and the DevEUI is checked to be 16 hex digits before it is inlined
(DELETE takes no bound parameters on 1.x).

InfluxDB 2.x: the delete API (``POST /api/v2/delete``) with a predicate
``dev_eui="…"`` and an inclusive [start, stop] range, through influxdb-client's
``DeleteApi``; the half-open range [a, b) becomes [a, b - 1 ns]. A delete
predicate (InfluxDB 2.x docs, *Delete predicate syntax*,
https://docs.influxdata.com/influxdb/v2/reference/syntax/delete-predicate/) compares
``_measurement`` and tags with ``=`` only, joined by ``AND`` (no ``!=``, no ``OR``,
no regular expressions, no fields). InfluxDB 3 Core and Enterprise have no delete API
(their v2 compatibility is ``/api/v2/write``; they delete only whole tables or
databases) and answer the request 404: ``DeleteUnsupportedError``, never a
silent success.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from core.errors import DeleteUnsupportedError, QueryError
from core.settings import InfluxSettings
from storage.query import InfluxQL, Series, quote_ident

__all__ = [
    "PROBE_MEASUREMENT",
    "DeviceRange",
    "V2Deleter",
    "count_points",
    "delete_points",
    "measurements",
    "read_points",
]

_EUI = re.compile(r"[0-9a-f]{16}")
#: The measurement ``V2Deleter.check`` deletes from: no writer uses it, so nothing goes.
PROBE_MEASUREMENT = "leedswin_delete_probe"
_PAGE = 20_000


@dataclass(frozen=True, slots=True)
class DeviceRange:
    """One device's points in [start_ns, end_ns)."""

    dev_eui: str
    start_ns: int
    end_ns: int

    def __post_init__(self) -> None:
        if not _EUI.fullmatch(self.dev_eui):
            raise ValueError(f"dev_eui {self.dev_eui!r} is not 16 lower-case hex digits")
        if self.end_ns <= self.start_ns:
            raise ValueError("empty time range")

    def where(self) -> str:
        return (
            f"\"dev_eui\" = '{self.dev_eui}' AND time >= {int(self.start_ns)}"
            f" AND time < {int(self.end_ns)}"
        )


def databases(settings: InfluxSettings) -> tuple[str, str]:
    """Home database first: where a home device's points are; the public one in case some
    were written before the device was reclassified."""
    return settings.home_db, settings.database


def measurements(client: InfluxQL, database: str, dev_eui: str) -> list[str]:
    """Measurements of ``database`` holding any point of ``dev_eui`` ([] without the database).

    Asks first which DevEUIs the database holds at all, a statement naming none: only
    if the device is among them does a statement name it. Any user of a 1.x server
    reads running statements (``SHOW QUERIES``), and a home's erasure or export must
    not tell the public server's users that DevEUI when it holds nothing of it.
    """
    if not _EUI.fullmatch(dev_eui):
        raise ValueError(f"dev_eui {dev_eui!r} is not 16 lower-case hex digits")
    try:
        held = client.query('SHOW TAG VALUES WITH KEY = "dev_eui"', database=database)
        if not any(dev_eui in row[1:] for s in held for row in s.values):
            return []
        found = client.query(
            f"SHOW MEASUREMENTS WHERE \"dev_eui\" = '{dev_eui}'", database=database
        )
    except QueryError as exc:
        if "database not found" in str(exc):
            return []
        raise
    return [row[0] for s in found for row in s.values]


def count_points(client: InfluxQL, database: str, measurement: str, span: DeviceRange) -> int:
    """Points of the device in the range (counted by its most frequent field)."""
    found = client.query(
        f"SELECT count(*) FROM {quote_ident(measurement)} WHERE {span.where()}", database=database
    )
    return max((int(v or 0) for s in found for row in s.values for v in row[1:]), default=0)


def read_points(
    client: InfluxQL, database: str, measurement: str, span: DeviceRange
) -> Iterator[Series]:
    """Every point (tags as columns), oldest first, in pages."""
    offset = 0
    while True:
        page = client.query(
            f"SELECT * FROM {quote_ident(measurement)} WHERE {span.where()}"
            f" ORDER BY time ASC LIMIT {_PAGE} OFFSET {offset}",
            database=database,
        )
        rows = sum(len(s.values) for s in page)
        yield from page
        if rows < _PAGE:
            return
        offset += _PAGE


def delete_points(client: InfluxQL, database: str, measurement: str, span: DeviceRange) -> None:
    client.query(f"DELETE FROM {quote_ident(measurement)} WHERE {span.where()}", database=database)


def _rfc3339_ns(ns: int) -> str:
    seconds, fraction = divmod(ns, 1_000_000_000)
    stamp = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{stamp}.{fraction:09d}Z"


class V2Deleter:
    """The 2.x/3.x delete API for both buckets (``settings.bucket`` and ``home_bucket``),
    each on its own server when ``home_url`` is set."""

    def __init__(self, settings: InfluxSettings, client: Any | None = None) -> None:
        if not (settings.bucket and settings.home_bucket and settings.org and settings.token):
            raise ValueError("the v2 delete API needs org, token, bucket and home_bucket")
        # Imported here: about 40 MB that a 1.x deployment (and the bridge) never needs.
        from influxdb_client import InfluxDBClient

        self.settings = settings
        token = settings.token.get_secret_value()
        timeout = int(settings.timeout * 1000)
        self._client = client or InfluxDBClient(
            url=settings.url, token=token, org=settings.org, timeout=timeout
        )
        self._home_client = self._client
        if client is None and settings.home_separate:
            self._home_client = InfluxDBClient(
                url=settings.home().url, token=token, org=settings.org, timeout=timeout
            )

    def delete(self, span: DeviceRange) -> None:
        """Every point of the device in [start, end) from both buckets (idempotent)."""
        self.delete_where(f'dev_eui="{span.dev_eui}"', span.start_ns, span.end_ns)

    def delete_where(self, predicate: str, start_ns: int, end_ns: int) -> None:
        """The points matching ``predicate`` (delete predicate syntax) in [start_ns, end_ns),
        home bucket first, each on its server (idempotent).

        Raises ``DeleteUnsupportedError`` when the server has no delete API (InfluxDB 3),
        ``QueryError`` when it refuses or cannot be reached."""
        for bucket, client in (
            (self.settings.home_bucket, self._home_client),
            (self.settings.bucket, self._client),
        ):
            if bucket is None:
                continue
            self._send(client, bucket, predicate, start_ns, end_ns)

    def delete_in(self, bucket: str, predicate: str, start_ns: int, end_ns: int) -> None:
        """``delete_where`` in one bucket only (``settings.bucket`` or ``home_bucket``, on its
        server): a reclassification deletes different points in each. Same errors."""
        if bucket == self.settings.home_bucket:
            self._send(self._home_client, bucket, predicate, start_ns, end_ns)
        elif bucket == self.settings.bucket:
            self._send(self._client, bucket, predicate, start_ns, end_ns)
        else:
            raise ValueError(f"bucket {bucket!r} is neither the public nor the home bucket")

    def check(self) -> None:
        """Whether both buckets' servers can delete, asked with a delete that matches nothing
        (measurement ``PROBE_MEASUREMENT``, which nothing writes, in the first second of 1970):
        raises ``DeleteUnsupportedError`` (InfluxDB 3) or ``QueryError`` as a real delete
        would, so a caller can refuse before it changes anything."""
        self.delete_where(f'_measurement="{PROBE_MEASUREMENT}"', 0, 1_000_000_000)

    def _send(self, client: Any, bucket: str, predicate: str, start_ns: int, end_ns: int) -> None:
        from influxdb_client.rest import ApiException
        from urllib3.exceptions import HTTPError

        where = f"{client.url} bucket {bucket}"
        try:
            client.delete_api().delete(
                _rfc3339_ns(start_ns),
                _rfc3339_ns(end_ns - 1),
                predicate,
                bucket=bucket,
                org=self.settings.org,
            )
        except ApiException as exc:
            detail = str(getattr(exc, "message", None) or exc.reason or "").strip()
            # 2.x answers an unknown bucket or org 404 too, and says so in its message.
            if exc.status in (404, 405, 501) and not re.search(r"bucket|org", detail, re.I):
                raise DeleteUnsupportedError(
                    f"InfluxDB at {where} has no delete API (POST /api/v2/delete answered"
                    f" {exc.status}): InfluxDB 3 cannot delete points by predicate; nothing"
                    " was deleted in that bucket"
                ) from exc
            raise QueryError(f"delete API at {where} refused ({exc.status}) {detail}") from exc
        except HTTPError as exc:
            raise QueryError(f"delete API at {where} unreachable: {exc}") from exc

    def close(self) -> None:
        self._client.close()
        if self._home_client is not self._client:
            self._home_client.close()

"""The live-feed message: one model for the bridge that publishes it and the API that serves it.

The bridge publishes one message per accepted uplink, after InfluxDB (or the
spool) took its points, on ``leedswin/v1/readings/<need>/<dev_eui>`` (public)
or ``leedswin/v1/restricted/…`` (home); the API relays it unchanged to its
WebSocket and SSE clients. The bridge builds the JSON with ``feed_body`` (a
plain dict: no validation on the hot path) and the API validates it with
``LiveReading``; a test holds the two to the same fields.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from core.needs import Need

__all__ = ["LiveReading", "feed_body"]


class LiveReading(BaseModel):
    """One reading on the live feed (MQTT message, WebSocket message or SSE ``data``).

    No coordinates: the feed says where by ``site`` and ``ward`` only, and a
    home's message reaches only housing clients.
    """

    dev_eui: str = Field(description="DevEUI, 16 lower-case hex digits")
    model: str = Field(description="Decoder model key")
    need: Need
    site: str
    privacy: Literal["public", "home"]
    ward: str | None = None
    time: str = Field(description="Event time, RFC 3339 with nanoseconds, UTC")
    time_ns: int = Field(description="The same event time in ns since the epoch")
    f_cnt: int | None = Field(None, description="Frame counter: a gap means readings were missed")
    values: dict[str, float] = Field(description="Canonical readings at the event time")


def feed_body(
    *,
    dev_eui: str,
    model: str,
    need: str,
    site: str,
    privacy: str,
    ward: str | None,
    time: str,
    time_ns: int,
    f_cnt: int | None,
    values: dict[str, float],
) -> dict[str, Any]:
    """The message as the bridge serialises it: exactly ``LiveReading``'s fields."""
    return {
        "dev_eui": dev_eui,
        "model": model,
        "need": need,
        "site": site,
        "privacy": privacy,
        "ward": ward,
        "time": time,
        "time_ns": time_ns,
        "f_cnt": f_cnt,
        "values": values,
    }

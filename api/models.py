"""Response schemas: what leaves the API. ``XPublic`` models carry only fields meant for clients."""

from __future__ import annotations

from datetime import datetime
from typing import Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

from storage.registry import key_name_problem

T = TypeVar("T")


class ListPublic(BaseModel, Generic[T]):
    """Every list response: the items and how many there are."""

    data: list[T]
    count: int


class DevicePublic(BaseModel):
    """A device as a client sees it. Home devices never carry coordinates, only a ward."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "dev_eui": "a84041000181c061",
                    "model": "elsys_ers_co2",
                    "need": "air_quality",
                    "site": "briggate",
                    "privacy": "public",
                    "ward": "Little London and Woodhouse",
                    "lat": 53.7996,
                    "lon": -1.5412,
                    "last_seen": "2026-11-23T20:15:00Z",
                    "battery_percent": 87.0,
                    "battery_voltage": 3.6,
                    "rssi": -97.0,
                    "snr": 7.5,
                }
            ]
        }
    )

    dev_eui: str
    model: str
    need: str
    site: str = Field(description="Site name; pseudonymous for home devices")
    privacy: Literal["public", "home"]
    ward: str | None = None
    lat: float | None = Field(None, description="Public-realm devices only")
    lon: float | None = Field(None, description="Public-realm devices only")
    last_seen: datetime
    battery_percent: float | None = None
    battery_voltage: float | None = None
    rssi: float | None = Field(None, description="dBm at the best gateway, last uplink")
    snr: float | None = Field(None, description="dB at the best gateway, last uplink")


class ReadingPublic(BaseModel):
    time: datetime
    value: float


class ReadingPage(BaseModel):
    """One page of raw readings, oldest first; ``next_offset`` is null on the last page."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "dev_eui": "a84041000181c061",
                    "quantity": "co2",
                    "unit": "ppm",
                    "data": [{"time": "2026-11-23T20:15:00Z", "value": 612.0}],
                    "count": 1,
                    "next_offset": None,
                }
            ]
        }
    )

    dev_eui: str
    quantity: str
    unit: str
    data: list[ReadingPublic]
    count: int
    next_offset: int | None


class LatestPublic(BaseModel):
    dev_eui: str
    model: str
    site: str
    privacy: Literal["public", "home"]
    time: datetime
    values: dict[str, float]


class AggregatePoint(BaseModel):
    time: datetime = Field(description="Start of the bucket")
    value: float


class AggregateSeries(BaseModel):
    group: str = Field(description="dev_eui or site, per group_by")
    data: list[AggregatePoint]


class AggregatePublic(BaseModel):
    """One statistic per time bucket and group, computed by InfluxDB."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "quantity": "temperature",
                    "fn": "mean",
                    "every": "1h",
                    "group_by": "site",
                    "start": "2026-11-23T00:00:00Z",
                    "end": "2026-11-24T00:00:00Z",
                    "data": [
                        {
                            "group": "briggate",
                            "data": [{"time": "2026-11-23T00:00:00Z", "value": 7.25}],
                        }
                    ],
                    "count": 1,
                }
            ]
        }
    )

    quantity: str
    fn: str
    every: str
    group_by: str
    start: datetime
    end: datetime
    data: list[AggregateSeries]
    count: int
    next_cursor: str | None = Field(
        None,
        description="More groups follow: ask again with `cursor` set to this (the last group"
        " of this page); null on the last page",
    )


class RegistryDevicePublic(BaseModel):
    """A device registry entry; ``privacy`` null means unknown, which is treated as home."""

    dev_eui: str
    model: str
    site: str
    privacy: Literal["public", "home"] | None
    ward: str | None
    lat: float | None
    lon: float | None


class ApiKeyPublic(BaseModel):
    key_id: str
    name: str
    scope: Literal["public", "operations", "housing", "admin"]
    created: datetime
    revoked: datetime | None


class ApiKeyCreate(BaseModel):
    name: str = Field(
        min_length=1,
        max_length=200,
        description="Visible text: no control, format (bidi, zero-width) or separator characters",
    )
    scope: Literal["public", "operations", "housing", "admin"]

    @field_validator("name")
    @classmethod
    def _visible(cls, name: str) -> str:
        if problem := key_name_problem(name):
            raise ValueError(problem)
        return name


class ApiKeyCreated(ApiKeyPublic):
    token: str = Field(description="Shown once; only its hash is stored")


class StreamTokenPublic(BaseModel):
    """A short-lived token that opens a live stream (``?token=``); it is no API key."""

    token: str
    expires: datetime = Field(description="After this, the token opens no new stream")
    lifetime: int = Field(description="Seconds the token is valid for")


class FootfallSitePublic(BaseModel):
    """A site with footfall counts: its counters and when it was last counted."""

    site: str
    counters: int = Field(description="Public people counters reporting at the site")
    last_counted: datetime = Field(description="Start of the newest hour with counts")


class Health(BaseModel):
    status: Literal["ok", "unavailable"]
    checks: dict[str, bool] = Field(default_factory=dict)


class ErrorPublic(BaseModel):
    detail: str

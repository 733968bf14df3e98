"""Typed dependencies for every router: who is asking, what they may see, shared services.

Routers (ours and the insights helper's) use only these aliases:
``PrincipalDep`` (any valid key, rate limited), ``require_scope(Scope.HOUSING)``
(or ``HousingDep``/``AdminDep``), ``ScopedReadingsDep`` (InfluxDB, scoped to
the principal), ``RegistryDep`` (the SQLite registry) and
``SettingsDep``. Nothing here touches InfluxDB without the principal's scope:
public keys' queries run on ``public_influx`` (credentials that cannot read the
home database), housing keys' on ``influx`` (both databases).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Annotated

from fastapi import Depends, HTTPException, Request, Security, status
from fastapi.security import APIKeyHeader

from api.cache import SPAN_BUCKETS, SPAN_ENTRIES, SPAN_TTL, Coalescer
from api.live import LiveHub
from api.metrics import ApiMetrics
from api.ratelimit import RateLimiter
from api.scoped import Principal, PublicDevices, QueryRunner, ScopedReadings, span_size
from core.settings import ApiSettings
from storage.devices import DeviceRegistry
from storage.registry import ApiKey, ApiKeys, Registry, Scope
from storage.schema import PRIVACY_PUBLIC
from storage.state import DeviceState

API_KEY_HEADER = "X-API-Key"

_api_key_header = APIKeyHeader(
    name=API_KEY_HEADER, auto_error=False, description="API key from `leedswin keys create`"
)


@dataclass
class Services:
    """What the lifespan builds and owns; handlers reach it only through the deps below."""

    settings: ApiSettings
    influx: QueryRunner
    public_influx: QueryRunner
    registry: Registry
    keys: ApiKeys
    limiter: RateLimiter
    live: LiveHub
    metrics: ApiMetrics
    influx_ping: Callable[[], bool]
    devices: DeviceRegistry
    public_devices: PublicDevices = field(default_factory=PublicDevices)
    #: Device state in ``registry`` (what the bridge keeps); None: the registry's own.
    state: DeviceState | None = None
    #: Identical reads coalesced and kept ``api.cache.ANSWER_TTL`` seconds.
    answers: Coalescer = field(default_factory=Coalescer)
    #: Rollup rows of aggregates' whole hours, kept ``api.cache.SPAN_TTL`` seconds.
    spans: Coalescer = field(
        default_factory=lambda: Coalescer(
            SPAN_TTL, SPAN_ENTRIES, cost=span_size, max_cost=SPAN_BUCKETS
        )
    )

    def __post_init__(self) -> None:
        if self.state is None:
            self.state = DeviceState(self.registry)


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def authenticate(services: Services, token: str | None) -> Principal:
    """A principal for a token, or 401; then the key's rate limit, or 429."""
    key = services.keys.verify(token) if token else None
    refusal = "missing or invalid API key" if token else f"missing API key ({API_KEY_HEADER})"
    return admit(services, key, refusal)


def admit(services: Services, key: ApiKey | None, refusal: str) -> Principal:
    """The principal of a verified ``key``: 401 with ``refusal`` when there is none, 429 when
    its rate limit is spent. Every way in (header key, query key, stream token) ends here."""
    if key is None:
        services.metrics.auth_failures.inc()
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, refusal, headers={"WWW-Authenticate": "ApiKey"}
        )
    retry_after = services.limiter.take(key.key_id)
    if retry_after:
        services.metrics.rate_limited.inc()
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            f"rate limit of {services.settings.rate_limit_per_minute} requests/minute exceeded;"
            f" retry in {retry_after} s",
            headers={"Retry-After": str(retry_after)},
        )
    return Principal(key.key_id, key.name, key.scope)


def get_principal(
    services: ServicesDep, token: Annotated[str | None, Security(_api_key_header)]
) -> Principal:
    return authenticate(services, token)


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def scope_refusal(minimum: Scope) -> str:
    """``needs an admin key`` / ``needs a housing key``: the 403 detail, with the right article."""
    article = "an" if minimum.value[:1] in "aeiou" else "a"
    return f"needs {article} {minimum.value} key"


def require_scope(minimum: Scope) -> Callable[[Principal], Principal]:
    """A dependency admitting keys whose scope includes ``minimum`` (admin > housing > public)."""

    def check(principal: PrincipalDep) -> Principal:
        if not principal.scope.includes(minimum):
            raise HTTPException(status.HTTP_403_FORBIDDEN, scope_refusal(minimum))
        return principal

    return check


HousingDep = Annotated[Principal, Depends(require_scope(Scope.HOUSING))]
AdminDep = Annotated[Principal, Depends(require_scope(Scope.ADMIN))]


def get_scoped(services: ServicesDep, principal: PrincipalDep) -> ScopedReadings:
    def restricted(dev_eui: str) -> bool:
        record = services.devices.get(dev_eui) if dev_eui else None
        return record is not None and record.privacy != PRIVACY_PUBLIC

    return ScopedReadings(
        services.influx if principal.sees_home else services.public_influx,
        principal,
        timedelta(days=services.settings.max_range_days),
        restricted,
        hidden=() if principal.sees_home else services.devices.not_public(),
        public=lambda: services.public_devices.get(services.public_influx),
        state=services.state,
        cache=services.answers,
        spans=services.spans,
    )


ScopedReadingsDep = Annotated[ScopedReadings, Depends(get_scoped)]


def get_settings(services: ServicesDep) -> ApiSettings:
    return services.settings


SettingsDep = Annotated[ApiSettings, Depends(get_settings)]


def get_registry(services: ServicesDep) -> Registry:
    return services.registry


RegistryDep = Annotated[Registry, Depends(get_registry)]

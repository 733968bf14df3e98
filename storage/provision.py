"""InfluxDB 1.x set-up with authentication: the two databases, their retention, users and grants.

InfluxDB 1.x grants READ/WRITE per database, which is why home data have a
database of their own (see ``storage.influx.PrivacyRouter``). The roles:

============  ===========================  ==========================================
role          public database              home database
============  ===========================  ==========================================
``bridge``    WRITE                        WRITE
``insights``  ALL (reads raw, writes back)  ALL
``housing``   READ                         READ   (API housing path, housing Grafana)
``public``    READ                         —      (API public path, public Grafana)
============  ===========================  ==========================================

With auth on and no user yet, InfluxDB accepts only the statement creating
the first admin (InfluxDB 1.x docs, "Authentication and authorization"):
``provision`` makes it, then everything else as that admin. Re-running it is
harmless: it sets passwords, retention and grants to what it is given.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Literal

from pydantic import SecretStr

from core.errors import QueryError
from core.settings import InfluxSettings
from storage.query import HOUR_NS, InfluxQL, quote_ident
from storage.retention import duration_ns

__all__ = [
    "GRANTS",
    "Role",
    "Account",
    "Server",
    "apply_retention",
    "plan",
    "provision",
    "servers",
    "shard_duration",
]

Role = Literal["bridge", "insights", "housing", "public"]

#: Privilege on (public database, home database) per role; None: no access at all.
GRANTS: Final[dict[str, tuple[str | None, str | None]]] = {
    "bridge": ("WRITE", "WRITE"),
    "insights": ("ALL", "ALL"),
    "housing": ("READ", "READ"),
    "public": ("READ", None),
}


_NOT_FIRST_START: Final = (
    "unable to parse authentication credentials",
    "authorization failed",
    "user already exists",
)


@dataclass(frozen=True, slots=True)
class Account:
    username: str
    password: str


def _literal(text: str) -> str:
    """An InfluxQL string literal."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def shard_duration(duration: str | None) -> str | None:
    """Shard group duration for a retention ``duration``: InfluxDB's own default (``1h`` under
    two days, ``1d`` up to six months, ``7d`` beyond), for public and home data alike.

    InfluxDB enforces retention by dropping whole shard groups once their end is
    older than the policy, so data outlive it by up to one shard group, and every
    query opens a cursor per series and shard group it spans. ``bench.api``
    measured the housing dashboard's 30 days (287 homes) at 2.6 s on 1-day groups
    and 1.3 s on 7-day ones, and a per-device question over 30 days of hourly
    rollups (1,000 devices) at 0.82 s and 0.26 s. Home data still go within a day
    of their limit: the insights service deletes them daily
    (``storage.retention.expire_home``).

    Set explicitly, because a policy may not be shorter than its shard groups
    (shortening ``autogen``'s 7d groups to 24h is refused). INF: none (InfluxDB's 7d).
    """
    keep = duration_ns(duration)
    if keep is None:
        return None
    hours = keep // HOUR_NS
    if hours < 48:
        return "1h"
    if hours <= 183 * 24:
        return "1d"
    return "7d"


def _retention(client: InfluxQL, database: str, rp: str | None, duration: str | None) -> None:
    """Make ``rp`` (default ``autogen``) the database's default policy with ``duration``."""
    name = quote_ident(rp or "autogen")
    where = f"{name} ON {quote_ident(database)} DURATION {duration or 'INF'}"
    shard = shard_duration(duration)
    shards = f" SHARD DURATION {shard}" if shard else ""
    try:
        client.query(
            f"CREATE RETENTION POLICY {where} REPLICATION 1{shards} DEFAULT", database=database
        )
    except QueryError as exc:
        if "already exists" not in str(exc):
            raise
        client.query(f"ALTER RETENTION POLICY {where}{shards} DEFAULT", database=database)


Server = Literal["public", "home", "both"]


def _databases(
    settings: InfluxSettings, server: Server = "both"
) -> tuple[tuple[str, str | None, str | None, int], ...]:
    """(database, policy, duration, index into ``GRANTS``' pairs) of the databases on ``server``."""
    databases = (
        (settings.database, settings.retention_policy, settings.retention, 0),
        (settings.home_db, settings.home_retention_policy, settings.home_retention, 1),
    )
    return tuple(d for d in databases if server == "both" or d[3] == (server == "home"))


def servers(settings: InfluxSettings) -> tuple[Server, ...]:
    """The servers to set up: one holding both databases, or the public and the home one."""
    return ("public", "home") if settings.home_separate else ("both",)


def _roles(server: Server, accounts: Mapping[Role, Account]) -> dict[Role, Account]:
    """The accounts a server gets: a home server has none for roles with no home access."""
    if server != "home":
        return dict(accounts)
    return {role: account for role, account in accounts.items() if GRANTS[role][1] is not None}


def _create_database(database: str, rp: str | None, duration: str | None) -> str:
    # On a new database this makes ``rp`` its default policy, with the shard groups of
    # ``shard_duration``; re-run unchanged, a no-op.
    shard = shard_duration(duration)
    return (
        f"CREATE DATABASE {quote_ident(database)} WITH DURATION {duration or 'INF'}"
        f" REPLICATION 1{f' SHARD DURATION {shard}' if shard else ''}"
        f" NAME {quote_ident(rp or 'autogen')}"
    )


def _grants(settings: InfluxSettings, role: str, user: str, server: Server = "both") -> list[str]:
    statements = []
    for database, _, _, index in _databases(settings, server):
        privilege = GRANTS[role][index]
        on = quote_ident(database)
        if privilege is None:
            statements.append(f"REVOKE ALL PRIVILEGES ON {on} FROM {user}")
        else:
            statements.append(f"GRANT {privilege} ON {on} TO {user}")
    return statements


def plan(
    settings: InfluxSettings,
    admin: Account,
    accounts: Mapping[Role, Account],
    server: Server = "both",
) -> list[str]:
    """The InfluxQL statements that set up a new server: what ``provision`` runs, as a script
    (``influx -import``, or the `influx` shell) for hosts where it cannot run itself.

    ``server``: ``both`` for one server holding both databases; ``public`` or
    ``home`` for each of two (``home_url``), the home one with no account for
    the ``public`` role."""
    statements = [
        f"CREATE USER {quote_ident(admin.username)} WITH PASSWORD"
        f" {_literal(admin.password)} WITH ALL PRIVILEGES"
    ]
    statements += [
        _create_database(database, rp, duration)
        for database, rp, duration, index in _databases(settings, server)
    ]
    for role, account in _roles(server, accounts).items():
        user = quote_ident(account.username)
        statements.append(f"CREATE USER {user} WITH PASSWORD {_literal(account.password)}")
        statements += _grants(settings, role, user, server)
    return statements


def provision(settings: InfluxSettings, admin: Account, accounts: Mapping[Role, Account]) -> None:
    """Admin, databases (public and home) with their retention, one user per role with its grants,
    on each server (``servers``: one, or the public and the home one when ``home_url`` is set).

    The statements of ``plan``, made idempotent: on a server already set up,
    passwords and retention are set to what is given instead of created.
    ``settings`` names the servers, databases, retention policies and durations
    (``retention``/``home_retention``; none: keep data forever). Raises
    ``QueryError`` if InfluxDB refuses a statement (say, a wrong admin password).
    """
    for server in servers(settings):
        connection = settings.home() if server == "home" else settings
        _provision(settings, connection, server, admin, accounts)


def _provision(
    settings: InfluxSettings,
    connection: InfluxSettings,
    server: Server,
    admin: Account,
    accounts: Mapping[Role, Account],
) -> None:
    """``provision`` on one server: names from ``settings``, reached through ``connection``."""
    bootstrap = InfluxQL(
        connection.model_copy(update={"username": None, "password": None, "token": None}),
        include_home=False,
    )
    try:
        bootstrap.query(plan(settings, admin, {}, server)[0])
    except QueryError as exc:
        # Not the first start: the admin exists, and only an admin may create users now.
        if not any(text in str(exc) for text in _NOT_FIRST_START):
            raise
    finally:
        bootstrap.close()
    as_admin = connection.model_copy(
        update={"username": admin.username, "password": SecretStr(admin.password), "token": None}
    )
    client = InfluxQL(as_admin, include_home=False)
    try:
        for database, rp, duration, _ in _databases(settings, server):
            try:
                client.query(_create_database(database, rp, duration), database=database)
            except QueryError as exc:
                if "conflicts with an existing policy" not in str(exc):
                    raise
                _retention(client, database, rp, duration)
        for role, account in _roles(server, accounts).items():
            user = quote_ident(account.username)
            password = _literal(account.password)
            try:
                client.query(f"CREATE USER {user} WITH PASSWORD {password}")
            except QueryError as exc:
                if "user already exists" not in str(exc):
                    raise
                client.query(f"SET PASSWORD FOR {user} = {password}")
            for statement in _grants(settings, role, user, server):
                client.query(statement)
    finally:
        client.close()


def apply_retention(settings: InfluxSettings) -> list[tuple[str, str, str]]:
    """Create both databases if missing and set their default retention policies from
    ``settings`` (``retention``, ``home_retention``); returns (database, policy, duration).

    ``settings`` must hold an admin's credentials. Shortening a policy removes the
    data now older than it at InfluxDB's next retention check (``[retention]
    check-interval``, 30 min by default)."""
    client = InfluxQL(settings, include_home=False)
    applied = []
    try:
        for database, rp, duration in (
            (settings.database, settings.retention_policy, settings.retention),
            (settings.home_db, settings.home_retention_policy, settings.home_retention),
        ):
            # ``database=`` sends it to the server holding that database (``home_url``).
            client.query(f"CREATE DATABASE {quote_ident(database)}", database=database)
            _retention(client, database, rp, duration)
            applied.append((database, rp or "autogen", duration or "INF"))
    finally:
        client.close()
    return applied

"""`leedswin doctor`: check a deployment end to end with the settings a service would run with.

Each check yields a ``Check``: its name, whether it passed, and on failure
what to fix. Nothing is changed on the servers: writes are probed with an
empty ``/write`` body (InfluxDB checks the privilege before it reads points),
reads with ``SHOW MEASUREMENTS LIMIT 1``, the registry with a rolled-back
write transaction; the broker sees a few non-retained probe messages under
``leedswin/v1/…/readings/doctor/<nonce>`` (a running API counts the public one as a
bad live message in ``leedswin_api_live_bad_messages_total``, one per run).

Broker checks connect as the component's account. On a broker with
``use_username_as_clientid`` that is the bridge's own session: doctor resumes
it (``clean_start=False``, same expiry) and acknowledges nothing, so anything
queued in it is redelivered to the bridge, but run doctor with the bridge
stopped to avoid knocking it off for a moment.
"""

from __future__ import annotations

import secrets
import socket
import sqlite3
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from core.settings import DoctorSettings, GrafanaSettings, InfluxSettings, MqttSettings
from storage.provision import GRANTS, shard_duration
from storage.registry import SCHEMA_VERSION

Role = Literal["bridge", "insights", "housing"]
PUBLIC_FEED = "leedswin/v1/readings"
RESTRICTED_FEED = "leedswin/v1/restricted/readings"
UPLINK_TOPICS = ("application/+/device/+/event/up", "v3/+/devices/+/up")
_WAIT = 5.0


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    fix: str = ""
    #: Not checkable with these credentials: says why, does not fail.
    skipped: bool = False

    def line(self) -> str:
        if self.skipped:
            return f"skip  {self.name}: {self.fix}"
        return f"ok    {self.name}" if self.ok else f"FAIL  {self.name}: {self.fix}"


class _Session:
    """One MQTT v5 connection that records SUBACK/PUBACK reason codes and received messages."""

    def __init__(self, settings: MqttSettings, username: str | None, password: str | None) -> None:
        self.connected = threading.Event()
        self.connack: Any = None
        self.acks: dict[int, Any] = {}
        self.acked = threading.Condition()
        self.received: list[str] = []
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"{settings.client_id}" if username == settings.username else "",
            protocol=mqtt.MQTTv5,
            manual_ack=True,  # never acknowledge: a resumed bridge session keeps its messages
        )
        if username:
            self.client.username_pw_set(username, password)
        if urlsplit(settings.url).scheme == "mqtts":
            self.client.tls_set_context(ssl.create_default_context())
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_ack
        self.client.on_publish = self._on_publish
        self.client.on_message = lambda c, u, message: self.received.append(message.topic)
        self.settings = settings

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        self.connack = reason
        self.connected.set()

    def _on_ack(self, client: Any, userdata: Any, mid: int, reasons: Any, props: Any) -> None:
        with self.acked:
            self.acks[mid] = reasons
            self.acked.notify_all()

    def _on_publish(self, client: Any, userdata: Any, mid: int, reason: Any, props: Any) -> None:
        self._on_ack(client, userdata, mid, [reason], props)

    def open(self, resume: bool) -> Any:
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = self.settings.session_expiry if resume else 0
        self.client.connect(
            self.settings.host,
            self.settings.port,
            keepalive=self.settings.keepalive,
            clean_start=not resume,
            properties=props,
        )
        self.client.loop_start()
        if not self.connected.wait(_WAIT):
            return None
        return self.connack

    def _wait(self, mid: int) -> list[Any]:
        with self.acked:
            self.acked.wait_for(lambda: mid in self.acks, _WAIT)
            return list(self.acks.get(mid, []))

    def subscribe(self, topic: str) -> bool:
        """True if the broker granted the subscription."""
        result, mid = self.client.subscribe(topic, qos=1)
        if mid is None:
            return False
        reasons = self._wait(mid)
        return bool(reasons) and all(not reason.is_failure for reason in reasons)

    def publish(self, topic: str) -> bool:
        """True if the broker accepted a QoS 1 publication (PUBACK success)."""
        info = self.client.publish(topic, b'{"leedswin_doctor": true}', qos=1)
        reasons = self._wait(info.mid)
        return bool(reasons) and all(not reason.is_failure for reason in reasons)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _tls(host: str, port: int) -> Check:
    name = f"TLS certificate of {host}:{port}"
    try:
        with (
            socket.create_connection((host, port), timeout=_WAIT) as raw,
            ssl.create_default_context().wrap_socket(raw, server_hostname=host),
        ):
            return Check(name, True)
    except (ssl.SSLError, OSError) as exc:
        return Check(
            name, False, f"{exc}; install a certificate valid for {host} from a trusted CA"
        )


def _secret(value: Any) -> str | None:
    return value.get_secret_value() if value is not None else None


def check_broker(settings: MqttSettings, doctor: DoctorSettings) -> Iterator[Check]:
    """Reachable, TLS, credentials; the ACL allows and refuses what ``broker_acl()`` says."""
    where = f"{settings.host}:{settings.port}"
    try:
        socket.create_connection((settings.host, settings.port), timeout=_WAIT).close()
    except OSError as exc:
        yield Check(f"broker reachable at {where}", False, f"{exc}; is Mosquitto running there?")
        return
    yield Check(f"broker reachable at {where}", True)
    if urlsplit(settings.url).scheme == "mqtts":
        yield _tls(settings.host, settings.port)
    nonce = secrets.token_hex(4)
    sessions: list[_Session] = []

    def login(username: str | None, password: str | None, resume: bool) -> _Session | None:
        session = _Session(settings, username, password)
        reason = session.open(resume)
        label = f"broker accepts account {username or '(anonymous)'}"
        if reason is None or reason.is_failure:
            yield_list.append(
                Check(label, False, f"CONNACK {reason}: check the password file entry and password")
            )
            session.client.loop_stop()
            return None
        yield_list.append(Check(label, True))
        sessions.append(session)
        return session

    yield_list: list[Check] = []
    try:
        own = login(settings.username, _secret(settings.password), resume=True)
        probe = housing = None
        if doctor.probe_username:
            probe = login(doctor.probe_username, _secret(doctor.probe_password), resume=False)
        if doctor.housing_username:
            housing = login(doctor.housing_username, _secret(doctor.housing_password), False)
        yield from yield_list
        if own is None:
            return
        if probe is None and doctor.probe_username is None:
            yield Check(
                "ACL probe account configured",
                False,
                "set LEEDSWIN_DOCTOR_PROBE_USERNAME/_PASSWORD_FILE to an innovator's account "
                "so doctor can check what the ACL refuses",
            )
        if probe is not None:
            # Mosquitto grants any subscription and filters each message by the ACL, so
            # what the ACL refuses shows in what arrives, not in the SUBACK.
            for topic in (f"{PUBLIC_FEED}/#", f"{RESTRICTED_FEED}/#", *UPLINK_TOPICS):
                probe.subscribe(topic)
            yield _expect(
                probe.publish(f"{PUBLIC_FEED}/doctor/{nonce}"),
                False,
                "probe account",
                "publish",
                f"{PUBLIC_FEED}/…",
            )
            yield _expect(
                probe.publish(f"application/doctor/device/{nonce}/event/up"),
                False,
                "probe account",
                "publish",
                "application/…/event/up",
            )
        if housing is not None:
            yield _expect(
                housing.subscribe(f"{RESTRICTED_FEED}/#"),
                True,
                "housing account",
                "subscribe",
                f"{RESTRICTED_FEED}/#",
            )
        public_topic = f"{PUBLIC_FEED}/doctor/{nonce}"
        restricted_topic = f"{RESTRICTED_FEED}/doctor/{nonce}"
        yield _expect(
            own.publish(public_topic),
            True,
            settings.username or "component",
            "publish",
            f"{PUBLIC_FEED}/…",
        )
        yield _expect(
            own.publish(restricted_topic),
            True,
            settings.username or "component",
            "publish",
            f"{RESTRICTED_FEED}/…",
        )
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            if (probe is None or public_topic in probe.received) and (
                housing is None or restricted_topic in housing.received
            ):
                break
            time.sleep(0.05)
        time.sleep(0.2)  # a message that should not arrive gets the same chance to
        if probe is not None:
            yield Check(
                "probe account receives the public feed",
                public_topic in probe.received,
                f"it must: `pattern read {PUBLIC_FEED}/#` in the ACL",
            )
            leaked = [t for t in probe.received if not t.startswith(f"{PUBLIC_FEED}/")]
            yield Check(
                "probe account receives nothing restricted",
                not leaked,
                f"it received {', '.join(leaked)}: remove the ACL line granting it",
            )
        if housing is not None:
            yield Check(
                "housing account receives the restricted tree",
                restricted_topic in housing.received,
                f"grant `topic read {RESTRICTED_FEED}/#` to {doctor.housing_username}",
            )
    finally:
        for session in sessions:
            session.close()


def _expect(allowed: bool, want: bool, who: str, action: str, topic: str) -> Check:
    verb = "may" if want else "may not"
    name = f"{who} {verb} {action} {topic}"
    if allowed == want:
        return Check(name, True)
    fix = (
        f"the ACL refuses it: add `topic {'read' if action == 'subscribe' else 'write'} {topic}` for {who}"
        if want
        else f"the ACL allows it: remove the line granting {who} {action} on {topic}"
    )
    return Check(name, False, fix)


def _influx_client(settings: InfluxSettings) -> httpx.Client:
    auth = None
    if settings.username:
        auth = (settings.username, _secret(settings.password) or "")
    return httpx.Client(base_url=settings.url, auth=auth, timeout=settings.timeout)


def _can_read(client: httpx.Client, database: str) -> tuple[bool, str]:
    response = client.get("/query", params={"db": database, "q": "SHOW MEASUREMENTS LIMIT 1"})
    if response.status_code in (401, 403):
        return False, response.text.strip()
    body = response.json()
    error = body.get("error") or (body.get("results") or [{}])[0].get("error")
    return error is None, str(error or "")


def _can_write(client: httpx.Client, database: str) -> tuple[bool, str]:
    # An empty body writes nothing; InfluxDB checks the WRITE privilege first.
    response = client.post("/write", params={"db": database}, content=b"")
    return response.status_code == 204, response.text.strip()


def _at(settings: InfluxSettings, database: str) -> InfluxSettings:
    """``settings`` aimed at the server holding ``database`` (``home_url`` for the home one)."""
    if database == settings.home_db and settings.home_url:
        return settings.model_copy(update={"url": settings.home_url})
    return settings


def check_influx(settings: InfluxSettings, role: Role, max_skew: float) -> Iterator[Check]:
    """Reachable, clock, databases and retention policies, and the role's grants (v1 API),
    on the home data's own server too when ``home_url`` is set."""
    yield from _check_server(settings, max_skew)
    if settings.home_separate:
        yield from _check_server(settings.home(), max_skew)
    yield from _check_grants(settings, role)


def _check_server(settings: InfluxSettings, max_skew: float) -> Iterator[Check]:
    name = f"InfluxDB reachable at {settings.url}"
    try:
        with httpx.Client(base_url=settings.url, timeout=settings.timeout) as plain:
            ping = plain.get("/ping")
    except httpx.HTTPError as exc:
        yield Check(name, False, f"{exc}; is influxd running and the URL right?")
        return
    yield Check(name, ping.status_code == 204, f"/ping answered {ping.status_code}")
    date = ping.headers.get("date")
    if date:
        skew = abs(parsedate_to_datetime(date).timestamp() - time.time())
        yield Check(
            f"clocks agree (InfluxDB vs here: {skew:.0f} s)",
            skew <= max_skew + 1,  # the Date header has whole seconds
            f"more than {max_skew:g} s apart: run an NTP client (systemd-timesyncd, chrony) on both",
        )


def _check_grants(settings: InfluxSettings, role: Role) -> Iterator[Check]:
    if settings.api_version == 2:
        yield Check(
            "buckets, retention and tokens (v2)",
            True,
            "doctor checks the v1 API only: check them with `influx bucket list` and `influx auth list`",
            skipped=True,
        )
        return
    expected = (
        (settings.database, settings.retention_policy, settings.retention),
        (settings.home_db, settings.home_retention_policy, settings.home_retention),
    )
    for database, rp, duration in expected:
        readers = [_at(settings, database)]
        if settings.public_username:
            readers.append(_at(settings.public(), database))
        yield from _check_database(readers, database, rp, duration)
    yield from _check_expired(
        _at(settings, settings.home_db), settings.home_db, settings.home_retention
    )
    for (database, _, _), privilege in zip(expected, GRANTS[role], strict=True):
        with _influx_client(_at(settings, database)) as client:
            readable, why = _can_read(client, database)
            want = privilege in ("READ", "ALL")
            yield _grant(f"{settings.username} ({role})", "read", database, readable, want, why)
            writable, why = _can_write(client, database)
            want = privilege in ("WRITE", "ALL")
            yield _grant(f"{settings.username} ({role})", "write", database, writable, want, why)
    public = settings.public()
    if settings.public_username and settings.home_separate:
        # Any account of a 1.x server reads every running query there (SHOW QUERIES),
        # grants or not: the public one must not exist on the home server at all.
        with _influx_client(_at(public, settings.home_db)) as client:
            answer = client.get("/query", params={"q": "SHOW QUERIES"})
        yield Check(
            f"{settings.public_username} (public) has no account on the home server",
            answer.status_code == 401,
            "it reads every running query there (SHOW QUERIES), home DevEUIs included: "
            f"DROP USER on {settings.home_url} (import setup-home.influxql, not setup.influxql)",
        )
    if settings.public_username:
        for database, privilege in zip(
            (settings.database, settings.home_db), GRANTS["public"], strict=True
        ):
            with _influx_client(_at(public, database)) as client:
                readable, why = _can_read(client, database)
                yield _grant(
                    f"{settings.public_username} (public)",
                    "read",
                    database,
                    readable,
                    privilege is not None,
                    why,
                )
                writable, why = _can_write(client, database)
                yield _grant(
                    f"{settings.public_username} (public)", "write", database, writable, False, why
                )


def _check_expired(reader: InfluxSettings, database: str, duration: str | None) -> Iterator[Check]:
    """No home point older than its retention and a day: the insights service deletes them
    every 23 hours (``storage.retention.expire_home``); InfluxDB's 7-day shard groups alone keep them
    up to a week longer."""
    if not duration or duration == "INF":
        return
    label = f"no point in {database} older than its retention ({duration}) and a day"
    with _influx_client(reader) as client:
        response = client.get(
            "/query",
            params={
                "db": database,
                "q": f"SELECT * FROM /.*/ WHERE time < now() - {duration} - 1d LIMIT 1",
            },
        )
    result = (response.json().get("results") or [{}])[0]
    error = str(result.get("error") or "")
    if _refused(error) or response.status_code in (401, 403):
        yield Check(
            label,
            True,
            "these credentials may not read it; run doctor as a reader (--role insights)",
            skipped=True,
        )
        return
    if error:
        yield Check(label, "database not found" in error, error)
        return
    old = sorted(series["name"] for series in result.get("series") or [])
    yield Check(
        label,
        not old,
        f"expired home data in {', '.join(old)}: is the insights service running? It deletes"
        " them at start and every 23 hours (`leedswin insights run`)",
    )


def _policies(readers: list[InfluxSettings], database: str) -> tuple[dict[str, Any], str]:
    """``SHOW RETENTION POLICIES`` with the first credentials allowed to; (result, error)."""
    error = ""
    for reader in readers:
        with _influx_client(reader) as client:
            response = client.get(
                "/query", params={"q": f'SHOW RETENTION POLICIES ON "{database}"'}
            )
        body = response.json()
        result = (body.get("results") or [{}])[0]
        error = str(result.get("error") or body.get("error") or "")
        if not _refused(error):
            return result, error
    return {}, error


def _refused(error: str) -> bool:
    """No grant on the database, or (a home server of its own) no account on that server."""
    return "not authorized" in error or "authorization failed" in error


def _check_database(
    readers: list[InfluxSettings], database: str, rp: str | None, duration: str | None
) -> Iterator[Check]:
    result, error = _policies(readers, database)
    if _refused(error):
        yield Check(
            f"retention policy of {database}",
            True,
            "these credentials may not read it; run doctor as a reader (--role insights)",
            skipped=True,
        )
        return
    if error:
        if "database not found" in str(error):
            yield Check(
                f"database {database} exists",
                False,
                "create it: deploy/influxdb/setup.influxql (`leedswin deploy-files`)",
            )
        else:
            yield Check(f"retention policies of {database} readable", False, str(error))
        return
    yield Check(f"database {database} exists", True)
    series = result.get("series") or [{"columns": [], "values": []}]
    columns = series[0]["columns"]
    policies = {
        row[columns.index("name")]: dict(zip(columns, row, strict=True))
        for row in series[0].get("values") or []
    }
    name = rp or "autogen"
    policy = policies.get(name)
    label = f"retention policy {name} on {database}"
    if policy is None:
        yield Check(
            label,
            False,
            f'missing: CREATE RETENTION POLICY "{name}" ON "{database}" DURATION {duration or "INF"} REPLICATION 1 DEFAULT',
        )
        return
    problems = []
    if not policy.get("default"):
        problems.append("not the default policy")
    if duration and duration != "INF" and _hours(policy.get("duration", "")) != _hours(duration):
        problems.append(f"duration {policy.get('duration')}, configured {duration}")
    shard = shard_duration(duration)
    yield Check(
        label,
        not problems,
        "; ".join(problems)
        + f': ALTER RETENTION POLICY "{name}" ON "{database}" DURATION {duration or "INF"}'
        + (f" SHARD DURATION {shard}" if shard else "")
        + " DEFAULT (or `leedswin privacy retention --apply`)",
    )


def _hours(text: str) -> float | None:
    """InfluxDB's ``1248h0m0s`` or a configured ``52w``/``90d``/``24h`` in hours."""
    units = {"w": 168.0, "d": 24.0, "h": 1.0, "m": 1 / 60, "s": 1 / 3600}
    total, number = 0.0, ""
    for char in text:
        if char.isdigit():
            number += char
        elif char in units and number:
            total += int(number) * units[char]
            number = ""
        else:
            return None
    return total


def _grant(who: str, action: str, database: str, allowed: bool, want: bool, why: str) -> Check:
    verb = "may" if want else "may not"
    name = f"{who} {verb} {action} {database}"
    if allowed == want:
        return Check(name, True)
    privilege = "READ" if action == "read" else "WRITE"
    fix = (
        f'refused ({why}): GRANT {privilege} ON "{database}" TO the user, or check its password'
        if want
        else f'allowed: REVOKE {privilege} ON "{database}" FROM the user'
    )
    return Check(name, False, fix)


def check_registry(path: Path) -> Iterator[Check]:
    """The SQLite registry exists, is writable and at this release's schema version."""
    if not path.is_file():
        yield Check(
            f"registry {path} exists",
            False,
            "start the API once (it creates and migrates it) or restore a backup",
        )
        return
    try:
        conn = sqlite3.connect(path, timeout=10, isolation_level=None)
        try:
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("ROLLBACK")
        finally:
            conn.close()
    except sqlite3.Error as exc:
        yield Check(
            f"registry {path} writable",
            False,
            f"{exc}: the service user needs write access to the file and its directory",
        )
        return
    yield Check(f"registry {path} writable", True)
    yield Check(
        f"registry schema version {version} (this release: {SCHEMA_VERSION})",
        version == SCHEMA_VERSION,
        "older: start the API or insights once to migrate it; newer: this leedswin is older than the file",
    )


def check_grafana(settings: GrafanaSettings) -> Iterator[Check]:
    if not settings.url:
        return
    name = f"Grafana reachable at {settings.url}"
    try:
        response = httpx.get(f"{settings.url.rstrip('/')}/api/health", timeout=10)
    except httpx.HTTPError as exc:
        yield Check(name, False, str(exc))
        return
    yield Check(name, response.status_code == 200, f"/api/health answered {response.status_code}")


__all__ = ["Check", "Role", "check_broker", "check_grafana", "check_influx", "check_registry"]

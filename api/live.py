"""Live feed: one paho subscriber thread fanned out to WebSocket/SSE clients over asyncio.

The bridge publishes public readings under ``leedswin/v1/readings/{need}/{dev_eui}``
and home readings only under ``leedswin/v1/restricted/readings/…``. A reading is
restricted if it arrived on the restricted tree *or* its payload does not say
``privacy: public`` (fail closed); restricted readings are only ever queued for
principals whose scope includes housing. Each client has a bounded queue: a slow
client loses its oldest readings (counted), never slows the others down.

Metrics count public readings only: a counter of every message would grow by
exactly the home readings, telling anyone who can read ``/metrics`` that homes
exist and how often they report. A subscription ends (its queue yields
``None``) when its key is revoked or the server shuts down.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as mqtt
from pydantic import ValidationError

from api.metrics import ApiMetrics
from api.scoped import Principal
from core.feed import LiveReading
from core.settings import MqttSettings

log = logging.getLogger(__name__)

PUBLIC_TOPIC = "leedswin/v1/readings/+/+"
RESTRICTED_TOPIC = "leedswin/v1/restricted/readings/+/+"
_RESTRICTED_PREFIX = "leedswin/v1/restricted/"
#: Readings held per client: a whole bridge batch arrives at once, so room for a few thousand.
QUEUE_SIZE = 4096


@dataclass(frozen=True, slots=True)
class LiveEvent:
    reading: LiveReading
    restricted: bool


@dataclass(eq=False)
class Subscription:
    """One client's filter and queue."""

    principal: Principal
    need: str | None = None
    site: str | None = None
    dev_eui: str | None = None
    queue: asyncio.Queue[LiveReading | None] = field(
        default_factory=lambda: asyncio.Queue(QUEUE_SIZE)
    )
    #: Why the stream ended (``revoked``, ``shutdown``), or None while it runs.
    closed: str | None = None

    def close(self, reason: str) -> None:
        """End the stream: the client's loop gets ``None`` next (call on the event loop)."""
        if self.closed:
            return
        self.closed = reason
        if self.queue.full():
            self.queue.get_nowait()
        self.queue.put_nowait(None)

    def accepts(self, event: LiveEvent) -> bool:
        if self.closed:
            return False
        reading = event.reading
        if event.restricted and not self.principal.sees_home:
            return False
        return (
            (self.need is None or reading.need == self.need)
            and (self.site is None or reading.site == self.site)
            and (self.dev_eui is None or reading.dev_eui == self.dev_eui)
        )


def parse_message(topic: str, payload: bytes) -> LiveEvent:
    """A reading from a bridge message; ValueError if it is not one."""
    data: dict[str, Any] = json.loads(payload)
    if not isinstance(data, dict):
        raise ValueError("payload is not a JSON object")
    restricted = topic.startswith(_RESTRICTED_PREFIX) or data.get("privacy") != "public"
    data["privacy"] = "home" if restricted else "public"
    return LiveEvent(LiveReading.model_validate(data), restricted)


class LiveHub:
    """Owns the MQTT subscription and the set of live clients."""

    def __init__(self, settings: MqttSettings, metrics: ApiMetrics) -> None:
        self._settings = settings
        self._metrics = metrics
        self._subs: set[Subscription] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: mqtt.Client | None = None
        #: True once subscribed; /readyz reports it.
        self.connected = False

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Connect in the background (the API starts even while the broker is down)."""
        self._loop = loop
        client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=f"leedswin-api-{secrets.token_hex(4)}",
            clean_session=True,
        )
        if (context := self._settings.tls_context()) is not None:
            client.tls_set_context(context)
        if self._settings.username:
            password = self._settings.password
            client.username_pw_set(
                self._settings.username, password.get_secret_value() if password else None
            )
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.reconnect_delay_set(min_delay=1, max_delay=10)
        client.connect_async(self._settings.host, self._settings.port, self._settings.keepalive)
        client.loop_start()
        self._client = client

    def stop(self) -> None:
        if self._client is not None:
            self._client.disconnect()
            self._client.loop_stop()
            self._client = None
        self.connected = False

    def _on_connect(
        self, client: mqtt.Client, userdata: Any, flags: Any, rc: Any, props: Any
    ) -> None:
        if rc.is_failure:
            log.warning("event=live_connect_failed reason=%s", rc)
            return
        client.subscribe([(PUBLIC_TOPIC, 0), (RESTRICTED_TOPIC, 0)])

    def _on_subscribe(
        self, client: mqtt.Client, userdata: Any, mid: int, codes: list[Any], props: Any
    ) -> None:
        """Ready only once the broker granted both subscriptions: readings flow from here on."""
        self.connected = not any(code.is_failure for code in codes)
        log.info("event=live_subscribed broker=%s ok=%s", self._settings.url, self.connected)

    def _on_disconnect(
        self, client: mqtt.Client, userdata: Any, flags: Any, rc: Any, props: Any
    ) -> None:
        self.connected = False

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        try:
            event = parse_message(message.topic, bytes(message.payload))
        except (ValueError, ValidationError) as exc:
            if message.topic.startswith(_RESTRICTED_PREFIX):
                log.debug("event=live_bad_message tree=restricted error=%s", exc)
            else:
                self._metrics.live_bad.inc()
                log.warning("event=live_bad_message topic=%s error=%s", message.topic, exc)
            return
        if not event.restricted:
            self._metrics.live_messages.inc()
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._dispatch, event)

    def _dispatch(self, event: LiveEvent) -> None:
        for sub in self._subs:
            if not sub.accepts(event):
                continue
            if sub.queue.full():
                sub.queue.get_nowait()
                if not event.restricted:
                    self._metrics.live_dropped.inc()
            sub.queue.put_nowait(event.reading)

    def open_streams(self) -> int:
        """How many streams are open (ended ones leave once their handler has closed them)."""
        return len(self._subs)

    def key_ids(self) -> set[str]:
        """Keys with an open stream (to check them for revocation)."""
        return {sub.principal.key_id for sub in self._subs}

    def close_where(self, reason: str, predicate: Callable[[Subscription], bool]) -> int:
        """End every open stream ``predicate`` picks; how many. Call on the event loop."""
        chosen = [sub for sub in self._subs if not sub.closed and predicate(sub)]
        for sub in chosen:
            sub.close(reason)
        return len(chosen)

    @contextlib.contextmanager
    def subscribe(
        self,
        principal: Principal,
        need: str | None = None,
        site: str | None = None,
        dev_eui: str | None = None,
    ) -> Iterator[Subscription]:
        sub = Subscription(principal, need, site, dev_eui)
        self._subs.add(sub)
        self._metrics.live_clients.inc()
        try:
            yield sub
        finally:
            self._subs.discard(sub)
            self._metrics.live_clients.dec()

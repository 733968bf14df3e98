"""The bridge's MQTT session: persistent, manually acknowledged, bounded by Receive Maximum.

A stable client id with ``clean_start=False`` and a Session Expiry Interval
makes the broker queue uplinks while the bridge is down or restarting; manual
acknowledgement means a message is only PUBACKed once its points are in
InfluxDB; Receive Maximum caps how many unacknowledged messages the broker
sends us, which is the bridge's whole in-flight (and memory) bound.
"""

from __future__ import annotations

import socket
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from core.settings import MqttSettings

#: Reconnect backoff: quick after a blip, capped so a long outage is retried twice a minute.
RECONNECT_MIN_DELAY = 1
RECONNECT_MAX_DELAY = 30


class BufferedSocket:
    """A TCP socket read 256 KiB at a time, paho's few-byte reads served from memory.

    paho reads every packet in three or four ``recv`` calls (type byte, length
    bytes, body), each a syscall that gives up the GIL and waits to get it back
    from the writer threads: profiled, the bridge's receive path spent more
    time there than in parsing. ``pending`` is the hook paho already uses for
    TLS and WebSocket buffers, so its loop reads buffered bytes before it
    selects on the socket again.
    """

    __slots__ = ("_sock", "_buffer")

    READ_SIZE = 256 * 1024

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._buffer = bytearray()

    def recv(self, size: int) -> bytes:
        if not self._buffer:
            data = self._sock.recv(self.READ_SIZE)
            if len(data) <= size:
                return data
            self._buffer += memoryview(data)[size:]
            return data[:size]
        chunk = bytes(self._buffer[:size])
        del self._buffer[:size]  # O(1) from the front of a bytearray
        return chunk

    def pending(self) -> int:
        return len(self._buffer)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


class BridgeClient(mqtt.Client):
    """paho's client with :class:`BufferedSocket` on plain TCP (pinned paho 2.2: ``_create_socket``)."""

    def _create_socket(self) -> Any:
        sock = super()._create_socket()
        return BufferedSocket(sock) if isinstance(sock, socket.socket) and not self._ssl else sock


def make_client(settings: MqttSettings) -> mqtt.Client:
    """A paho 2.x MQTT 5 client that never acknowledges by itself (over TLS for ``mqtts://``)."""
    client = BridgeClient(
        CallbackAPIVersion.VERSION2,
        client_id=settings.client_id,
        protocol=mqtt.MQTTv5,
        manual_ack=True,
    )
    if (context := settings.tls_context()) is not None:
        client.tls_set_context(context)
    if settings.username:
        password = settings.password.get_secret_value() if settings.password else None
        client.username_pw_set(settings.username, password)
    client.reconnect_delay_set(RECONNECT_MIN_DELAY, RECONNECT_MAX_DELAY)
    return client


def connect_properties(settings: MqttSettings) -> Properties:
    """Session Expiry (keep our queue while we are away) and Receive Maximum (in-flight bound)."""
    properties = Properties(PacketTypes.CONNECT)
    properties.SessionExpiryInterval = settings.session_expiry
    properties.ReceiveMaximum = settings.max_in_flight
    return properties


def subscriptions(settings: MqttSettings) -> list[tuple[str, SubscribeOptions]]:
    """The uplink filters at QoS 1, as a shared subscription when a group is set."""
    prefix = f"$share/{settings.share_group}/" if settings.share_group else ""
    return [(prefix + topic, SubscribeOptions(qos=1)) for topic in settings.topics]


def feed_topic(privacy: str, need: str, dev_eui: str) -> str:
    """Live-feed topic; anything not explicitly public goes to the restricted tree."""
    if privacy == "public":
        return f"leedswin/v1/readings/{need}/{dev_eui}"
    return f"leedswin/v1/restricted/readings/{need}/{dev_eui}"

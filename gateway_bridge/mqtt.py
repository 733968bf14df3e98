"""The bridge's MQTT session: persistent, manually acknowledged, bounded by Receive Maximum.

A stable client id with ``clean_start=False`` and a Session Expiry Interval
makes the broker queue uplinks while the bridge is down or restarting; manual
acknowledgement means a message is only PUBACKed once its points are in
InfluxDB; Receive Maximum caps how many unacknowledged messages the broker
sends us, which is the bridge's whole in-flight (and memory) bound.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Callable, Sequence
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.client import PUBACK, PUBLISH, MQTTErrorCode, MQTTMessageInfo, time_func
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
    selects on the socket again; it reports nothing while the buffer holds only
    the start of a packet (``wait_for_more``), so the loop selects for the rest
    instead of spinning.
    """

    __slots__ = ("_sock", "_buffer", "_incomplete")

    READ_SIZE = 256 * 1024

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._buffer = bytearray()
        self._incomplete = False

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
        return 0 if self._incomplete else len(self._buffer)

    def wait_for_more(self) -> None:
        """The buffer ends in part of a packet: nothing to read until the socket has more."""
        self._incomplete = True

    @property
    def buffer(self) -> bytearray:
        """The bytes read and not yet taken (``BridgeClient.loop_read`` takes whole packets)."""
        return self._buffer

    def fill(self) -> int:
        """One read into the buffer: bytes read, 0 at end of stream (``BlockingIOError`` if none)."""
        data = self._sock.recv(self.READ_SIZE)
        self._buffer += data
        self._incomplete = False
        return len(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


#: One received PUBLISH: topic, payload, packet id, QoS.
Received = tuple[str, bytes, int, int]
#: Called on paho's network thread with every PUBLISH of one socket read, in order.
BatchHandler = Callable[[list[Received]], None]

_PUBACK = struct.Struct("!BBH")


def _varint(data: bytearray, at: int, end: int) -> tuple[int, int]:
    """An MQTT Variable Byte Integer (§1.5.5) at ``at``: value and the index after it; -1 if
    it runs past ``end`` or over four bytes."""
    value = shift = 0
    while at < end and shift < 28:
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, at
        shift += 7
    return -1, at


def incomplete_publish(data: bytearray) -> bool:
    """Whether ``data`` starts with a QoS 0/1 PUBLISH whose last bytes are not read yet."""
    first = data[0]
    if first & 0xF0 != PUBLISH or (first >> 1) & 3 > 1:
        return False
    length, start = _varint(data, 1, len(data))
    if length < 0:
        return start >= len(data) and start <= 5  # out of bytes inside the length field
    return start + length > len(data)


def take_publishes(data: bytearray, v5: bool) -> tuple[list[Received], int]:
    """The complete QoS 0/1 PUBLISH packets at the front of ``data`` and how many bytes they span.

    Stops at the first packet that is anything else, incomplete or malformed,
    for paho's own reader to take (and refuse) as before. Layout: MQTT 5 §3.3
    (3.1.1 §3.3 has no properties).
    """
    out: list[Received] = []
    pos, size = 0, len(data)
    while pos < size:
        first = data[pos]
        qos = (first >> 1) & 3
        if first & 0xF0 != PUBLISH or qos > 1:
            break
        length, start = _varint(data, pos + 1, size)
        end = start + length
        if length < 0 or end > size or start + 2 > end:
            break
        name_end = start + 2 + (data[start] << 8 | data[start + 1])
        at, mid = name_end, 0
        if qos:
            if at + 2 > end:
                break
            mid = data[at] << 8 | data[at + 1]
            at += 2
        if v5:
            properties, at = _varint(data, at, end)
            if properties < 0:
                break
            at += properties
        if at > end:
            break
        try:
            topic = data[start + 2 : name_end].decode()
        except UnicodeDecodeError:
            break
        out.append((topic, bytes(data[at:end]), mid, qos))
        pos = end
    return out, pos


class BridgeClient(mqtt.Client):
    """paho's client with :class:`BufferedSocket` on plain TCP and a batched receive path.

    Measured in ``bench.e2e``, paho spends most of the bridge's receive time per
    PUBLISH outside the bridge's own work (three reads, a properties object, a
    message object, callback dispatch under locks). With ``on_publish_batch``
    set, ``loop_read`` takes every complete PUBLISH already read from the socket
    in one pass (``take_publishes``) and hands them on together, keeping a
    PUBLISH cut by the end of a read until the next; anything else (CONNACK,
    SUBACK, PINGRESP, DISCONNECT, a malformed packet) goes through paho's
    reader as before, which also keeps TLS and WebSocket connections on paho's
    path. ``ack_many`` and ``publish_many`` queue many packets as one write.
    Relies on paho 2.2 internals (``_create_socket``, ``_sock``, ``_in_packet``,
    ``_packet_queue``), hence the pin.
    """

    on_publish_batch: BatchHandler | None = None

    def _create_socket(self) -> Any:
        sock = super()._create_socket()
        return BufferedSocket(sock) if isinstance(sock, socket.socket) and not self._ssl else sock

    def loop_read(self, max_packets: int = 1) -> MQTTErrorCode:
        sock, handler = self._sock, self.on_publish_batch
        if handler is None or not isinstance(sock, BufferedSocket) or self._in_packet["command"]:
            return super().loop_read(max_packets)
        if not sock.pending():
            try:
                if not sock.fill():
                    return super().loop_read(max_packets)  # end of stream: paho's handling
            except BlockingIOError:
                return MQTTErrorCode.MQTT_ERR_SUCCESS
            except OSError:
                return super().loop_read(max_packets)  # paho logs it and drops the connection
        messages, taken = take_publishes(sock.buffer, self._protocol == mqtt.MQTTv5)
        if messages:
            del sock.buffer[:taken]
            self._last_bytes_received = time_func()
            handler(messages)
        if sock.buffer:
            if incomplete_publish(sock.buffer):
                sock.wait_for_more()  # the next read completes it
            else:
                return super().loop_read(max_packets)  # a packet of another kind: paho's
        return MQTTErrorCode.MQTT_ERR_SUCCESS

    def ack_many(self, mids: Sequence[int]) -> None:
        """PUBACK (Success, the two-byte form of MQTT 5 §3.4.2.1) each packet id, in order, as one write."""
        if mids:
            self._packet_queue(PUBACK, b"".join(_PUBACK.pack(PUBACK, 2, mid) for mid in mids), 0, 1)

    def publish_many(self, messages: Sequence[tuple[str, bytes]]) -> bool:
        """Publish at QoS 0 as one write; like paho's QoS 0 ``publish``, dropped when not connected."""
        if not messages:
            return True
        if not self.is_connected():
            return False
        properties = b"\x00" if self._protocol == mqtt.MQTTv5 else b""
        packets = []
        for topic, payload in messages:
            name = topic.encode()
            body = len(name).to_bytes(2, "big") + name + properties + payload
            packets.append(bytes([PUBLISH]) + _length(len(body)) + body)
        self._packet_queue(PUBLISH, b"".join(packets), 0, 0, MQTTMessageInfo(0))
        return True


def _length(n: int) -> bytes:
    """MQTT Variable Byte Integer (§1.5.5) of a remaining length."""
    out = bytearray()
    while True:
        n, byte = divmod(n, 128)
        out.append(byte | 0x80 if n else byte)
        if not n:
            return bytes(out)


def make_client(settings: MqttSettings) -> BridgeClient:
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

"""The bridge's receive path: the buffered socket, whole PUBLISH packets per read, batched writes."""

from __future__ import annotations

import socket

import pytest

from core.settings import MqttSettings
from gateway_bridge.mqtt import (
    BridgeClient,
    BufferedSocket,
    incomplete_publish,
    make_client,
    take_publishes,
)


def test_small_reads_come_from_one_large_read_in_order() -> None:
    left, right = socket.socketpair()
    with left, right:
        data = bytes(range(256)) * 40
        left.sendall(data)
        wrapped = BufferedSocket(right)
        got = wrapped.recv(1)
        assert wrapped.pending() == len(data) - 1  # everything else already buffered
        while wrapped.pending():
            got += wrapped.recv(3)
        assert got == data
        right.setblocking(False)
        left.sendall(b"xy")
        assert wrapped.recv(10) == b"xy"
        assert wrapped.pending() == 0
        assert wrapped.fileno() == right.fileno()  # everything else is the socket's


def test_bridge_clients_use_it() -> None:
    assert isinstance(make_client(MqttSettings()), BridgeClient)


def publish_packet(topic: str, payload: bytes, mid: int, qos: int = 1, v5: bool = True) -> bytes:
    """A PUBLISH as MQTT 5 §3.3 lays it out (3.1.1 without the properties)."""
    name = topic.encode()
    body = len(name).to_bytes(2, "big") + name
    if qos:
        body += mid.to_bytes(2, "big")
    if v5:
        body += b"\x02\x01\x01"  # properties: Payload Format Indicator = UTF-8
    body += payload
    return bytes([0x30 | qos << 1]) + _length(len(body)) + body


def _length(n: int) -> bytes:
    out = bytearray()
    while True:
        n, byte = divmod(n, 128)
        out.append(byte | 0x80 if n else byte)
        if not n:
            return bytes(out)


def test_takes_every_whole_publish_of_a_read_and_leaves_the_rest() -> None:
    big = bytes(range(256)) * 3  # a remaining length of two bytes
    data = bytearray(
        publish_packet("application/a/device/b/event/up", b"{}", 1)
        + publish_packet("v3/app/devices/x/up", big, 65535)
        + publish_packet("t", b"", 0, qos=0)
    )
    pingresp = b"\xd0\x00"
    partial = publish_packet("application/a/device/c/event/up", b"{...}", 9)[:-2]
    taken, size = take_publishes(data + pingresp + partial, v5=True)
    assert taken == [
        ("application/a/device/b/event/up", b"{}", 1, 1),
        ("v3/app/devices/x/up", big, 65535, 1),
        ("t", b"", 0, 0),
    ]
    assert size == len(data)  # the PINGRESP (and what follows) is paho's to read
    assert take_publishes(bytearray(partial), v5=True) == ([], 0)


def test_mqtt_311_publishes_have_no_properties() -> None:
    packet = publish_packet("a/b", b"payload", 7, v5=False)
    assert take_publishes(bytearray(packet), v5=False) == ([("a/b", b"payload", 7, 1)], len(packet))


@pytest.mark.parametrize(
    "packet",
    [
        bytes([0x34]) + publish_packet("a", b"x", 1)[1:],  # QoS 2: paho's own flow
        b"\x32\x05\x00\x09ab",  # topic longer than the packet
        b"\x32\xff\xff\xff\xff\x7f",  # a remaining length of five bytes
        b"\x32\x06\x00\x02\xff\xfe\x00\x01",  # topic not UTF-8
    ],
)
def test_anything_odd_is_left_to_paho(packet: bytes) -> None:
    assert take_publishes(bytearray(packet + publish_packet("a", b"x", 1)), v5=False)[1] == 0


def test_acks_and_feed_messages_are_queued_as_one_write_each() -> None:
    client = make_client(MqttSettings())
    client.ack_many([1, 258, 65535])
    (packet,) = client._out_packet  # paho 2.2's out-packet deque (what the network thread writes)
    assert packet["packet"] == b"\x40\x02\x00\x01" + b"\x40\x02\x01\x02" + b"\x40\x02\xff\xff"
    client._out_packet.clear()
    assert client.publish_many([("a/b", b"{}")]) is False  # not connected: dropped, as QoS 0
    assert not client._out_packet


def test_a_publish_cut_by_the_end_of_a_read_waits_for_the_next() -> None:
    packet = publish_packet("application/a/device/b/event/up", b"x" * 300, 5)
    for cut in range(1, len(packet)):
        assert incomplete_publish(bytearray(packet[:cut]))
    assert not incomplete_publish(bytearray(packet))
    assert not incomplete_publish(bytearray(b"\xd0\x00"))  # PINGRESP
    left, right = socket.socketpair()
    with left, right:
        right.setblocking(False)
        wrapped = BufferedSocket(right)
        left.sendall(packet[:10])
        wrapped.fill()
        wrapped.wait_for_more()
        assert wrapped.pending() == 0  # paho's loop selects on the socket instead of spinning
        left.sendall(packet[10:])
        wrapped.fill()
        assert wrapped.pending() == len(packet)
        assert take_publishes(wrapped.buffer, v5=True)[1] == len(packet)

"""The buffered socket paho reads through: same bytes, fewer syscalls, ``pending`` for paho's loop."""

from __future__ import annotations

import socket

from core.settings import MqttSettings
from gateway_bridge.mqtt import BridgeClient, BufferedSocket, make_client


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

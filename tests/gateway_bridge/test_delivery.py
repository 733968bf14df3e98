"""DeliveryTracker alone: receipt-order PUBACKs per connection, generations, the in-flight bound."""

from __future__ import annotations

import threading

import pytest

from gateway_bridge.delivery import DeliveryTracker


class Acks:
    def __init__(self) -> None:
        self.sent: list[int] = []

    def __call__(self, mids: list[int]) -> None:
        self.sent += mids


def test_resolved_out_of_order_acknowledged_in_order() -> None:
    acks = Acks()
    tracker = DeliveryTracker(acks, bound=10)
    d1, d2, d3 = (tracker.receive(mid, 1) for mid in (11, 12, 13))
    assert d1 and d2 and d3
    tracker.resolve(d3)
    tracker.resolve(d2)
    assert acks.sent == [] and tracker.in_flight == 1
    tracker.resolve(d1)
    assert acks.sent == [11, 12, 13] and tracker.in_flight == 0


def test_an_earlier_connection_is_never_acknowledged_and_never_blocks_the_new_one() -> None:
    acks = Acks()
    tracker = DeliveryTracker(acks, bound=10)
    old = tracker.receive(1, 1)
    tracker.new_connection()
    new = tracker.receive(1, 1)  # the broker redelivers it, maybe with the same packet id
    assert old and new
    tracker.resolve(new)
    assert acks.sent == [1]
    tracker.resolve(old)
    assert acks.sent == [1] and tracker.in_flight == 0


def test_receive_waits_at_the_bound_and_stop_releases_it_untaken() -> None:
    tracker = DeliveryTracker(Acks(), bound=1)
    first = tracker.receive(1, 1)
    assert first
    taken: list[object] = []
    waiter = threading.Thread(target=lambda: taken.append(tracker.receive(2, 1)))
    waiter.start()
    waiter.join(0.2)
    assert waiter.is_alive() and tracker.in_flight == 1
    tracker.stop()
    waiter.join(10)
    assert taken == [None] and tracker.in_flight == 1
    tracker.resolve(first)
    assert tracker.wait_idle(1)


def test_bound_must_be_positive() -> None:
    with pytest.raises(ValueError):
        DeliveryTracker(Acks(), bound=0)


def test_receive_many_takes_only_what_there_is_room_for_and_never_waits_holding_some() -> None:
    acks = Acks()
    tracker = DeliveryTracker(acks, bound=3)
    messages = [(mid, 1) for mid in range(1, 6)]
    first = tracker.receive_many(messages)
    assert [d.mid for d in first] == [1, 2, 3] and tracker.in_flight == 3
    tracker.resolve_many(first[1:])
    assert acks.sent == []  # 1 is not resolved yet
    rest = tracker.receive_many(messages, start=3)
    assert [d.mid for d in rest] == [4, 5]
    tracker.resolve_many([first[0], *rest])
    assert acks.sent == [1, 2, 3, 4, 5] and tracker.in_flight == 0


def test_qos_0_messages_are_resolved_but_never_acknowledged() -> None:
    acks = Acks()
    tracker = DeliveryTracker(acks, bound=10)
    taken = tracker.receive_many([(0, 0), (5, 1), (0, 0)])
    tracker.resolve_many(taken)
    assert acks.sent == [5] and tracker.in_flight == 0

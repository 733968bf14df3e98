"""Delivery tracking: which MQTT messages are taken, on which connection, and when to PUBACK them.

MQTT 5 §4.6 asks a receiver to send PUBACKs in the order it received the
PUBLISH packets (within one connection), whatever order their points reach
InfluxDB in. A skipped message (nothing to store) is resolved at once, and a
refused one goes back to the writer as a dead letter after later messages
were stored, so resolution order is not receipt order: the tracker holds each
resolved message until every earlier one on its connection is resolved, then
acknowledges the run.

A packet id means something only on the connection that delivered it, so each
message is tagged with its connection's generation; messages of an earlier
connection are resolved (counted) but never acknowledged, and the broker
redelivers them from the persistent session.

The tracker also enforces the in-flight bound itself: Mosquitto 2.0.11 sends
past the Receive Maximum we ask for while acknowledgements flow (thousands
over, measured with ``bench.e2e``), so ``receive`` blocks paho's network thread
while ``bound`` messages are unresolved. Acknowledgements queued meanwhile go
out once it returns; blocking only delays reading the socket, so TCP pushes
back on the broker.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable, Sequence

__all__ = ["Delivery", "DeliveryTracker"]

#: Sends the PUBACKs of these packet ids, in this order: ``BridgeClient.ack_many``.
AckFn = Callable[[list[int]], object]


class Delivery:
    """One received message: its packet id, QoS, connection and whether it is resolved."""

    __slots__ = ("mid", "qos", "connection", "resolved")

    def __init__(self, mid: int, qos: int, connection: deque[Delivery]) -> None:
        self.mid = mid
        self.qos = qos
        self.connection = connection
        self.resolved = False


class DeliveryTracker:
    """Message ids, connection generations, the in-flight count and bound, in-order PUBACKs.

    ``receive`` runs on paho's network thread, ``resolve`` on any thread; both
    are safe together. ``on_ack`` is called with how many messages were acknowledged
    (QoS > 0) each time some are.
    """

    def __init__(
        self, ack: AckFn, bound: int, on_ack: Callable[[int], object] = lambda n: None
    ) -> None:
        if bound < 1:
            raise ValueError("bound must be at least 1")
        self._ack = ack
        self._on_ack = on_ack
        self.bound = bound
        self._cond = threading.Condition()
        #: Unacknowledged messages of the current connection, in receipt order.
        self._connection: deque[Delivery] = deque()
        self._generation = 0
        self._in_flight = 0
        self._accepting = True

    @property
    def in_flight(self) -> int:
        """Messages received and not yet resolved."""
        return self._in_flight

    @property
    def generation(self) -> int:
        return self._generation

    def new_connection(self) -> None:
        """The connection changed (connected or lost): earlier messages are never acknowledged."""
        with self._cond:
            self._generation += 1
            self._connection = deque()

    def receive(self, mid: int, qos: int) -> Delivery | None:
        """Take a message, waiting while ``bound`` are in flight; None once ``stop`` was called.

        A message not taken is never acknowledged: it stays in the broker's session.
        """
        taken = self.receive_many([(mid, qos)])
        return taken[0] if taken else None

    def receive_many(self, messages: Sequence[tuple[int, int]], start: int = 0) -> list[Delivery]:
        """Take messages ``(mid, qos)`` from ``start`` on, as many as there is room for.

        Waits only while there is no room at all, so a caller holding taken but
        not yet submitted messages never waits on itself: it processes what it
        got and calls again for the rest. Empty once ``stop`` was called.
        """
        taken: list[Delivery] = []
        with self._cond:
            while self._accepting and self._in_flight >= self.bound:
                self._cond.wait()
            if not self._accepting:
                return taken
            room = min(len(messages) - start, self.bound - self._in_flight)
            connection = self._connection
            for mid, qos in messages[start : start + room]:
                delivery = Delivery(mid, qos, connection)
                connection.append(delivery)
                taken.append(delivery)
            self._in_flight += room
        return taken

    def resolve(self, delivery: Delivery) -> None:
        """The message is done with (stored, dead-lettered or skipped): acknowledge what is due."""
        self.resolve_many((delivery,))

    def resolve_many(self, deliveries: Iterable[Delivery]) -> None:
        """Several messages are done with: one lock, and every PUBACK now due in one write."""
        with self._cond:
            count = 0
            for delivery in deliveries:
                delivery.resolved = True
                count += 1
            self._in_flight -= count
            queue = self._connection
            mids: list[int] = []
            while queue and queue[0].resolved:
                head = queue.popleft()
                if head.qos:
                    mids.append(head.mid)
            if mids:
                # Acks go out under the lock, so two threads never interleave their runs.
                self._ack(mids)
                self._on_ack(len(mids))
            self._cond.notify_all()

    def stop(self) -> None:
        """Take no more messages (a ``receive`` waiting for room returns None)."""
        with self._cond:
            self._accepting = False
            self._cond.notify_all()

    @property
    def accepting(self) -> bool:
        return self._accepting

    def wait_idle(self, timeout: float) -> bool:
        """True once nothing is in flight, False if ``timeout`` passed first."""
        with self._cond:
            return self._cond.wait_for(lambda: self._in_flight == 0, timeout)

"""A minimal real venue adapter for driving ``VenueConnector`` in ops tests (no protocol, just bytes)."""

from __future__ import annotations

from model.order import Order
from model.send_result import Refused, SendResult, Sent, Verdict
from model.venue_events import VenueState
from venues.base import VenueAdapter


class BytesAdapter(VenueAdapter):
    """Keeps what the venue sent; never reconnects; sends nothing unless told."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.received = bytearray()
        self.connected = 0
        self._state = VenueState.DISCONNECTED
        self.event_sink = lambda event: None
        self.state_sink = lambda name, state, reason: None

    @property
    def state(self) -> VenueState:
        return self._state

    def check_order(self, order: Order) -> Verdict:
        return Refused("TEST", "test adapter carries no orders")

    def send_new(self, order: Order) -> SendResult:
        raise NotImplementedError

    def send_cancel(self, order: Order) -> Sent | Refused:
        raise NotImplementedError

    def send_replace(self, order: Order, qty: int, price: int) -> SendResult:
        raise NotImplementedError

    def restore(self, order: Order, venue_ref: str) -> None:
        raise NotImplementedError

    def connection_made(self, now_ns: int) -> None:
        self.connected += 1
        self._state = VenueState.UP

    def data_received(self, data: bytes, now_ns: int) -> None:
        self.received += data

    def connection_lost(self, now_ns: int) -> None:
        self._state = VenueState.DISCONNECTED

    def poll(self, now_ns: int) -> int:
        return 1_000_000_000

    def reconnect_delay_ns(self, attempt: int) -> int | None:
        return None

    def flush(self) -> None:
        pass

    def send(self, data: bytes) -> None:
        """Write raw bytes to the venue."""
        assert self._write is not None
        self._write(data)

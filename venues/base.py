"""The contract between the gateway core and every venue adapter.

An adapter turns gateway commands (``send_new``/``send_cancel``/``send_replace``)
into venue protocol bytes and the venue's replies into the normalised
``VenueEvent`` structs of ``model.venue_events``, which it hands to the core through ``sink``.
Adapters buffer outgoing bytes; the core calls ``flush`` once per batch so the
journal is written before anything reaches the wire.

``send_new`` and ``send_replace`` return the venue reference they used (OUCH
UserRefNum, FIX ClOrdID); the core journals it before the bytes are flushed and
hands it back through ``restore`` after a restart.

Every event carries ``venue_seq``: the venue's own sequence number for the message
that produced it (SoupBinTCP sequence, FIX MsgSeqNum), or 0 for events the adapter
synthesises. The core journals it, which is how recovery knows where to resume.
"""

from __future__ import annotations

import abc
from collections.abc import Callable

from model.order import Order
from model.venue_events import EventSink, StateSink, UnsupportedOrder, VenueState


class VenueAdapter(abc.ABC):
    """One venue session as the core sees it."""

    name: str
    event_sink: EventSink
    state_sink: StateSink
    _write: Callable[[bytes | bytearray], None] | None = None
    _close: Callable[[], None] | None = None
    write_paused: bool = False
    """True while the venue socket's send buffer is above its high-water mark (the venue is not
    reading fast enough); the core then refuses new orders and replaces instead of queueing them."""

    @property
    @abc.abstractmethod
    def state(self) -> VenueState:
        """Return the current session state."""

    @abc.abstractmethod
    def check_order(self, order: Order) -> UnsupportedOrder | None:
        """Return why this venue cannot carry ``order``, or None if it can."""

    @abc.abstractmethod
    def send_new(self, order: Order) -> str:
        """Queue a new order for the wire (only when ``state`` is UP); return its venue reference."""

    @abc.abstractmethod
    def send_cancel(self, order: Order) -> None:
        """Queue a cancel of everything still open on ``order``."""

    @abc.abstractmethod
    def send_replace(self, order: Order, qty: int, price: int) -> str:
        """Queue a replace of ``order`` to total ``qty`` at ``price``; return the new venue reference."""

    @abc.abstractmethod
    def restore(self, order: Order, venue_ref: str) -> None:
        """Re-learn, during recovery, that ``venue_ref`` (from send_new/send_replace) names ``order``."""

    # ---- byte transport, driven by venues.connector.VenueConnector ----------------------

    def attach(self, write: Callable[[bytes | bytearray], None], close: Callable[[], None]) -> None:
        """Bind the adapter to a connected transport (write and close functions)."""
        self._write = write
        self._close = close

    def detach(self) -> None:
        """Forget the transport after the connection is lost."""
        self._write = None
        self._close = None

    @abc.abstractmethod
    def connection_made(self, now_ns: int) -> None:
        """Start the session on a fresh connection (e.g. queue the logon) and flush it."""

    @abc.abstractmethod
    def data_received(self, data: bytes, now_ns: int) -> None:
        """Consume bytes from the venue; events go to ``event_sink``."""

    @abc.abstractmethod
    def connection_lost(self, now_ns: int) -> None:
        """Note that the connection is gone; orders in flight wait for replay after reconnect."""

    @abc.abstractmethod
    def poll(self, now_ns: int) -> int:
        """Run timers (heartbeats, timeouts); return ns until the next call is wanted."""

    @abc.abstractmethod
    def reconnect_delay_ns(self, attempt: int) -> int | None:
        """Return how long to wait before reconnect attempt ``attempt`` (1-based); None = stop."""

    @abc.abstractmethod
    def flush(self) -> None:
        """Write every queued byte to the venue socket."""

    def resume_from_journal(self, last_venue_seq: int) -> None:  # noqa: B027 - optional hook
        """Before connecting after a restart: continue the venue session after ``last_venue_seq``.

        ``last_venue_seq`` is the highest ``venue_seq`` the core journaled for this venue.
        Adapters whose own store already knows where to resume may ignore it.
        """

    def status(self) -> dict[str, object]:
        """Return a JSON-able description for ``gateway status``."""
        return {"name": self.name, "state": str(self.state)}

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
synthesises; one message yields at most one event. The core journals it, which is how
recovery knows where to resume. Whether a message is new is decided by the core's
exactly-once component (``model.exactly_once``), which the core binds to the adapter
(``bind_sequence``): the adapter asks ``admit(seq)`` before acting on a message and names a
new numbering epoch (``sequence.new_epoch``) whenever the venue's numbering restarts.
"""

from __future__ import annotations

import abc
from collections.abc import Callable

from model.exactly_once import ResumePoint, UnansweredRequest, VenueSequence
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

    # ---- exactly-once, bound by the core -----------------------------------------------

    _sequence: VenueSequence | None = None

    @property
    def sequence(self) -> VenueSequence:
        """Return the exactly-once keeper of this venue's message numbers (a private one until bound)."""
        sequence = self._sequence
        if sequence is None:
            sequence = self._sequence = VenueSequence(self.name)
        return sequence

    def bind_sequence(self, sequence: VenueSequence) -> None:
        """Use the core's keeper of this venue's message numbers from now on."""
        self._sequence = sequence
        self.admit = sequence.admit  # type: ignore[method-assign]  # one call per message on the hot path

    def admit(self, seq: int) -> bool:
        """Return True if the venue message numbered ``seq`` is new; False if it was already acted on."""
        return self.sequence.admit(seq)

    def resume_after(self, point: ResumePoint) -> None:  # noqa: B027 - optional hook
        """Before connecting after a restart: continue the venue session after ``point`` (exclusive).

        ``point.high_water`` is the highest ``venue_seq`` the core journaled in numbering
        ``point.epoch`` ("" = not recorded: the venue's current numbering). The session asks
        for, or expects, ``point.high_water + 1``.
        """

    def after_replay(self, unanswered: list[UnansweredRequest]) -> None:  # noqa: B027 - optional hook
        """The session is up again (replay complete): decide what to do about requests still unanswered.

        Their outcome is unknown: the venue may or may not have them. The core calls this on
        every transition to UP with the requests of this venue's open orders that no venue event
        has answered. The default does nothing (the adapter's own re-send or the venue's resend
        already covers them).
        """

    def status(self) -> dict[str, object]:
        """Return a JSON-able description for ``gateway status``."""
        return {"name": self.name, "state": str(self.state)}

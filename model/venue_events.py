"""The normalised venue events every adapter produces, and the session states it reports.

Adapters (``venues.*``) create these, the core (``gateway.engine``) applies them to orders,
and the journal stores them inside ``JVenueEvent`` records: the tags and the array layout
are part of the journal format, so existing journals must keep decoding.

Every event carries ``venue_seq``: the venue's own sequence number for the message that
produced it (SoupBinTCP sequence, FIX MsgSeqNum), or 0 for events the adapter synthesises.
One venue message produces at most one event, so ``venue_seq`` (non-zero) is a unique key of
a journaled venue event within the venue's numbering epoch (``model.exactly_once``): a torn
journal tail can never hold half of one message. The trailing fields with defaults were added
later; records written before them still decode.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Callable
from typing import Final

import msgspec

from model.operator_text import clip

EVENT_MAX_QTY: Final = 2**31 - 1
"""The largest quantity a venue event may carry: the strategy protocol's (docs/strategy-protocol.md, section 2)."""
EVENT_MAX_PRICE: Final = 2**53 - 1
"""The largest price a venue event may carry, in ten-thousandths: the strategy protocol's (section 2)."""
EVENT_MAX_TEXT: Final = 2000
"""The most characters of a text a venue event carries to the journal and the strategy (``bounded_texts``, fix55).

At most 8,000 bytes of UTF-8: a strategy frame quoting it stays far below the protocol's 65,536 bytes
(docs/strategy-protocol.md, sections 2 and 5). Before, a FIX Text(58) near 64 KiB (or of Latin-1 bytes, each read
as a 3-byte U+FFFD) made a frame above it, which the strategy's client could not read, in every replay from before
it too (it was journaled)."""
EVENT_MAX_ID: Final = 128
"""The most characters of a venue's id (``exec_id``, ``venue_order_id``) a venue event carries as the venue sent it
(``bounded_id``, texts56). A longer one is replaced by its first ``ID_PREFIX`` characters and the SHA-256 of the
whole, a form always longer than this bound: two different ids never become equal (duplicate-ExecID detection and the
strategy's own dedup depend on it), and a bounded id is told from one the venue sent by its length alone."""
ID_PREFIX: Final = 64
"""Characters of a venue's id longer than ``EVENT_MAX_ID`` that its bounded form keeps (``bounded_id``)."""


class _VenueEvent(msgspec.Struct, frozen=True, gc=False, array_like=True):
    """Base for normalised venue events."""


class VenueAccepted(_VenueEvent, tag="acc", frozen=True):
    """The venue acknowledged a new order (and, with ``canceled_reason``, canceled it in the same message)."""

    venue_seq: int
    order_id: int
    venue_order_id: str
    qty: int
    price: int
    canceled_reason: str = ""
    """Non-empty: the same message also canceled everything still open (OUCH Order State D)."""
    canceled_text: str = ""


class VenueRejected(_VenueEvent, tag="rej", frozen=True):
    """The venue refused a new order; it is finished."""

    venue_seq: int
    order_id: int
    code: str
    text: str
    withheld: bool = False
    """True: the gateway's own answer about a request that never left it (FIX: held when the gateway stopped while
    its journal could not be written, ``NOT_SENT``): the strategy's ``OrderRejected`` has source GATEWAY, not VENUE
    (lows57). A journal written before it has no such field: VENUE, as it was answered then."""


class VenueExecuted(_VenueEvent, tag="exe", frozen=True):
    """An execution against the order."""

    venue_seq: int
    order_id: int
    qty: int
    price: int
    liquidity: str
    exec_id: str
    replace_pending: bool = False
    """True: the venue still takes a replace raising the quantity after a fill leaves nothing open (FIX, App D
    "Filled order followed by Replace Request to increase quantity"): such a fill keeps the order open while that
    replace is in flight (``model.order.apply_fill_replace_pending``). FIX and BOE set it; OUCH never does."""
    after_end: bool = False
    """True: the order had ended here (filled, canceled, rejected) when the venue reported this fill. Set by the
    engine before it journals the event, never by an adapter: the fill is applied to the order's ``cum_qty``, the
    position and the traded notional, its open quantity stays 0 (``model.order.apply_late_fill``). Journaled as a
    ``JVenueEvent`` followed by the ``Executed`` it produced (``Engine._after_end_fill``), also for an order the
    engine had released from memory and read back from the journal (``Engine._released_order``)."""
    leaves_zero: bool = False
    """True (with ``replace_pending``): the venue said nothing of the order is open after this fill (BOE LeavesQty
    0) while a replace raising the quantity was in flight: the replace's answer decides whether the order goes on
    (replaced) or ends (refused). Kept on the order (``Order.venue_leaves_zero``), so recovery, which applies the
    journal's events, rebuilds it for the adapter after a restart. BOE sets it; the core only records it."""


class VenueCanceled(_VenueEvent, tag="can", frozen=True):
    """Quantity was canceled; ``canceled_qty`` 0 means everything still open."""

    venue_seq: int
    order_id: int
    canceled_qty: int
    reason: str
    text: str
    venue_ts: int = 0
    """The venue's time of the cancel (OUCH: the Canceled or AIQ Canceled Timestamp, ns past midnight); 0: none.
    Kept on the order (``Order.venue_cancel_ts``), so after a restart a renumbered OUCH venue's copy of a partial
    Canceled already applied is still recognised (docs/venues/ouch.md)."""


class VenueReplaced(_VenueEvent, tag="rep", frozen=True):
    """A replace took effect; ``leaves_qty`` is what is now open at ``price`` (see ``canceled_reason``)."""

    venue_seq: int
    order_id: int
    leaves_qty: int
    price: int
    venue_order_id: str
    canceled_reason: str = ""
    """Non-empty: the same message also canceled everything still open (OUCH Order State D)."""
    canceled_text: str = ""
    filled: bool = False
    """True: the venue says the order is filled (FIX OrdStatus 2): a replace that leaves nothing open because the
    executions reached the new quantity ends the order FILLED, not CANCELED. OUCH and BOE never set it."""
    late_qty: int = 0
    """Non-zero: the venue applied a replace the gateway had already reported refused (BOE: a Modify re-sent in
    doubt whose answer came after the in-doubt deadline), and this is the order's new total quantity. Applied to
    an open order with no replace in flight (``model.order.apply_late_replaced``); out of place otherwise."""
    late_ref: str = ""
    """With ``late_qty``: the reference the venue knows the order by from now on (the replace's)."""


class VenueCancelRejected(_VenueEvent, tag="crj", frozen=True):
    """A cancel or replace was refused; the order is unchanged."""

    venue_seq: int
    order_id: int
    code: str
    text: str
    lapsed: bool = False
    """True: the replace in flight was reported refused only because the venue's answer did not come in time (BOE: a
    Modify re-sent in doubt, at the in-doubt deadline); the venue may still apply it. The order keeps the replace's
    reference, quantity and price (``Order.venue_lapsed``), so recovery, which applies the journal's events, gives
    them back to the adapter after a restart and a late answer is still applied (``VenueReplaced.late_qty``)."""
    withheld: bool = False
    """True: the gateway's own answer about a cancel or replace that never left it (as ``VenueRejected.withheld``):
    the strategy's ``CancelRejected`` has source GATEWAY (lows57)."""


VenueEvent = VenueAccepted | VenueRejected | VenueExecuted | VenueCanceled | VenueReplaced | VenueCancelRejected


class VenueState(enum.StrEnum):
    """Session state of a venue as the core and ops see it."""

    DISCONNECTED = "DISCONNECTED"
    CONNECTING = "CONNECTING"
    LOGGING_IN = "LOGGING_IN"
    UP = "UP"
    """Logged in and replay complete: orders may be sent."""
    ENDED = "ENDED"
    """The venue ended the session for the day; no reconnect."""
    LOGIN_REFUSED = "LOGIN_REFUSED"
    """The venue refused our credentials ``max_login_refusals`` times in a row; no reconnect until an operator's
    ``gateway venue reconnect``. Like DISCONNECTED for orders (refused) and cancels (held until it is UP)."""


EventSink = Callable[[VenueEvent], None]
StateSink = Callable[[str, VenueState, str], None]
"""Called with (venue name, new state, human reason) on every session state change."""


def bounded_text(text: str) -> str:
    """Return ``text`` if it has at most ``EVENT_MAX_TEXT`` characters; else clipped to that, on one line, with a
    marker at the end naming its length (``model.operator_text.clip``: cut between characters, UTF-8 safe)."""
    if len(text) <= EVENT_MAX_TEXT:
        return text
    return clip(text, EVENT_MAX_TEXT, f"… [clipped: {len(text):,} characters; the gateway log has the whole text]")


def bounded_texts(event: VenueEvent) -> VenueEvent:
    """Return ``event`` with its venue text clipped to ``EVENT_MAX_TEXT`` characters, or ``event`` itself if it is
    within (fix55).

    Applied by the engine to every event of every adapter before it is journaled (``Engine._venue_sink``): the
    strategy events made of it, live and in replays, quote the clipped text. The texts: ``text`` (VenueRejected,
    VenueCanceled, VenueCancelRejected), ``canceled_text`` (VenueAccepted, VenueReplaced). Ids (``exec_id``,
    ``venue_order_id``) are not clipped here: two ids alike in their first characters must stay two
    (``bounded_ids``).
    """
    if isinstance(event, (VenueAccepted, VenueReplaced)):
        if len(event.canceled_text) <= EVENT_MAX_TEXT:
            return event
        return msgspec.structs.replace(event, canceled_text=bounded_text(event.canceled_text))
    if isinstance(event, VenueExecuted) or len(event.text) <= EVENT_MAX_TEXT:
        return event
    return msgspec.structs.replace(event, text=bounded_text(event.text))


def event_text(event: VenueEvent) -> str:
    """Return the venue text ``event`` carries ("" for an execution): what ``bounded_texts`` clips."""
    if isinstance(event, (VenueAccepted, VenueReplaced)):
        return event.canceled_text
    return "" if isinstance(event, VenueExecuted) else event.text


def bounded_id(venue_id: str) -> str:
    """Return ``venue_id`` if it has at most ``EVENT_MAX_ID`` characters; else its bounded form (texts56):
    ``<its first ID_PREFIX characters>…[<its length> characters, sha256 <64 hex digits>]``.

    The digest is of the whole id's UTF-8, so two different ids stay two (short of a SHA-256 collision), and the
    form is longer than ``EVENT_MAX_ID`` (at least 154 characters, under 400 bytes of UTF-8): no id a venue
    sent within the bound can equal it, and ``is_bounded_id`` tells it by its length.
    """
    if len(venue_id) <= EVENT_MAX_ID:
        return venue_id
    digest = hashlib.sha256(venue_id.encode("utf-8", "surrogatepass")).hexdigest()
    return f"{venue_id[:ID_PREFIX]}…[{len(venue_id)} characters, sha256 {digest}]"


def id_text(raw: bytes) -> str:
    """Return a venue's id (bytes off the wire) as text: its UTF-8, or a form of its own for bytes that are not UTF-8.

    ``<its first bytes, those not UTF-8 as \\xNN>…[<its length> bytes, not UTF-8, sha256 <64 hex digits>]``: the
    digest is of the bytes, so two different ids stay two, and the form (its ``…`` and its bracket) is not one a
    venue sends (rev56merge2: ``\\xNN`` escapes alone made the bytes ``E\\xff1`` and the six characters ``E\\xff1``
    one id, and the second fill was dropped as a repeat). The form is at most ``EVENT_MAX_ID`` characters
    (``_not_utf8_form``), so ``bounded_id`` leaves it as it is: its length and digest are always the venue's bytes'.
    """
    try:
        return raw.decode()
    except UnicodeDecodeError:
        return _not_utf8_form(raw)


def _not_utf8_form(raw: bytes) -> str:
    """Return ``id_text``'s form of ``raw`` (not UTF-8), at most ``EVENT_MAX_ID`` characters (lows57).

    Its prefix is as many of the first ``ID_PREFIX`` bytes (escaped) as keep the form within the bound (whole
    escapes only: at least 24 characters). An id whose form fitted with all of them keeps the form it
    had before (so an id journaled before lows57 still equals its repeat); a longer one was bounded again as text
    before (``bounded_id`` of this form: the length and SHA-256 shown were those of the escaped text, not of the
    venue's bytes), which now reads as this form instead.
    """
    tail = f"…[{len(raw)} bytes, not UTF-8, sha256 {hashlib.sha256(raw).hexdigest()}]"
    room = EVENT_MAX_ID - len(tail)
    count = min(len(raw), ID_PREFIX)
    prefix = raw[:count].decode(errors="backslashreplace")
    while len(prefix) > room:
        count -= max(1, (len(prefix) - room) // 4)  # an escape is 4 characters for its byte
        prefix = raw[:count].decode(errors="backslashreplace")
    return prefix + tail


def is_bounded_id(venue_id: str) -> bool:
    """Return True if ``venue_id`` is a bounded form (``bounded_id``), not an id as the venue sent it."""
    return len(venue_id) > EVENT_MAX_ID


def bounded_ids(event: VenueEvent) -> VenueEvent:
    """Return ``event`` with a venue id longer than ``EVENT_MAX_ID`` in its bounded form (``bounded_id``), or
    ``event`` itself if its ids are within (texts56).

    Applied by the engine before it journals the event (``Engine._venue_sink``), so the order (its ``exec_id`` /
    ``exec_ids``, which catch a repeated fill, and its ``venue_order_id``), the journal, recovery and every strategy
    event made of it, live and in replays, hold the same bounded id. The ids: ``exec_id`` (VenueExecuted),
    ``venue_order_id`` (VenueAccepted, VenueReplaced).
    """
    if isinstance(event, VenueExecuted):
        if len(event.exec_id) <= EVENT_MAX_ID:
            return event
        return msgspec.structs.replace(event, exec_id=bounded_id(event.exec_id))
    if isinstance(event, (VenueAccepted, VenueReplaced)) and len(event.venue_order_id) > EVENT_MAX_ID:
        return msgspec.structs.replace(event, venue_order_id=bounded_id(event.venue_order_id))
    return event


def event_id(event: VenueEvent) -> tuple[str, str]:
    """Return (the field's name, the venue id) ``bounded_ids`` bounds in ``event`` (("", "") for none)."""
    if isinstance(event, VenueExecuted):
        return "exec_id", event.exec_id
    if isinstance(event, (VenueAccepted, VenueReplaced)):
        return "venue_order_id", event.venue_order_id
    return "", ""

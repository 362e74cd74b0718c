"""The adapter's own writes while the session answers a ResendRequest a slice at a time (fixresend58).

An order sent while the answer is in slices waits behind it (``FixSession.queue``): taking it back there (the core
could not journal it, fault51) leaves a gap fill of its number in its place; a stop while the journal holds the
output withdraws it as any held message (fixstop56) and drops the answer's copies, whatever slice it was at; the
socket draining (``set_write_paused``) asks the transport for the next slice (``poll_soon``).
"""

from __future__ import annotations

import pytest

from model.exactly_once import RequestKind, UnansweredRequest
from model.order import OrderState, mark_sent
from model.venue_events import VenueRejected, VenueState
from tests.harness import sent_ref
from venues.fix.codec import FixMessage
from venues.fix.fields import MsgType
from venues.fix.session.session import RESEND_SLICE

from .helpers import make_order
from .test_adapter import Rig

pytestmark = pytest.mark.timeout(30)

ORDERS = 3 * RESEND_SLICE


def _day(rig: Rig) -> int:
    for n in range(ORDERS):
        order = make_order(n + 1)
        mark_sent(order, sent_ref(rig.adapter.send_new(order)))
        rig.adapter.flush()
    rig.wire.take()
    return rig.adapter.session.next_sender_seq - 1


def _ask(rig: Rig, begin: int = 1) -> bytes:
    return rig.peer.message(MsgType.RESEND_REQUEST, [(b"7", b"%d" % begin), (b"16", b"0")])


def _covered(messages: list[FixMessage]) -> list[int]:
    out: list[int] = []
    for message in messages:
        if message.msg_type == MsgType.SEQUENCE_RESET:
            out.extend(range(message.seq, int(message.get(b"36"))))
        else:
            out.append(message.seq)
    return out


def _rest(rig: Rig) -> list[FixMessage]:
    session = rig.adapter.session
    wire: list[FixMessage] = []
    while session.resending:
        rig.adapter.poll(rig.clock())
        rig.adapter.flush()
        wire += rig.wire.take()
    return wire


def test_order_sent_while_the_answer_is_sliced_then_taken_back_then_a_gap_fill_of_its_number_after_the_answer() -> None:
    rig = Rig().up()
    last = _day(rig)
    polls: list[int] = []
    rig.adapter.poll_soon = lambda: polls.append(1)
    rig.feed(_ask(rig))
    assert polls == [1]  # the transport is asked for the next slice at the next turn
    wire = rig.wire.take()
    late = make_order(ORDERS + 1)
    late_ref = sent_ref(rig.adapter.send_new(late)).encode()
    assert rig.adapter.withdraw_new(late)  # the core could not journal it
    rig.adapter.flush()
    wire += rig.wire.take()
    wire += _rest(rig)
    assert _covered(wire) == list(range(1, last + 2))
    fill = wire[-1]
    assert (fill.msg_type, fill.seq, fill.get(b"36"), fill.get(b"43")) == (
        MsgType.SEQUENCE_RESET,
        last + 1,
        b"%d" % (last + 2),
        b"Y",
    )
    assert all(m.get(b"11") != late_ref for m in wire)


def test_stop_while_the_journal_holds_the_output_mid_answer_then_copies_dropped_held_order_withdrawn_logout_sent() -> (
    None
):
    rig = Rig().up()
    last = _day(rig)
    rig.feed(_ask(rig))
    rig.wire.take()  # the first slice left
    rig.adapter.hold_output(True)
    rig.adapter.poll(rig.clock())  # no slice while held
    assert rig.adapter.session.resending
    late = make_order(ORDERS + 1)
    mark_sent(late, sent_ref(rig.adapter.send_new(late)))  # its journal record never written
    rig.adapter.shutdown()
    wire = rig.wire.take()
    assert [m.get(b"43") for m in wire if m.msg_type == MsgType.NEW_ORDER_SINGLE] == []
    assert [(m.msg_type, m.seq) for m in wire] == [(MsgType.SEQUENCE_RESET, last + 1), (MsgType.LOGOUT, last + 2)]
    assert wire[0].get(b"36") == b"%d" % (last + 2)
    (answer,) = [e for e in rig.recorder.events if isinstance(e, VenueRejected)]
    assert (answer.order_id, answer.code) == (ORDERS + 1, "NOT_SENT")
    assert not rig.adapter.session.resending


def test_socket_drains_while_the_answer_waits_then_the_transport_is_asked_for_the_next_slice() -> None:
    rig = Rig().up()
    last = _day(rig)
    polls: list[int] = []
    rig.adapter.poll_soon = lambda: polls.append(1)
    rig.feed(_ask(rig))
    wire = rig.wire.take()
    rig.adapter.set_write_paused(True)
    rig.adapter.poll(rig.clock())
    rig.adapter.flush()
    assert rig.wire.take() == []
    rig.adapter.set_write_paused(False)
    assert polls == [1, 1]
    wire += _rest(rig)
    assert _covered(wire) == list(range(1, last + 1))


def test_venue_resets_the_numbering_mid_answer_then_orders_that_waited_asked_under_the_new_one_answered_once() -> None:
    """rev58merge5 MEDIUM: orders sent while the answer was in slices went out in the old numbering after the reset.

    Now they never reach the wire under their old numbers: as every request unanswered at a reset, each is asked
    about under the new numbering (an asking cancel on this dialect), and the venue's answer settles it once.
    """
    rig = Rig().up()
    _day(rig)
    rig.feed(_ask(rig))
    rig.wire.take()  # the first slice left
    late = [make_order(ORDERS + 1 + n) for n in range(3)]
    refs = []
    for order in late:
        ref = sent_ref(rig.adapter.send_new(order))
        mark_sent(order, ref)
        refs.append(ref)
        rig.adapter.flush()
    rig.applying(*late)
    assert rig.wire.take() == []  # behind the answer
    unanswered = [UnansweredRequest(order, RequestKind.NEW, ref) for order, ref in zip(late, refs, strict=True)]

    def on_state(_name: str, state: VenueState, _reason: str) -> None:  # the core's on_venue_state
        if state is VenueState.UP:
            rig.adapter.after_replay(unanswered)

    rig.adapter.state_sink = on_state
    rig.peer.next_seq = 1
    rig.feed(rig.peer.logon(reset=True))  # the venue restarts the numbering in session (MsgSeqNum 1)
    wire = rig.wire.take() + _rest(rig)
    assert not rig.adapter.session.resending
    # the old code: the 3 D numbered last + 1.. (no PossDupFlag, the old numbering) ahead of our Logon 34=1
    assert [m.get(b"11") for m in wire if m.msg_type == MsgType.NEW_ORDER_SINGLE] == []
    assert (wire[0].msg_type, wire[0].seq, wire[0].get(b"141")) == (MsgType.LOGON, 1, b"Y")
    asking = wire[1:]
    assert [(m.msg_type, m.seq, m.get(b"41")) for m in asking] == [
        (MsgType.ORDER_CANCEL_REQUEST, 2 + n, ref.encode()) for n, ref in enumerate(refs)
    ]
    unknown = [(b"103", b"5")]  # OrdRejReason 5: unknown order (the venue never had them)
    for message in asking:
        rig.feed(rig.peer.execution_report(message.get(b"11"), b"8", ord_status=b"8", leaves=0, extra=unknown))
    answers = rig.events()
    assert [(type(e), e.order_id, getattr(e, "code", "")) for e in answers] == [
        (VenueRejected, order.order_id, "NOT_SENT") for order in late
    ]
    assert all(order.state is OrderState.REJECTED for order in late)
    assert rig.adapter.status()["questions_open"] == 0

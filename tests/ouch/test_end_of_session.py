"""OUCH End of Session with the real engine: every request still unanswered gets exactly one answer.

A restart restores an order PENDING_NEW_CANCEL whose Enter and Cancel never reached the venue; if the End of
Session comes while the replay is still being read, the NewOrder gets one OrderRejected (its Cancel nothing more).
A live order PENDING_NEW_CANCEL at End of Session gets one OrderRejected and nothing more for its Cancel. (Once the
replay is read, such a restored order is reported not received: tests/ouch/test_restored_cancel.py.)
"""

from __future__ import annotations

from pathlib import Path

import msgspec

from gateway.engine import Engine
from gateway.protocol.messages import Cancel, CancelRejected, NewOrder, OrderAccepted, OrderRejected
from model.enums import Side
from model.exactly_once import ExactlyOnce
from model.order import Order, OrderState, apply_ack, mark_sent, request_cancel, request_replace
from model.venue_events import VenueCancelRejected, VenueRejected, VenueState
from tests.harness import MemoryLink, sent_ref
from tests.ouch.harness import PX, Link, gateway_over, make_order, restart_from_journal


def _answers(strat: MemoryLink, cl_ord_id: str) -> list[tuple[str, str]]:
    """Return (consume) the answers ``strat`` got for ``cl_ord_id``: (kind, code), in order."""
    out: list[tuple[str, str]] = []
    for m in strat.received():
        if isinstance(m, OrderAccepted) and m.cl_ord_id == cl_ord_id:
            out.append(("OrderAccepted", ""))
        elif isinstance(m, OrderRejected | CancelRejected) and m.cl_ord_id == cl_ord_id:
            out.append((type(m).__name__, m.code))
    return out


def _state(order: Order) -> OrderState:
    """Return the order's state now (not narrowed by an earlier assert)."""
    return order.state


def _venue_state(link: Link) -> VenueState:
    """Return the venue's state now (not narrowed by an earlier assert)."""
    return link.venue.state


def _end_of_session(link: Link, engine: Engine) -> None:
    """Let the venue send End of Session, and the engine deliver what it produced."""
    assert link.connection is not None
    link.core.end_session(link.clock())
    link.pump()
    engine.flush()


def test_end_of_session_when_a_restored_new_order_and_its_cancel_never_reached_the_venue_then_one_reject(
    tmp_path: Path,
) -> None:
    first = Link(tmp_path / "ouch")
    engine, rig = gateway_over(first, tmp_path / "j1")
    first.connect()
    strat = rig.connect("S1")
    rig.send(strat, NewOrder("A", "ACC1", "nasdaq", "AAPL", Side.BUY, 100, PX - 100), Cancel("A"))
    assert engine.strategies["S1"].orders["A"].state is OrderState.PENDING_NEW_CANCEL
    first.venue.flush()
    first._to_server.clear()  # the Enter and the Cancel were lost on the wire; then the gateway stopped
    first.disconnect()
    engine.journal.close()

    second, engine2, rig2 = restart_from_journal(first, tmp_path)
    # a venue whose first heartbeat comes a second after the replay (the simulator's at once would end the wait)
    second.core.server_config = msgspec.structs.replace(second.core.server_config, heartbeat_after_replay=False)
    order = engine2.strategies["S1"].orders["A"]
    assert order.state is OrderState.PENDING_NEW_CANCEL
    strat2 = rig2.connect("S1")
    # logged in, the replay not read yet (no Server Heartbeat): neither the Enter nor the Cancel is sent
    second.connection = second.core.connect(second.clock())
    second.venue.attach(second._write, second._close)
    second.venue.connection_made(second.clock())
    second.pump()
    assert _venue_state(second) is VenueState.LOGGING_IN
    assert [r.type for r in second.core.exchange.records] == []
    strat2.received()  # the Welcome and its replay
    _end_of_session(second, engine2)

    assert second.venue.state is VenueState.ENDED
    assert _state(order) is OrderState.REJECTED
    assert _answers(strat2, "A") == [("OrderRejected", "OUCH_SESSION_ENDED")]  # the Cancel: nothing more
    assert engine2.open_orders == {}
    assert engine2.counters.venue_events_out_of_place == 0
    assert second.venue.status()["awaiting_answer"] == 0


def test_end_of_session_when_a_restored_new_order_never_reached_the_venue_then_one_reject(tmp_path: Path) -> None:
    first = Link(tmp_path / "ouch")
    engine, rig = gateway_over(first, tmp_path / "j1")
    first.connect()
    strat = rig.connect("S1")
    rig.send(strat, NewOrder("A", "ACC1", "nasdaq", "AAPL", Side.BUY, 100, PX - 100))
    first.venue.flush()
    first._to_server.clear()
    first.disconnect()
    engine.journal.close()

    second, engine2, rig2 = restart_from_journal(first, tmp_path)
    strat2 = rig2.connect("S1")
    second.connect()
    strat2.received()  # the Welcome and its replay
    _end_of_session(second, engine2)

    assert _answers(strat2, "A") == [("OrderAccepted", "")]  # sent again after the replay (the venue had none)
    assert engine2.strategies["S1"].orders["A"].state is OrderState.LIVE


def test_end_of_session_when_a_live_order_is_pending_new_cancel_then_one_answer_per_request(tmp_path: Path) -> None:
    link = Link(tmp_path / "ouch")
    engine, rig = gateway_over(link, tmp_path / "j1")
    link.connect()
    strat = rig.connect("S1")
    rig.send(strat, NewOrder("A", "ACC1", "nasdaq", "AAPL", Side.BUY, 100, PX - 100), Cancel("A"))
    link.venue.flush()
    link._to_server.clear()  # neither reached the venue
    order = engine.strategies["S1"].orders["A"]
    assert order.state is OrderState.PENDING_NEW_CANCEL
    strat.received()  # what came before End of Session
    _end_of_session(link, engine)

    assert link.venue.state is VenueState.ENDED
    assert _state(order) is OrderState.REJECTED
    assert _answers(strat, "A") == [("OrderRejected", "OUCH_SESSION_ENDED")]  # the Cancel: nothing more
    assert engine.counters.venue_events_out_of_place == 0


def test_end_of_session_when_a_new_order_and_its_cancel_are_unanswered_then_the_reject_alone_answers_both(
    tmp_path: Path,
) -> None:
    link = Link(tmp_path)
    link.connect()
    order = make_order(1)
    mark_sent(order, sent_ref(link.venue.send_new(order)))
    request_cancel(order)
    link.venue.send_cancel(order)
    later = make_order(2)
    mark_sent(later, sent_ref(link.venue.send_new(later)))
    request_cancel(later)
    link.venue.send_cancel(later)
    link.venue.flush()
    link._to_server.clear()  # none of them reached the venue
    link.events.clear()
    assert link.connection is not None
    link.core.end_session(link.clock())
    link.pump()

    ended = ("OUCH_SESSION_ENDED", "the venue ended the session before answering")
    assert link.events == [VenueRejected(0, 1, *ended), VenueRejected(0, 2, *ended)]  # no VenueCancelRejected
    assert link.venue.status()["awaiting_answer"] == 0


def test_after_session_end_when_requests_are_not_held_then_each_answered_once_and_held_ones_left(
    tmp_path: Path,
) -> None:
    link = Link(tmp_path)
    link.connect()
    held = make_order(1)
    mark_sent(held, link.send_new(held))  # accepted by the venue
    apply_ack(held, "1")
    request_cancel(held)
    link.venue.send_cancel(held)
    link.venue.flush()
    link._to_server.clear()  # the Cancel is held, unanswered: left to _forget_session
    new, canceling, replacing = make_order(2), make_order(3), make_order(4)
    for order, ref in ((new, "77"), (canceling, "78"), (replacing, "79")):
        mark_sent(order, ref)  # the core has them; this adapter holds nothing of them
    for order in (canceling, replacing):
        apply_ack(order, "9")
    request_cancel(canceling)
    request_replace(replacing, 50, PX - 100, "80")
    link.events.clear()

    link.venue.after_session_end(ExactlyOnce.unanswered([held, new, canceling, replacing]))

    ended = ("OUCH_SESSION_ENDED", "the venue ended the session before answering")
    assert link.events == [
        VenueRejected(0, 2, *ended),
        VenueCancelRejected(0, 3, *ended),
        VenueCancelRejected(0, 4, *ended),
    ]
    assert link.venue.status()["awaiting_answer"] == 1


def test_end_of_session_when_a_cancel_names_several_possible_live_numbers_then_one_answer(tmp_path: Path) -> None:
    """review28: a restored order's Cancel goes to every number that may be the live one; each got an answer."""
    link = Link(tmp_path)
    order = make_order(1)
    mark_sent(order, "1")
    apply_ack(order, "1")
    request_cancel(order)
    link.venue.restore(order, "1")
    link.venue.restore(order, "2")  # a Replace that may or may not have taken: the Cancel names 1 and 2
    link.events.clear()

    link.venue.on_end_of_session()

    ended = ("OUCH_SESSION_ENDED", "the venue ended the session before answering")
    assert link.events == [VenueCancelRejected(0, 1, *ended)]

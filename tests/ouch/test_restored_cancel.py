"""An order the desk asked to cancel before the venue acknowledged it, whose Enter the venue may never have received.

After a restart (PENDING_NEW_CANCEL restored from the journal) or a re-login, the adapter reads the replay, asks for
the venue's NextUserRefNum, and then: an Enter the replay acknowledged is followed by its Cancel, sent again; an Enter
the replay did not acknowledge never reached the venue, and is reported back (``VenueRejected`` "OUCH_NOT_RECEIVED",
which answers the Cancel too) without sending anything: not the Enter (the order could trade before its Cancel
arrives), not the Cancel (OUCH ignores a Cancel of a UserRefNum it does not know, so it would never be answered).
"""

from __future__ import annotations

from pathlib import Path

from gateway.engine import Engine
from gateway.protocol.messages import Cancel, Canceled, CancelRejected, NewOrder, OrderAccepted, OrderRejected
from model.enums import Side
from model.order import Order, OrderState, hold_cancel, mark_sent, request_cancel
from model.venue_events import VenueAccepted, VenueCanceled, VenueRejected, VenueState
from simulators.ouch.exchange import ExchangeConfig
from simulators.ouch.simulator import SimulatorConfig
from tests.harness import MemoryLink, sent_ref
from tests.ouch.harness import PX, TS, Link, gateway_over, make_order, restart_from_journal

RESTING = PX - 100
NOT_RECEIVED_CANCEL = (
    "the venue never received it (unanswered after the replay) and a cancel of it was requested, "
    "so it is not sent again"
)


def _strict() -> SimulatorConfig:
    return SimulatorConfig(exchange=ExchangeConfig(reference_prices={"AAPL": PX}, strict_user_ref_num=True))


def _answers(strat: MemoryLink, cl_ord_id: str) -> list[tuple[str, str]]:
    """Return (consume) what ``strat`` got for ``cl_ord_id``: (kind, code), in order."""
    out: list[tuple[str, str]] = []
    for m in strat.received():
        if isinstance(m, OrderAccepted | Canceled) and m.cl_ord_id == cl_ord_id:
            out.append((type(m).__name__, ""))
        elif isinstance(m, OrderRejected | CancelRejected) and m.cl_ord_id == cl_ord_id:
            out.append((type(m).__name__, m.code))
    return out


def _state(order: Order) -> OrderState:
    """Return the order's state now (not narrowed by an earlier assert)."""
    return order.state


def _restart(tmp_path: Path, *, deliver: int) -> tuple[Link, Engine, MemoryLink, Order]:
    """Send NewOrder A and Cancel A (PENDING_NEW_CANCEL); the venue reads the first ``deliver`` of the two
    packets and no answer arrives; the gateway stops, restarts from its journal and logs in again."""
    first = Link(tmp_path / "ouch", sim=_strict())
    engine, rig = gateway_over(first, tmp_path / "j1")
    first.connect()
    strat = rig.connect("S1")
    rig.send(strat, NewOrder("A", "ACC1", "nasdaq", "AAPL", Side.BUY, 100, RESTING), Cancel("A"))
    assert engine.strategies["S1"].orders["A"].state is OrderState.PENDING_NEW_CANCEL
    first.venue.flush()
    assert first.connection is not None
    packets = _split(bytes(first._to_server))
    assert len(packets) == 2  # the Enter and the Cancel
    for packet in packets[:deliver]:
        first.core.receive(first.connection, packet, first.clock())
    first._to_server.clear()
    first.disconnect()  # the venue's answers (if any) are lost with the connection
    engine.journal.close()

    second, engine2, rig2 = restart_from_journal(first, tmp_path)
    order = engine2.strategies["S1"].orders["A"]
    assert order.state is OrderState.PENDING_NEW_CANCEL
    strat2 = rig2.connect("S1")
    strat2.received()  # the Welcome and its replay
    second.connect()
    engine2.flush()
    return second, engine2, strat2, order


def _split(chunk: bytes) -> list[bytes]:
    """Split the SoupBinTCP packets of one write (2-byte big-endian length prefix)."""
    out = []
    while chunk:
        size = 2 + int.from_bytes(chunk[:2], "big")
        out.append(chunk[:size])
        chunk = chunk[size:]
    return out


def test_restart_when_a_restored_pending_new_cancel_never_reached_the_venue_then_rejected_at_once_and_nothing_sent(
    tmp_path: Path,
) -> None:
    link, engine, strat, order = _restart(tmp_path, deliver=0)

    assert link.venue.state is VenueState.UP
    assert _state(order) is OrderState.REJECTED
    assert _answers(strat, "A") == [("OrderRejected", "OUCH_NOT_RECEIVED")]  # it answers the Cancel too
    assert [r.type for r in link.core.exchange.records] == ["Q"]  # neither the Enter nor the Cancel went out
    assert link.core.exchange.violations == []
    assert engine.open_orders == {}
    assert engine.counters.venue_events_out_of_place == 0
    assert link.venue.status()["awaiting_answer"] == 0
    assert link.venue.status()["unanswered_not_held"] == 0


def test_restart_when_the_venue_took_the_enter_but_not_the_cancel_then_the_cancel_is_sent_again(
    tmp_path: Path,
) -> None:
    link, engine, strat, order = _restart(tmp_path, deliver=1)

    assert _state(order) is OrderState.CANCELED
    assert _answers(strat, "A") == [("OrderAccepted", ""), ("Canceled", "")]  # the Accepted came in the replay
    assert [r.type for r in link.core.exchange.records] == ["O", "Q", "X"]
    assert engine.open_orders == {}
    assert link.venue.status()["awaiting_answer"] == 0


def test_restart_when_the_venue_took_the_enter_and_the_cancel_then_the_replay_answers_both(tmp_path: Path) -> None:
    link, engine, strat, order = _restart(tmp_path, deliver=2)

    assert _state(order) is OrderState.CANCELED
    assert _answers(strat, "A") == [("OrderAccepted", ""), ("Canceled", "")]
    assert [r.type for r in link.core.exchange.records] == ["O", "X"]  # all answered by the replay: no query
    assert engine.open_orders == {}
    assert link.venue.status()["awaiting_answer"] == 0


# ---- adapter level (simulator, fake clock) ---------------------------------------------------------


def _entered(tmp_path: Path) -> tuple[Link, Order]:
    """Log in to a strict venue and send order 1, whose Enter reaches the venue (its answer is not read yet)."""
    link = Link(tmp_path, sim=_strict())
    link.connect()
    order = make_order(1)
    mark_sent(order, sent_ref(link.venue.send_new(order)))
    link.venue.flush()
    assert link.connection is not None
    link.core.receive(link.connection, bytes(link._to_server), link.clock())
    return link, order


def _lose_and_reconnect(link: Link) -> None:
    link.venue.flush()
    link._to_server.clear()  # lost on the wire
    link.disconnect()
    link.connect()


def test_restore_when_pending_new_cancel_and_the_enter_never_arrived_then_not_received_and_nothing_sent(
    tmp_path: Path,
) -> None:
    link = Link(tmp_path, sim=_strict())
    order = make_order(1)
    mark_sent(order, "7")
    request_cancel(order)
    link.venue.restore(order, "7")
    link.venue.resume("OUCHSIM", 1)

    link.connect()

    assert link.events == [VenueRejected(0, 1, "OUCH_NOT_RECEIVED", NOT_RECEIVED_CANCEL)]
    assert [r.type for r in link.core.exchange.records] == ["Q"]
    assert link.venue.status()["not_received"] == 1
    assert link.venue.status()["awaiting_answer"] == 0


def test_relogin_when_a_pending_new_cancel_was_lost_then_not_received_not_sent_back_to_back(tmp_path: Path) -> None:
    link = Link(tmp_path, sim=_strict())
    link.connect()
    order = make_order(1)
    mark_sent(order, sent_ref(link.venue.send_new(order)))
    request_cancel(order)
    link.venue.send_cancel(order)

    _lose_and_reconnect(link)

    assert link.events == [VenueRejected(0, 1, "OUCH_NOT_RECEIVED", NOT_RECEIVED_CANCEL)]
    assert [r.type for r in link.core.exchange.records] == ["Q"]  # the venue had seen no later number, yet no Enter
    assert link.venue.status()["awaiting_answer"] == 0


def test_relogin_when_the_cancel_is_held_and_the_enter_was_lost_then_not_received_not_sent(tmp_path: Path) -> None:
    link = Link(tmp_path, sim=_strict())
    link.connect()
    order = make_order(1)
    mark_sent(order, sent_ref(link.venue.send_new(order)))
    link.venue.flush()
    link._to_server.clear()
    link.disconnect()
    hold_cancel(order)  # the venue is down: the core holds the Cancel until it is UP again

    link.connect()

    assert link.events == [VenueRejected(0, 1, "OUCH_NOT_RECEIVED", NOT_RECEIVED_CANCEL)]
    assert [r.type for r in link.core.exchange.records] == ["Q"]


def test_relogin_when_a_pending_new_cancel_was_accepted_in_the_replay_then_only_the_cancel_is_sent(
    tmp_path: Path,
) -> None:
    link, order = _entered(tmp_path)
    link._to_server.clear()
    request_cancel(order)
    link.venue.send_cancel(order)

    _lose_and_reconnect(link)  # the Cancel was lost, and the Accepted with the connection

    assert link.events == [
        VenueAccepted(1, 1, "100000001", 100, RESTING),
        VenueCanceled(3, 1, 100, "U", "user requested", TS),
    ]
    assert [r.type for r in link.core.exchange.records] == ["O", "Q", "X"]


def test_relogin_when_the_replay_lost_the_enters_answer_then_in_doubt_and_its_cancel_sent(
    tmp_path: Path,
) -> None:
    """review28: a gap at Login Accepted can lose the Accepted of an Enter the venue took; the desk wants it gone.

    The venue's NextUserRefNum is above the Enter's number: it took the Enter, so the order is in doubt (taken as
    accepted), never "not received" (fixdoubt52, rev52ouch E0), and its Cancel goes out: the venue's Canceled ends it.
    """
    link, order = _entered(tmp_path)  # live at the venue
    link._to_server.clear()
    request_cancel(order)
    link.venue.send_cancel(order)
    link.venue.flush()
    link._to_server.clear()  # the Cancel was lost
    link.disconnect()
    link.events.clear()
    link.venue.resume("OUCHSIM", 2)  # asks past the Accepted (sequence 1): the replay does not carry it

    link.connect()

    assert link.events[0] == VenueAccepted(0, 1, "", 100, RESTING)  # in doubt
    assert [r.type for r in link.core.exchange.records][-2:] == ["Q", "X"]  # the Cancel went out
    assert not link.core.exchange.orders  # and the order is off the book
    assert isinstance(link.events[-1], VenueCanceled) and link.events[-1].order_id == 1  # which ends it here
    assert not [e for e in link.events if isinstance(e, VenueRejected)]

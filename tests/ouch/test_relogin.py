"""OUCH re-login and restart against a strict venue: no UserRefNum the venue already has is sent again.

The simulator runs in strict mode (``strict_user_ref_num``): every Enter / Replace whose UserRefNum is not
above every number it has seen is recorded as a violation, as the certification venue counts them.
The adapter reads the replay first (until the first Server Heartbeat after Login Accepted), asks the venue
for its NextUserRefNum (Account Query), and only then acts on what is still unanswered.
"""

from __future__ import annotations

from pathlib import Path

import msgspec

from model.exactly_once import ExactlyOnce
from model.order import apply_ack, mark_sent, request_replace
from model.venue_events import (
    VenueAccepted,
    VenueCanceled,
    VenueCancelRejected,
    VenueRejected,
    VenueReplaced,
    VenueState,
)
from simulators.ouch.exchange import ExchangeConfig
from simulators.ouch.simulator import SimulatorConfig
from tests.harness import sent_ref
from tests.ouch.harness import PX, TS, Link, make_order

RESTING = PX - 100


def _strict(drop_after: int | None = None) -> SimulatorConfig:
    return SimulatorConfig(
        drop_after=drop_after,
        exchange=ExchangeConfig(reference_prices={"AAPL": PX}, strict_user_ref_num=True),
    )


def _lose_inbound(link: Link) -> None:
    """Drop what the venue wrote and the exchange has not read yet (lost on the wire)."""
    link.venue.flush()
    link._to_server.clear()


def _deliver(link: Link) -> None:
    """Let the exchange read what the venue wrote, but lose every answer (the connection dies)."""
    link.venue.flush()
    assert link.connection is not None
    link.core.receive(link.connection, bytes(link._to_server), link.clock())
    link._to_server.clear()
    link.disconnect()


def test_relogin_when_the_venue_processed_every_request_before_the_cut_then_none_is_sent_again(tmp_path: Path) -> None:
    link = Link(tmp_path, sim=_strict())
    link.connect()
    orders = [make_order(100 + i, price=PX if i % 2 else RESTING) for i in range(30)]
    for order in orders:
        link.venue.send_new(order)
    _deliver(link)  # the exchange took all 30; none of its answers arrived
    link.connect()
    exchange = link.core.exchange
    assert exchange.violations == []
    assert link.venue.state is VenueState.UP
    accepted = [e.order_id for e in link.events if isinstance(e, VenueAccepted)]
    assert sorted(accepted) == [o.order_id for o in orders]
    assert [r.type for r in exchange.records].count("O") == 30


def test_relogin_when_drops_every_50_messages_under_load_then_no_violation_and_every_order_answered_once(
    tmp_path: Path,
) -> None:
    link = Link(tmp_path, sim=_strict(drop_after=50))
    orders = [make_order(200 + i, price=PX if i % 3 == 0 else RESTING) for i in range(120)]
    pending = list(orders)
    for _ in range(2000):
        if link.connection is None:
            link.connect()
        if pending and link.venue.state is VenueState.UP:
            for order in pending[:7]:
                link.venue.send_new(order)
            del pending[:7]
        link.pump()
        if not pending and link.venue.status()["awaiting_answer"] == 0 and link.connection is not None:
            break
    assert not pending
    assert link.core.cuts >= 3
    assert link.core.exchange.violations == []
    answered = [e.order_id for e in link.events if isinstance(e, VenueAccepted | VenueRejected)]
    assert sorted(answered) == [o.order_id for o in orders]


def test_relogin_when_an_enter_is_unanswered_but_a_later_one_arrived_then_in_doubt_canceled_not_resent(
    tmp_path: Path,
) -> None:
    """NextUserRefNum above the Enter's number: the venue took that number (requests arrive in order), so the Enter
    is in doubt, answered as accepted and canceled by its UserRefNum; never sent again, never "not received"
    (fixdoubt52, rev52ouch E0; before, ``OUCH_NOT_RECEIVED``, though a slow venue could still answer it)."""
    link = Link(tmp_path, sim=_strict())
    link.connect()
    lost, later = make_order(1), make_order(2)
    link.venue.send_new(lost)
    _lose_inbound(link)  # (the simulator never gets it: its silence stands in for a slow venue's)
    link.venue.send_new(later)
    _deliver(link)
    link.connect()
    assert link.core.exchange.violations == []
    assert VenueAccepted(1, 2, "100000001", 100, RESTING) in link.events
    assert VenueAccepted(0, 1, "", 100, RESTING) in link.events  # in doubt
    assert not [e for e in link.events if isinstance(e, VenueRejected)]
    assert [(r.type, r.user_ref_num) for r in link.core.exchange.records][-2:] == [("Q", 0), ("X", 1)]
    status = link.venue.status()
    assert (status["not_received"], status["in_doubt"], status["awaiting_answer"]) == (0, 1, 0)


def test_relogin_when_an_enter_was_lost_and_nothing_later_arrived_then_resent_under_its_number(
    tmp_path: Path,
) -> None:
    link = Link(tmp_path, sim=_strict())
    link.connect()
    link.venue.send_new(make_order(1))
    _lose_inbound(link)
    link.disconnect()
    link.connect()
    assert link.core.exchange.violations == []
    assert link.events == [VenueAccepted(2, 1, "100000001", 100, RESTING)]  # 1 answered the Account Query
    assert [(r.type, r.outcome) for r in link.core.exchange.records] == [("Q", "answered"), ("O", "accepted")]


def test_relogin_when_a_replace_is_unanswered_but_a_later_number_arrived_then_in_doubt_and_a_cancel_names_both(
    tmp_path: Path,
) -> None:
    """NextUserRefNum above the Replace's number: the venue took that number (requests arrive in order), so it may
    have applied the Replace, or apply it yet: in doubt (``OUCH_IN_DOUBT``), as an Enter in that position, never
    "not received" (ouchend56; before, ``OUCH_NOT_RECEIVED`` "the venue never received it", and a Cancel named only
    the old number, which a venue that applied the Replace ignores)."""
    link = Link(tmp_path, sim=_strict())
    link.connect()
    order = make_order(1, qty=300)
    link.send_new(order)
    link.venue.send_replace(order, 200, RESTING - 100)
    _lose_inbound(link)  # (the simulator never gets it: its silence stands in for a slow venue's)
    link.venue.send_new(make_order(2))
    _deliver(link)
    link.connect()
    assert link.core.exchange.violations == []
    (rejected,) = [e for e in link.events if isinstance(e, VenueCancelRejected)]
    assert (rejected.venue_seq, rejected.order_id, rejected.code) == (0, 1, "OUCH_IN_DOUBT")  # old: NOT_RECEIVED
    assert "the venue took its UserRefNum" in rejected.text
    status = link.venue.status()
    assert (status["not_received"], status["in_doubt"], status["awaiting_answer"]) == (0, 1, 0)
    link.venue.send_cancel(order)  # names the order's number before the Replace and the Replace's own
    link.pump()
    assert [(r.type, r.user_ref_num) for r in link.core.exchange.records][-2:] == [("X", 1), ("X", 2)]
    assert link.events[-1] == VenueCanceled(4, 1, 0, "U", "user requested", TS)  # 0: nothing left, whatever size


def test_relogin_when_a_cancel_was_lost_then_sent_again_and_the_order_canceled(tmp_path: Path) -> None:
    link = Link(tmp_path, sim=_strict())
    link.connect()
    order = make_order(1)
    link.send_new(order)
    link.venue.send_cancel(order)
    _lose_inbound(link)
    link.venue.send_new(make_order(2))
    _deliver(link)
    link.connect()
    assert link.core.exchange.violations == []
    assert link.events[-1] == VenueCanceled(4, 1, 100, "U", "user requested", TS)


def test_relogin_when_requests_wait_then_nothing_is_sent_before_the_replay_is_read(tmp_path: Path) -> None:
    # a venue whose first heartbeat comes a second after the replay (the simulator's at once would end the wait)
    link = Link(tmp_path, sim=msgspec.structs.replace(_strict(), heartbeat_after_replay=False))
    link.connect()
    link.venue.send_new(make_order(1))
    link.venue.flush()
    assert link.connection is not None
    link.core.receive(link.connection, bytes(link._to_server), link.clock())
    link._to_server.clear()
    link.venue.send_new(make_order(2))
    link.venue.flush()
    link.disconnect()  # order 1 reached the venue, order 2 did not; no answer arrived
    link.wire.clear()
    now = link.clock()
    link.connection = link.core.connect(now)
    link.venue.attach(link._write, link._close)
    link.venue.connection_made(now)
    link.pump()  # Login Accepted and the replay (the Accepted of order 1) read; no heartbeat yet
    assert _state(link) is VenueState.LOGGING_IN
    assert len(link.wire) == 1  # the Login Request only
    link.settle()
    assert _state(link) is VenueState.UP
    assert [r.type for r in link.core.exchange.records] == ["O", "Q", "O"]  # 2 after the venue said 2 is next
    assert link.core.exchange.violations == []
    assert [e.order_id for e in link.events] == [1, 2]


def _state(link: Link) -> VenueState:
    return link.venue.state


def test_restart_when_requests_were_journaled_then_only_those_the_venue_never_saw_are_sent(tmp_path: Path) -> None:
    first = Link(tmp_path, sim=_strict())
    first.connect()
    answered = make_order(1)
    first.send_new(answered)
    had = [make_order(2), make_order(3, qty=200)]  # the exchange took them; the crash lost the answers
    for order in had:
        first.venue.send_new(order)
    first.venue.send_replace(answered, 50, RESTING)
    never_written = make_order(4)
    first.venue.flush()
    assert first.connection is not None
    first.core.receive(first.connection, bytes(first._to_server), first.clock())
    first._to_server.clear()
    first.venue.send_new(never_written)  # journaled, never written: the crash came first
    first.disconnect()

    second = Link(tmp_path, core=first.core, clock=first.clock)
    mark_sent(answered, "1")
    apply_ack(answered, "100000001")
    request_replace(answered, 50, RESTING, "4")
    for ref, order in zip(("2", "3"), had, strict=True):
        mark_sent(order, ref)
    mark_sent(never_written, "5")
    second.venue.restore(answered, "1")
    second.venue.restore(answered, "4")
    for ref, order in zip(("2", "3"), had, strict=True):
        second.venue.restore(order, ref)
    second.venue.restore(never_written, "5")
    second.venue.resume("OUCHSIM", 2)
    second.connect()
    assert second.core.exchange.violations == []
    assert {e.order_id for e in second.events if isinstance(e, VenueAccepted)} == {2, 3, 4}
    assert [e for e in second.events if isinstance(e, VenueReplaced)] == [VenueReplaced(4, 1, 50, RESTING, "100000004")]
    assert second.venue.status()["awaiting_answer"] == 0


def test_after_replay_when_the_core_lists_a_request_the_adapter_does_not_hold_then_counted(tmp_path: Path) -> None:
    link = Link(tmp_path, sim=_strict())
    link.connect()
    held = make_order(1)
    mark_sent(held, sent_ref(link.venue.send_new(held)))
    stranger = make_order(2)
    mark_sent(stranger, "77")  # the core has it; this adapter never sent it
    link.venue.after_replay(ExactlyOnce.unanswered([held, stranger]))
    assert link.venue.status()["unanswered_not_held"] == 1

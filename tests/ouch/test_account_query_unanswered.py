"""OUCH: a venue that does not answer the Account Query after a login leaves unanswered Enters and Replaces in doubt.

After a login with requests unanswered, the adapter reads the replay and asks the venue's NextUserRefNum (Account
Query): a number below it was taken by the venue (a slow venue may still answer it: in doubt), one at or above it
never arrived. When the query goes unanswered for ``server_timeout_ms`` the gateway does not know the venue's
NextUserRefNum, so it cannot know that the venue never received a request. Before ouchaq56 every such Enter was
answered ``OrderRejected`` and every Replace ``CancelRejected`` ``OUCH_NOT_RECEIVED`` ("the venue never received it"):
false when the venue had it; a strategy acting on it (entering the order again) doubled an order that may be live,
and a Cancel of a Replace the venue applied named only the dead number. Now they are in doubt as when the venue's
messages were lost: an Enter is taken as accepted and canceled at the venue by its UserRefNum (on file in
``<name>.ouch-doubts.json``, ended ``OUCH_OUTCOME_UNKNOWN`` if the venue says nothing of it), a Replace gets
``CancelRejected`` ``OUCH_IN_DOUBT`` and a Cancel names both numbers. docs/venues/ouch.md, "After a re-login or a
restart", step 4.

The venue: the OUCH simulator in strict mode told not to answer the Account Query (``answer_account_query``); a slow
venue is one that took a request and whose answer is not on its stream yet (taken off it here). Fake clock.
"""

from __future__ import annotations

from pathlib import Path

from model.order import mark_sent, request_cancel
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
from venues.ouch.doubts import read_doubts

RESTING = PX - 100


def _silent_query() -> SimulatorConfig:
    """A strict venue that never answers the Account Query Request."""
    return SimulatorConfig(
        exchange=ExchangeConfig(reference_prices={"AAPL": PX}, strict_user_ref_num=True, answer_account_query=False)
    )


def _taken_silently(link: Link) -> None:
    """The venue reads what the gateway wrote and applies it, but says nothing of it yet (a slow venue)."""
    link.venue.flush()
    assert link.connection is not None
    before = len(link.core.stream.packets)
    link.core.receive(link.connection, bytes(link._to_server), link.clock())
    link._to_server.clear()
    del link.core.stream.packets[before:]  # its answers are not on the stream (yet)


def _relogin_past_the_query(link: Link) -> None:
    """Cut the connection, log in again, read the replay; wait out the unanswered Account Query (server heartbeats
    keep the session up meanwhile)."""
    link.disconnect()
    link.connect()
    for _ in range(20):
        if link.venue.state is VenueState.UP:
            break
        link.clock.advance_ms(1_000)
        link.poll()
    assert link.venue.state is VenueState.UP
    assert [(r.type, r.outcome) for r in link.core.exchange.records if r.type == "Q"] == [("Q", "unanswered")]


def _cancels(link: Link, since: int = 0) -> list[int]:
    return [r.user_ref_num for r in link.core.exchange.records[since:] if r.type == "X"]


def test_enter_the_venue_took_when_the_account_query_is_unanswered_then_in_doubt_and_canceled_not_not_received(
    tmp_path: Path,
) -> None:
    link = Link(tmp_path, sim=_silent_query())
    link.connect()
    order = make_order(1)
    mark_sent(order, sent_ref(link.venue.send_new(order)))
    _taken_silently(link)  # live at the venue, unanswered
    assert [o.user_ref_num for o in link.core.exchange.orders.values() if o.open] == [1]

    _relogin_past_the_query(link)

    assert not [e for e in link.events if isinstance(e, VenueRejected)], link.events  # old: OUCH_NOT_RECEIVED
    assert link.events[0] == VenueAccepted(0, 1, "", 100, RESTING)  # in doubt: taken as accepted
    status = link.venue.status()
    assert (status["not_received"], status["in_doubt"], status["awaiting_answer"]) == (0, 1, 0)
    store = link.store
    enters, _replaces = read_doubts(link.state_dir, link.config.name, store.day, store.session)
    assert set(enters) == {1}  # on file: a restart still cancels it
    assert _cancels(link) == [1]  # canceled at the venue by its UserRefNum: not left live
    assert link.events[-1] == VenueCanceled(1, 1, 100, "U", "user requested", TS)
    assert [o.user_ref_num for o in link.core.exchange.orders.values() if o.open] == []
    assert link.core.exchange.violations == []


def test_enter_the_venue_never_had_when_the_account_query_is_unanswered_then_in_doubt_and_ended_outcome_unknown(
    tmp_path: Path,
) -> None:
    """The venue never had it: its Cancel is ignored, and the order ends OUCH_OUTCOME_UNKNOWN (bounded), not open."""
    link = Link(tmp_path, sim=_silent_query(), answer_timeout_ms=2_000)
    link.connect()
    mark_sent(order := make_order(1), sent_ref(link.venue.send_new(order)))
    link.venue.flush()
    link._to_server.clear()  # lost on the wire

    _relogin_past_the_query(link)

    assert link.events == [VenueAccepted(0, 1, "", 100, RESTING)]  # old: VenueRejected OUCH_NOT_RECEIVED
    assert _cancels(link) == [1]
    for _ in range(10):
        link.clock.advance_ms(1_000)
        link.poll()
    (ended,) = link.events[1:]
    assert isinstance(ended, VenueCanceled) and ended.reason == "OUCH_OUTCOME_UNKNOWN", ended
    assert link.core.exchange.violations == []  # never sent again under a number the venue may have


def test_replace_the_venue_applied_when_the_account_query_is_unanswered_then_in_doubt_and_a_cancel_names_both(
    tmp_path: Path,
) -> None:
    link = Link(tmp_path, sim=_silent_query())
    link.connect()
    order = make_order(1, qty=300)
    mark_sent(order, link.send_new(order))
    link.venue.send_replace(order, 200, RESTING - 100)  # UserRefNum 2
    _taken_silently(link)  # the venue applied it: 2 is live there, 1 is dead
    assert [o.user_ref_num for o in link.core.exchange.orders.values() if o.open] == [2]

    _relogin_past_the_query(link)

    (rejected,) = [e for e in link.events if isinstance(e, VenueCancelRejected)]
    assert (rejected.venue_seq, rejected.order_id, rejected.code) == (0, 1, "OUCH_IN_DOUBT")  # old: NOT_RECEIVED
    assert "Account Query" in rejected.text
    status = link.venue.status()
    assert (status["not_received"], status["in_doubt"], status["awaiting_answer"]) == (0, 1, 0)
    store = link.store
    _enters, replaces = read_doubts(link.state_dir, link.config.name, store.day, store.session)
    assert replaces == {2: (1, 1)}  # on file before its answer is journaled
    sent = len(link.core.exchange.records)
    link.venue.send_cancel(order)
    link.pump()
    assert _cancels(link, sent) == [1, 2]  # old: [1] only, dead at the venue: ignored, never answered
    # The Canceled names 2: the Replace took effect, so the order takes its terms first (a late Replaced), then the
    # Canceled applies to them (ouchdoubt57; before: VenueCanceled of 0, "everything open", whatever the size)
    assert link.events[-2:] == [
        VenueReplaced(2, 1, 200, RESTING - 100, "", late_qty=200, late_ref="2"),
        VenueCanceled(2, 1, 200, "U", "user requested", TS),
    ]
    assert [o.user_ref_num for o in link.core.exchange.orders.values() if o.open] == []
    assert link.core.exchange.violations == []


def test_enter_of_an_order_asked_to_cancel_when_the_account_query_is_unanswered_then_in_doubt_its_cancel_sent(
    tmp_path: Path,
) -> None:
    """PENDING_NEW_CANCEL, the venue took the Enter (and not the Cancel): its Cancel goes again and ends it."""
    link = Link(tmp_path, sim=_silent_query())
    link.connect()
    order = make_order(1)
    mark_sent(order, sent_ref(link.venue.send_new(order)))
    _taken_silently(link)
    request_cancel(order)
    link.venue.send_cancel(order)
    link.venue.flush()
    link._to_server.clear()  # the Cancel is lost on the wire

    _relogin_past_the_query(link)

    assert not [e for e in link.events if isinstance(e, VenueRejected)], link.events  # old: OUCH_NOT_RECEIVED
    assert link.events[0] == VenueAccepted(0, 1, "", 100, RESTING)
    assert _cancels(link) == [1]  # once: the desk's Cancel, sent again
    assert link.events[-1] == VenueCanceled(1, 1, 100, "U", "user requested", TS)
    assert [o.user_ref_num for o in link.core.exchange.orders.values() if o.open] == []


def test_restart_when_the_account_query_is_unanswered_then_the_restored_enter_is_in_doubt(tmp_path: Path) -> None:
    """A gateway restart takes the same path: the restored Enter the replay did not answer is in doubt."""
    link = Link(tmp_path, sim=_silent_query())
    order = make_order(1)
    mark_sent(order, "7")
    link.venue.restore(order, "7")
    link.venue.resume("OUCHSIM", 1)
    link.connect()
    for _ in range(20):
        if link.venue.state is VenueState.UP:
            break
        link.clock.advance_ms(1_000)
        link.poll()
    assert link.venue.state is VenueState.UP
    assert link.events == [VenueAccepted(0, 1, "", 100, RESTING)]  # old: VenueRejected OUCH_NOT_RECEIVED
    assert _cancels(link) == [7]
    assert link.core.exchange.violations == []

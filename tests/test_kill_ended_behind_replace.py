"""A kill at a venue whose session ENDED, over an order whose Replace is still in flight (ended60, rev60merge HIGH).

The kill's Cancel of such an order is held behind the Replace (PENDING_REPLACE_HELD_CANCEL) and refused at once
(``Engine._own_ended``): journaled as a Cancel of the gateway's own held and refused, the order left as it was, once
per order (docs/reliability.md 2.1). Before, the order table had no drop from PENDING_REPLACE_HELD_CANCEL: the
``JCancelRefused`` was journaled, then the drop raised (CRITICAL INTERNAL ERROR, the account halted), the record was
journaled again at every poll (the journal grew without bound), and the next start refused the journal
(``JournalCorruptError``). Journals written so are read: each repeat after the first drop changes nothing. At a
venue that resumes after its end (a FIX schedule) the kill's Cancel waits behind the Replace and goes once. The
harness venue and a file journal; the fake clock; nothing waits.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from gateway.journal import JournalCorruptError, JournalScan, JTradingState, follow_order_record
from gateway.journal_records import (
    JCancelQueued,
    JCancelRefused,
    JOrderCreated,
    JOrderSent,
    JournalRecord,
    JRequest,
    JVenueApplied,
    JVenueEvent,
)
from gateway.protocol.messages import Replace
from gateway.recovery import Recovered, recover
from gateway.venue_apply import apply_venue_event
from model.order import IllegalTransition, Order, OrderState, apply_cancel_rejected, mark_sent, request_cancel
from model.venue_events import VenueState
from tests.harness import MemoryLink, Rig, ScriptedVenue, journal_of_kind

pytestmark = pytest.mark.timeout(60)


def _replace_in_flight_at_an_ended_venue(path: Path) -> tuple[Rig, MemoryLink, Order]:
    """S1's order LIVE, its Replace sent and never answered, then the venue's End of Session (ENDED for the day)."""
    rig = Rig(journal=journal_of_kind("file", path))
    s1 = rig.connect("S1")
    rig.new_order(s1, "a1")
    order = rig.order("S1", "a1")
    rig.venue.accept(order.order_id, 1_000_000)
    rig.send(s1, Replace("a1", 150, 1_000_100))
    rig.engine.flush()
    assert order.state is OrderState.PENDING_REPLACE
    rig.venue.set_state(VenueState.ENDED)
    rig.engine.flush()
    return rig, s1, order


def _kill_and_poll(rig: Rig, polls: int = 5) -> None:
    """``gateway kill --account ACC1``, then ``polls`` loop turns a second apart."""
    rig.engine.journal.append(JTradingState("ACC1", "HALTED", "ops", "ended60 drill", 1))
    rig.engine.cancel_all("ACC1", walk=True)
    for _ in range(polls):
        rig.clock.advance(1_000_000_000)
        rig.engine.poll(rig.clock())
        rig.engine.flush()


def _records(path: Path) -> list[JournalRecord]:
    journal = journal_of_kind("file", path)
    records = list(journal.records(JournalScan()))
    journal.close()
    return records


def _recover(path: Path) -> Recovered:
    journal = journal_of_kind("file", path)
    scan = JournalScan()
    try:
        return recover(journal.records(scan), scan)
    finally:
        journal.close()


def _restart(path: Path) -> tuple[Rig, Recovered]:
    journal = journal_of_kind("file", path)
    scan = JournalScan()
    recovered = recover(journal.records(scan), scan)
    journal.cut_torn_tail(scan)
    fresh = Rig(journal=journal)
    fresh.venue.set_state(VenueState.ENDED)  # the end is kept on file: the restarted process does not log in
    fresh.engine.adopt(recovered)
    return fresh, recovered


def _cancels(rig: Rig) -> int:
    return sum(1 for command in rig.venue.commands if command[0] == "cancel")


def test_kill_when_a_replace_is_in_flight_at_an_ended_venue_then_refused_once_and_the_replace_stays_in_flight(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "j"
    rig, _, order = _replace_in_flight_at_an_ended_venue(path)
    _kill_and_poll(rig)
    assert rig.engine._counters.internal_errors == 0  # main: 1 (IllegalTransition), the account halted
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text  # main: ERROR at each poll
    assert order.state is OrderState.PENDING_REPLACE and not order.own_cancel  # main: PENDING_REPLACE_HELD_CANCEL
    assert not _cancels(rig)
    assert order.order_id not in rig.engine._kill_owed and order.order_id not in rig.engine._kill_sent
    rig.engine.journal.close()
    mine = [r for r in _records(path) if isinstance(r, (JCancelQueued, JCancelRefused))]
    assert mine == [JCancelQueued(order.order_id, True), JCancelRefused(order.order_id)]  # main: 6 JCancelRefused
    fresh, recovered = _restart(path)  # main: JournalCorruptError, the gateway refuses to start
    restored = fresh.engine.orders[order.order_id]
    assert restored.state is OrderState.PENDING_REPLACE and not restored.own_cancel
    assert not recovered.kill_owed and not recovered.kill_sent and not recovered.repeated_drops  # as the live one
    assert fresh.engine.cancel_owed(list(recovered.kill_owed.values())) == 0 and not _cancels(fresh)


def test_kill_refused_behind_a_replace_when_the_replace_is_answered_then_no_cancel_and_nothing_journaled_again(
    tmp_path: Path,
) -> None:
    path = tmp_path / "j"
    rig, _, order = _replace_in_flight_at_an_ended_venue(path)
    _kill_and_poll(rig)
    rig.venue.replaced(order.order_id, 150, 1_000_100)  # the venue's answer after all (the adapter's end of day)
    rig.engine.flush()
    for _ in range(3):
        rig.clock.advance(1_000_000_000)
        rig.engine.poll(rig.clock())
        rig.engine.flush()
    assert order.state is OrderState.LIVE and order.qty == 150 and not _cancels(rig)
    rig.engine.journal.close()
    mine = [r for r in _records(path) if isinstance(r, (JCancelQueued, JCancelRefused))]
    assert mine == [JCancelQueued(order.order_id, True), JCancelRefused(order.order_id)]
    recovered = _recover(path)
    assert recovered.orders[order.order_id].state is OrderState.LIVE and not recovered.kill_owed


def _as_main_wrote_it(path: Path, *, answered_between: bool) -> int:
    """The journal main left: the kill's Cancel held, its drop journaled, then journaled again at each poll."""
    rig, _, order = _replace_in_flight_at_an_ended_venue(path)
    journal = rig.engine.journal
    journal.append(JTradingState("ACC1", "HALTED", "ops", "ended60 drill", 1))
    journal.append(JCancelQueued(order.order_id, True))  # Engine._own_ended
    journal.append(JCancelRefused(order.order_id))  # _drop_held_and_answer, then the drop raised
    for poll in range(4):
        if answered_between and poll == 2:
            rig.venue.replaced(order.order_id, 150, 1_000_100)  # main: PENDING_REPLACE_HELD_CANCEL -> LIVE_HELD_...
        journal.append(JCancelRefused(order.order_id))  # _settle_owed, at each poll
        rig.engine.flush()
    journal.close()
    return order.order_id


@pytest.mark.parametrize("answered_between", [False, True], ids=["replace-unanswered", "replace-answered-between"])
def test_journal_of_main_when_the_drop_repeats_at_each_poll_then_the_start_reads_it_as_one_drop(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, answered_between: bool
) -> None:
    path = tmp_path / "j"
    order_id = _as_main_wrote_it(path, answered_between=answered_between)
    caplog.clear()
    fresh, recovered = _restart(path)  # main: JournalCorruptError "DROP_HELD_CANCEL is illegal in state ..."
    expected = OrderState.LIVE if answered_between else OrderState.PENDING_REPLACE
    assert fresh.engine.orders[order_id].state is expected and not fresh.engine.orders[order_id].own_cancel
    assert recovered.repeated_drops == {order_id: 4}
    assert not recovered.kill_owed and not recovered.kill_sent  # the kill's Cancel was refused once: nothing owed
    assert fresh.engine.cancel_owed(list(recovered.kill_owed.values())) == 0 and not _cancels(fresh)
    warnings = [r.getMessage() for r in caplog.records if r.name == "gateway.recovery"]
    assert len(warnings) == 1 and f"1 order(s) ({order_id}), 4 repeat(s)" in warnings[0], warnings


def test_journal_when_a_drop_finds_nothing_held_and_repeats_no_drop_then_still_corrupt(tmp_path: Path) -> None:
    # the leniency is for a repeat only: a JCancelRefused with no held Cancel before it is no journal of this gateway
    path = tmp_path / "j"
    rig, _, order = _replace_in_flight_at_an_ended_venue(path)
    rig.engine.journal.append(JCancelRefused(order.order_id))
    rig.engine.flush()
    rig.engine.journal.close()
    with pytest.raises(JournalCorruptError, match="DROP_HELD_CANCEL is illegal in state PENDING_REPLACE"):
        _recover(path)


def test_replay_reading_when_a_drop_repeats_then_the_order_is_as_the_first_drop_left_it(tmp_path: Path) -> None:
    # gateway.replay follows order records with the same reading (a strategy's replay from far back in the journal)
    path = tmp_path / "j"
    order_id = _as_main_wrote_it(path, answered_between=False)
    order: Order | None = None
    for record in _records(path):
        rec = record.record if isinstance(record, JRequest) else record
        if isinstance(rec, JOrderCreated) and rec.order_id == order_id:  # (or JOrderSent, created and sent)
            order = rec.order()
            if isinstance(rec, JOrderSent):
                mark_sent(order, rec.venue_ref)
        elif isinstance(rec, (JVenueApplied, JVenueEvent)) and order is not None:
            apply_venue_event(order, rec.event, 0, [])
        elif order is not None and getattr(rec, "order_id", -1) == order_id:
            follow_order_record(order, rec)  # main's reading: IllegalTransition at the second JCancelRefused
    assert order is not None and order.state is OrderState.PENDING_REPLACE and not order.own_cancel
    assert apply_cancel_rejected(order)  # the Replace refused: LIVE
    request_cancel(order)  # a Cancel in flight: a drop there is no repeat of anything
    with pytest.raises(IllegalTransition):
        follow_order_record(order, JCancelRefused(order_id))


@pytest.mark.parametrize("restart", [False, True], ids=["live", "restart-before-up"])
def test_kill_at_a_venue_that_resumes_after_its_end_then_the_cancel_waits_and_goes_once_after_the_replace(
    tmp_path: Path, restart: bool
) -> None:
    # a FIX venue with a schedule resumes at its next window: the kill's Cancel is held behind the Replace (not
    # refused), paid (Engine._kill_sent), and sent once when the venue is UP and the Replace answered
    path = tmp_path / "j"
    rig = Rig(journal=journal_of_kind("file", path), venues=[ScriptedVenue("V1", resumes_after_end=True)])
    s1 = rig.connect("S1")
    rig.new_order(s1, "a1")
    order = rig.order("S1", "a1")
    rig.venue.accept(order.order_id, 1_000_000)
    rig.send(s1, Replace("a1", 150, 1_000_100))
    rig.venue.set_state(VenueState.ENDED)
    rig.engine.flush()
    _kill_and_poll(rig, polls=1)
    assert order.state is OrderState.PENDING_REPLACE_HELD_CANCEL and order.order_id in rig.engine._kill_sent
    if restart:
        rig.engine.journal.close()
        journal = journal_of_kind("file", path)
        scan = JournalScan()
        recovered = recover(journal.records(scan), scan)
        journal.cut_torn_tail(scan)
        seq = rig.venue.seq
        rig = Rig(journal=journal, venues=[ScriptedVenue("V1", resumes_after_end=True)])
        rig.venue.seq = seq + 100
        rig.venue.set_state(VenueState.ENDED)
        rig.engine.adopt(recovered)
        assert not recovered.kill_owed and recovered.kill_sent == {order.order_id}
        assert rig.engine.cancel_owed(list(recovered.kill_owed.values())) == 0
        order = rig.engine.orders[order.order_id]
    rig.venue.set_state(VenueState.UP)  # the next window
    rig.engine.flush()
    assert not _cancels(rig)  # still behind the Replace
    rig.venue.replaced(order.order_id, 150, 1_000_100)
    rig.engine.flush()
    assert order.state is OrderState.PENDING_CANCEL and order.own_cancel and _cancels(rig) == 1

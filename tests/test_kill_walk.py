"""The kill switch's Cancels over many orders are walked a slice per loop turn, and resumed at the start (walk59).

rev58strat / known58: ``gateway kill`` on a scope with tens of thousands of open orders sent every Cancel in one loop
turn (``Engine.cancel_all``): other accounts' strategies stalled ~100 ms pure. It was not sliced because a crash in
the middle would have restored the halt without the rest of its Cancels (fail open). Now a kill over more than
``MASS_CANCEL_WALK_SLICE`` orders walks them a slice per turn (the halt is in force from the kill's turn: risk's), and
recovery names the orders of a journaled kill's scope with no Cancel journaled after it (``Recovered.kill_owed``):
the start cancels them (``Engine.cancel_owed``). Also (rev58merge7 MEDIUM 2) a strategy that dies in the middle of its
MassCancel's walk has its disconnect policy walked a slice per turn too, not the rest in one. Counted, not timed.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from gateway.app import INTERNAL_ERROR_WHO
from gateway.engine import MASS_CANCEL_WALK_SLICE
from gateway.journal import JournalScan, JTradingState
from gateway.protocol.framing import encode_frame
from gateway.protocol.messages import Cancel, CancelRejected, MassCancel, NewOrder
from gateway.recovery import RESUME_REFUSED, Recovered, recover
from model.enums import Side
from model.order import OrderState
from model.venue_events import VenueState
from tests.harness import MemoryLink, Rig, journal_of_kind, self_numbered_link

pytestmark = pytest.mark.timeout(120)

RESTING = 3 * MASS_CANCEL_WALK_SLICE + 10  # four slices


def _turns(rig: Rig) -> list[Callable[[], None]]:
    """Have the engine's later loop turns (``replay_scheduler``) queue up in a list the test runs one at a time."""
    queued: list[Callable[[], None]] = []
    rig.engine.replay_scheduler = lambda callback, delay: queued.append(callback)
    return queued


def _rest(rig: Rig, link: MemoryLink, count: int) -> list[int]:
    """Place ``count`` orders of ``link``'s (ACC1, V1, AAPL) in one read and have the venue accept them."""
    frames = []
    for n in range(count):
        link.req_seq += 1
        frames.append(
            encode_frame(NewOrder(f"r{n}", "ACC1", "V1", "AAPL", Side.BUY, 100, 1_000_000, req_seq=link.req_seq))
        )
    rig.engine.link_data(link, b"".join(frames), rig.clock())
    ids = [rig.order("S1", f"r{n}").order_id for n in range(count)]
    for order_id in ids:
        rig.venue.accept(order_id, 1_000_000)
    rig.engine.flush()
    link.received()
    return ids


def _cancels(rig: Rig) -> list[int]:
    return [c[1] for c in rig.venue.commands if c[0] == "cancel"]


def _other_account_order(rig: Rig, s2: MemoryLink, cl_ord_id: str) -> None:
    """S2 (account ACC2) sends a NewOrder: carried out at once, its Enter on the wire."""
    s2.req_seq += 1
    order = NewOrder(cl_ord_id, "ACC2", "V1", "MSFT", Side.BUY, 200, 1_000_000, req_seq=s2.req_seq)
    rig.engine.link_data(s2, encode_frame(order), rig.clock())
    assert rig.venue.commands[-1][0] == "new" and rig.venue.commands[-1][2] == 200


def _setup(tmp_path: Path | None = None) -> tuple[Rig, MemoryLink, MemoryLink, list[int], list[Callable[[], None]]]:
    rig = Rig(journal=journal_of_kind("file", tmp_path / "j") if tmp_path is not None else None)
    s1 = self_numbered_link(rig, "S1")
    s2 = self_numbered_link(rig, "S2")
    ids = _rest(rig, s1, RESTING)
    s1.defers_reads = True
    return rig, s1, s2, ids, _turns(rig)


def _kill(rig: Rig, account: str) -> int:
    """What ``gateway kill --account`` does to the engine: the HALTED record first, then the Cancels."""
    rig.engine.journal.append(JTradingState(account, "HALTED", "ops", "walk59 drill", 1))
    return rig.engine.cancel_all(account, walk=True)


def test_kill_over_many_orders_then_a_slice_per_turn_and_another_account_served_between() -> None:
    rig, _, s2, ids, turns = _setup()
    assert _kill(rig, "ACC1") == RESTING  # the count answered: every open order of the scope
    assert len(_cancels(rig)) == MASS_CANCEL_WALK_SLICE  # before: all 1,546 in this one call
    slices = [len(_cancels(rig))]
    while turns:
        _other_account_order(rig, s2, f"o{len(slices)}")  # between two slices: carried out at once
        turns.pop(0)()
        slices.append(len(_cancels(rig)) - sum(slices))
    assert slices == [MASS_CANCEL_WALK_SLICE] * 3 + [10]
    assert _cancels(rig) == ids  # each once, in the order sent
    assert all(rig.engine.orders[i].state is OrderState.PENDING_CANCEL for i in ids)
    assert rig.engine.own_walks == 0


def test_kill_walk_then_stop_walks_the_rest_before_it_goes_on() -> None:
    rig, _, _, ids, turns = _setup()
    _kill(rig, "ACC1")
    turns.pop(0)()
    rig.engine.disconnect_for_stop()
    assert _cancels(rig) == ids  # (S1's policy "cancel" finds them canceling already: no second Cancel)
    for callback in turns:  # a later turn of the walk finds it ended
        callback()
    assert _cancels(rig) == ids


def test_kill_walk_over_orders_a_mass_cancel_of_theirs_is_walking_then_each_order_canceled_once() -> None:
    rig, s1, _, ids, turns = _setup()
    s1.req_seq += 1
    rig.engine.link_data(s1, encode_frame(MassCancel(request_id="M1", req_seq=s1.req_seq)), rig.clock())
    _kill(rig, "ACC1")
    while turns:
        turns.pop(0)()
        assert len(_cancels(rig)) == len(set(_cancels(rig)))
    assert sorted(_cancels(rig)) == ids


def test_crash_mid_kill_walk_then_recovery_owes_the_orders_without_a_cancel_and_the_start_cancels_them_once(
    tmp_path: Path,
) -> None:
    rig, _, _, ids, turns = _setup(tmp_path)
    _kill(rig, "ACC1")
    turns.pop(0)()  # two slices journaled and sent, then the process dies
    sent = _cancels(rig)
    assert sent == ids[: 2 * MASS_CANCEL_WALK_SLICE]
    rig.engine.journal.close()
    journal = journal_of_kind("file", tmp_path / "j")
    scan = JournalScan()
    recovered = recover(journal.records(scan), scan)
    journal.cut_torn_tail(scan)
    assert sorted(recovered.kill_owed) == ids[2 * MASS_CANCEL_WALK_SLICE :]  # no Cancel of theirs journaled
    fresh = Rig(journal=journal)
    fresh.engine.adopt(recovered)
    assert all(fresh.engine.orders[i].state is OrderState.PENDING_CANCEL for i in sent)  # answered at reconnect
    assert fresh.engine.cancel_owed(list(recovered.kill_owed.values())) == len(ids) - len(sent)
    assert _cancels(fresh) == ids[2 * MASS_CANCEL_WALK_SLICE :]  # the rest, each once; none of the sent again
    fresh.engine.journal.close()
    scan = JournalScan()
    again = recover(journal_of_kind("file", tmp_path / "j").records(scan), scan)
    assert not again.kill_owed  # a second start owes nothing


def test_crash_mid_kill_walk_after_strategy_cancels_then_one_in_flight_left_to_it_and_a_refused_one_canceled(
    tmp_path: Path,
) -> None:
    rig, s1, _, ids, _ = _setup(tmp_path)
    _kill(rig, "ACC1")
    in_flight, refused = ids[-1], ids[-2]  # orders the walk has not reached: the strategy cancels them itself
    s1.req_seq += 2
    cancels = [Cancel(f"r{RESTING - 1}", req_seq=s1.req_seq - 1), Cancel(f"r{RESTING - 2}", req_seq=s1.req_seq)]
    rig.engine.link_data(s1, b"".join(encode_frame(cancel) for cancel in cancels), rig.clock())
    rig.venue.cancel_reject(refused)  # too late, says the venue: the kill's own Cancel follows at once (walk59b)
    rig.engine.flush()
    assert _cancels(rig) == [*ids[:MASS_CANCEL_WALK_SLICE], in_flight, refused, refused]
    assert rig.engine.orders[refused].state is OrderState.PENDING_CANCEL and rig.engine.orders[refused].own_cancel
    rig.engine.journal.close()  # the process dies before the walk's next slice
    journal = journal_of_kind("file", tmp_path / "j")
    scan = JournalScan()
    recovered = recover(journal.records(scan), scan)
    journal.cut_torn_tail(scan)
    fresh = Rig(journal=journal)
    fresh.engine.adopt(recovered)
    assert fresh.engine.orders[in_flight].state is OrderState.PENDING_CANCEL  # its venue answers it at reconnect
    assert fresh.engine.cancel_owed(list(recovered.kill_owed.values())) == len(ids) - MASS_CANCEL_WALK_SLICE - 2
    assert _cancels(fresh) == ids[MASS_CANCEL_WALK_SLICE:-2]  # the refused one had its own Cancel; none twice


def test_recovery_owes_nothing_for_a_halt_of_the_gateways_own_and_keeps_owing_after_a_resume(tmp_path: Path) -> None:
    rig, _, _, ids, turns = _setup(tmp_path)
    journal = rig.engine.journal
    journal.append(JTradingState("ACC1", "HALTED", INTERNAL_ERROR_WHO, "fault drill", 1))  # cancels nothing
    rig.engine.flush()
    _kill(rig, "ACC1")
    journal.append(JTradingState("ACC1", "ACTIVE", "ops", "resumed mid-walk", 3))  # the walk goes on
    rig.engine.flush()
    journal.close()
    scan = JournalScan()
    recovered = recover(journal_of_kind("file", tmp_path / "j").records(scan), scan)
    assert sorted(recovered.kill_owed) == ids[MASS_CANCEL_WALK_SLICE:]  # the kill's answer promised them
    assert turns  # (the walk was still under way when the process died)


def test_strategy_dies_mid_mass_cancel_walk_then_its_policy_walked_a_slice_per_turn() -> None:
    rig, s1, s2, ids, turns = _setup()
    s1.req_seq += 1
    rig.engine.link_data(s1, encode_frame(MassCancel(request_id="M1", req_seq=s1.req_seq)), rig.clock())
    assert len(_cancels(rig)) == MASS_CANCEL_WALK_SLICE
    s1.closed = True
    rig.engine.link_closed(s1)  # policy "cancel", in the middle of its MassCancel's walk
    assert len(_cancels(rig)) <= 2 * MASS_CANCEL_WALK_SLICE  # before: the other 1,034 in this one call
    done = len(_cancels(rig))
    while turns:
        _other_account_order(rig, s2, f"d{done}")  # served between two slices
        turns.pop(0)()
        assert len(_cancels(rig)) - done <= 2 * MASS_CANCEL_WALK_SLICE
        done = len(_cancels(rig))
    assert sorted(_cancels(rig)) == ids  # each once
    assert not rig.engine._walks and rig.engine.own_walks == 0


# ---- walk59b: rev59merge MEDIUM 2, MEDIUM 3, LOW 4 -------------------------------------------------------------


def _restart(tmp_path: Path) -> tuple[Rig, Recovered]:
    """Recover the journal at ``tmp_path / "j"`` (closed by the caller: a stop or a crash) into a fresh rig."""
    journal = journal_of_kind("file", tmp_path / "j")
    scan = JournalScan()
    recovered = recover(journal.records(scan), scan)
    journal.cut_torn_tail(scan)
    fresh = Rig(journal=journal)
    fresh.engine.adopt(recovered)
    return fresh, recovered


def test_resume_refused_restatement_of_a_halt_of_the_gateways_own_then_recovery_owes_nothing(tmp_path: Path) -> None:
    # rev59merge MEDIUM 2: app.resume re-states the state in force (HALTED, the officer as who, "resume refused")
    # after an ACTIVE record whose sync failed; recovery took it for a kill over a halt of the gateway's own and
    # owed every open order of the account a Cancel, all canceled at the next start ("cut short" WARNING)
    rig, _, _, ids, _ = _setup(tmp_path)
    journal = rig.engine.journal
    journal.append(JTradingState("ACC1", "HALTED", INTERNAL_ERROR_WHO, "fault drill", 1))  # cancels nothing
    journal.append(JTradingState("ACC1", "ACTIVE", "ops", "", 2))  # on disk, its sync failed
    journal.append(JTradingState("ACC1", "HALTED", "ops", RESUME_REFUSED, 3))  # app.resume's re-statement
    rig.engine.flush()
    journal.close()
    fresh, recovered = _restart(tmp_path)
    assert not recovered.kill_owed, len(recovered.kill_owed)  # walk59: 1,546 owed, no kill was given
    assert not recovered.kills and not fresh.engine.killed_scopes
    assert fresh.engine.cancel_owed(list(recovered.kill_owed.values())) == 0 and not _cancels(fresh)
    assert len(fresh.engine.open_orders) == len(ids)


def test_resume_refused_restatement_of_a_kill_stays_a_kill_and_owes_no_second_cancel(tmp_path: Path) -> None:
    rig, _, _, ids, turns = _setup(tmp_path)
    _kill(rig, "ACC1")
    while turns:
        turns.pop(0)()
    rig.venue.cancel(ids[0])  # one ended; the others' Cancels in flight
    journal = rig.engine.journal
    journal.append(JTradingState("ACC1", "ACTIVE", "ops", "", 2))  # its sync failed: the resume refused
    journal.append(JTradingState("ACC1", "HALTED", "ops", RESUME_REFUSED, 3))
    rig.engine.flush()
    journal.close()
    fresh, recovered = _restart(tmp_path)
    assert recovered.kills == {"ACC1"} and fresh.engine.killed_scopes == {"ACC1"}  # still under the kill
    assert not recovered.kill_owed  # each had its Cancel journaled: none owed, none sent again
    fresh.venue.seq = rig.venue.seq
    fresh.venue.cancel_reject(ids[1])  # a refusal after the restart: the kill's Cancel again (below)
    fresh.engine.flush()
    assert _cancels(fresh) == []  # the refused Cancel was the kill's own: logged, not sent again


def test_strategy_cancel_during_walk_refused_by_venue_then_the_kills_own_cancel_sent_once(tmp_path: Path) -> None:
    # rev59merge MEDIUM 3: the walk passed over an order whose strategy's Cancel was in flight; the venue refused it
    # and the order worked on in the killed account, silently (risk-officer guide: every order open at the kill
    # gets its Cancel)
    rig, s1, _, ids, turns = _setup(tmp_path)
    _kill(rig, "ACC1")
    victim = ids[-1]
    s1.req_seq += 1
    rig.engine.link_data(s1, encode_frame(Cancel(f"r{RESTING - 1}", req_seq=s1.req_seq)), rig.clock())
    rig.engine.flush()
    while turns:  # the walk goes on to its end, passing the order over (its strategy's Cancel in flight)
        turns.pop(0)()
    assert _cancels(rig).count(victim) == 1
    rig.venue.cancel_reject(victim)  # the venue refuses the strategy's Cancel (FIX 434, OUCH I, BOE refusal)
    rig.engine.flush()
    order = rig.engine.orders[victim]
    assert order.state is OrderState.PENDING_CANCEL and order.own_cancel, order.state  # walk59: LIVE
    assert _cancels(rig).count(victim) == 2  # the strategy's, refused; the kill's
    assert sorted(set(_cancels(rig))) == ids
    refusals = [m for m in s1.received() if isinstance(m, CancelRejected)]
    assert [m.cl_ord_id for m in refusals] == [f"r{RESTING - 1}"]  # its strategy told of its refusal, once
    rig.venue.cancel_reject(victim)  # the kill's own Cancel refused too: logged, not sent a third time
    rig.engine.flush()
    assert _cancels(rig).count(victim) == 2
    rig.engine.journal.close()
    _, recovered = _restart(tmp_path)
    assert victim not in recovered.kill_owed  # the kill's Cancel is journaled


def test_strategy_cancel_before_kill_refused_then_kills_cancel_and_restart_owes_it_until_journaled(
    tmp_path: Path,
) -> None:
    rig, s1, _, ids, turns = _setup(tmp_path)
    victim = ids[0]
    s1.req_seq += 1
    rig.engine.link_data(s1, encode_frame(Cancel("r0", req_seq=s1.req_seq)), rig.clock())
    rig.engine.flush()
    _kill(rig, "ACC1")  # the walk passes it over: a Cancel wanted
    rig.venue.cancel_reject(victim)
    rig.engine.flush()
    while turns:
        turns.pop(0)()
    assert rig.engine.orders[victim].state is OrderState.PENDING_CANCEL  # walk59: LIVE, owed nothing at restart
    assert _cancels(rig).count(victim) == 2
    # the journal as a crash right after the refusal's record leaves it (the kill's Cancel not journaled): owed
    rig2, s2, _, ids2, turns2 = _setup(tmp_path / "b")
    s2.req_seq += 1
    rig2.engine.link_data(s2, encode_frame(Cancel("r0", req_seq=s2.req_seq)), rig2.clock())
    rig2.engine.flush()
    _kill(rig2, "ACC1")
    while turns2:
        turns2.pop(0)()
    rig2.engine._kill_owed.clear()  # (this process does not send it: as if the crash came between)
    rig2.venue.cancel_reject(ids2[0])
    rig2.engine.flush()
    rig2.engine.journal.close()
    fresh, recovered = _restart(tmp_path / "b")
    assert sorted(recovered.kill_owed) == [ids2[0]]
    assert fresh.engine.cancel_owed(list(recovered.kill_owed.values())) == 1 and _cancels(fresh) == [ids2[0]]


def test_strategy_cancel_before_the_kill_refused_after_the_resume_then_the_kills_cancel_all_the_same(
    tmp_path: Path,
) -> None:
    # walk59c (rev59merge9 MEDIUM 1): the order was open at the kill; the kill owes it its Cancel whatever resume
    # came since, as a restart would (walk59b: none here, and a restart then canceled it, "cut short")
    rig, s1, _, ids, turns = _setup(tmp_path)
    victim = ids[0]
    s1.req_seq += 1
    rig.engine.link_data(s1, encode_frame(Cancel("r0", req_seq=s1.req_seq)), rig.clock())
    rig.engine.flush()
    _kill(rig, "ACC1")
    rig.engine.kill_lifted(None)  # a firm-wide resume does not lift the account's kill
    assert rig.engine.killed_scopes == {"ACC1"}
    rig.engine.kill_lifted("ACC1")  # gateway resume --account ACC1
    rig.venue.cancel_reject(victim)
    rig.engine.flush()
    while turns:
        turns.pop(0)()
    assert rig.engine.orders[victim].state is OrderState.PENDING_CANCEL  # walk59b: LIVE
    assert _cancels(rig).count(victim) == 2  # its strategy's, refused; the kill's
    rig.engine.journal.close()
    _, recovered = _restart(tmp_path)
    assert victim not in recovered.kill_owed  # the live process and the restart agree: paid


def test_kill_at_a_venue_whose_session_ended_then_restart_owes_nothing(tmp_path: Path) -> None:
    # rev59merge LOW 4: the kill's Cancels were refused VENUE_SESSION_ENDED without a record, so every restart that
    # day owed them and logged "cut short" though the walk had ended
    rig, _, _, ids, turns = _setup(tmp_path)
    rig.venue.set_state(VenueState.ENDED)  # End of Session; the orders still open in the gateway
    rig.engine.flush()
    _kill(rig, "ACC1")
    while turns:
        turns.pop(0)()  # the walk runs to its end
    assert not _cancels(rig) and all(rig.engine.orders[i].state is OrderState.LIVE for i in ids)
    rig.engine.journal.close()
    fresh, recovered = _restart(tmp_path)
    assert not recovered.kill_owed, len(recovered.kill_owed)  # walk59: all 1,546
    assert all(fresh.engine.orders[i].state is OrderState.LIVE and not fresh.engine.orders[i].own_cancel for i in ids)


# ---- walk59c: rev59merge9 MEDIUM 1, LOW 3, LOW 4 -------------------------------------------------------------


def _resume(rig: Rig, account: str) -> None:
    """What ``gateway resume --account`` does to the journal and the engine."""
    rig.engine.journal.append(JTradingState(account, "ACTIVE", "ops", "walk59c drill", 2))
    rig.engine.flush()
    rig.engine.kill_lifted(account)


def test_order_live_at_kill_strategy_cancel_mid_walk_refused_after_resume_then_live_and_restart_agree(
    tmp_path: Path,
) -> None:
    # rev59merge9 MEDIUM 1: LIVE at the kill; its strategy's Cancel, sent mid-walk before the walk reached it, made
    # the walk pass it over; the officer resumed; the venue refused that Cancel. walk59b: the live process sent
    # nothing (the order worked on) while a restart owed it and canceled it ("cut short")
    rig, s1, _, ids, turns = _setup(tmp_path)
    _kill(rig, "ACC1")
    victim = ids[-1]
    s1.req_seq += 1
    rig.engine.link_data(s1, encode_frame(Cancel(f"r{RESTING - 1}", req_seq=s1.req_seq)), rig.clock())
    rig.engine.flush()
    _resume(rig, "ACC1")
    while turns:
        turns.pop(0)()
    assert _cancels(rig).count(victim) == 1  # the strategy's: the walk passed it over
    rig.venue.cancel_reject(victim)
    rig.engine.flush()
    order = rig.engine.orders[victim]
    assert order.state is OrderState.PENDING_CANCEL and order.own_cancel, order.state  # walk59b: LIVE
    assert _cancels(rig).count(victim) == 2
    rig.engine.journal.close()
    fresh, recovered = _restart(tmp_path)
    assert victim not in recovered.kill_owed  # paid: the restart sends nothing either
    assert fresh.engine.cancel_owed(list(recovered.kill_owed.values())) == 0 and not _cancels(fresh)


def test_restart_before_the_refusal_then_the_restarted_engine_sends_the_kills_cancel_at_it(tmp_path: Path) -> None:
    # the same order, the process stopped before the venue refused: the start leaves it to its strategy's Cancel in
    # flight, and the restarted engine sends the kill's Cancel at the refusal, resume or not (Recovered.kill_owed)
    rig, s1, _, ids, turns = _setup(tmp_path)
    _kill(rig, "ACC1")
    victim = ids[-1]
    s1.req_seq += 1
    rig.engine.link_data(s1, encode_frame(Cancel(f"r{RESTING - 1}", req_seq=s1.req_seq)), rig.clock())
    rig.engine.flush()
    _resume(rig, "ACC1")
    while turns:
        turns.pop(0)()
    rig.engine.journal.close()
    fresh, recovered = _restart(tmp_path)
    assert sorted(recovered.kill_owed) == [victim] and not fresh.engine.killed_scopes
    assert fresh.engine.cancel_owed(list(recovered.kill_owed.values())) == 0  # its strategy's Cancel in flight
    fresh.venue.seq = rig.venue.seq
    fresh.venue.cancel_reject(victim)
    fresh.engine.flush()
    assert _cancels(fresh) == [victim] and fresh.engine.orders[victim].own_cancel


def test_strategy_cancel_refused_before_the_walk_reaches_it_then_own_refused_then_the_walk_sends_no_third(
    tmp_path: Path,
) -> None:
    # rev59merge9 LOW 3: the kill's Cancel, sent at the refusal of the strategy's, refused too; the walk reaching the
    # order later sent a third (ops guide: once)
    rig, s1, _, ids, turns = _setup(tmp_path)
    victim = ids[-1]
    s1.req_seq += 1
    rig.engine.link_data(s1, encode_frame(Cancel(f"r{RESTING - 1}", req_seq=s1.req_seq)), rig.clock())
    rig.engine.flush()
    _kill(rig, "ACC1")
    rig.venue.cancel_reject(victim)  # the strategy's refused: the kill's Cancel now
    rig.engine.flush()
    assert _cancels(rig).count(victim) == 2
    rig.venue.cancel_reject(victim)  # the gateway's own refused too: logged
    rig.engine.flush()
    while turns:
        turns.pop(0)()
    assert _cancels(rig).count(victim) == 2, _cancels(rig).count(victim)  # walk59b: 3
    assert rig.engine.orders[victim].state is OrderState.LIVE
    rig.engine.journal.close()
    _, recovered = _restart(tmp_path)
    assert victim not in recovered.kill_owed


def test_strategy_retries_after_the_kills_cancel_was_refused_then_no_more_cancels_of_the_gateways_own() -> None:
    # rev59merge9 LOW 3: each refusal of a strategy's retried Cancel brought one more Cancel of the gateway's own
    # (Cboe: 11 Cancels for one order with 5 retries)
    rig, s1, _, ids, turns = _setup()
    victim = ids[0]
    _kill(rig, "ACC1")
    while turns:
        turns.pop(0)()
    rig.venue.cancel_reject(victim)  # the kill's Cancel refused: logged, the order stays open
    rig.engine.flush()
    for attempt in range(5):
        s1.req_seq += 1
        rig.engine.link_data(s1, encode_frame(Cancel("r0", req_seq=s1.req_seq)), rig.clock())
        rig.engine.flush()
        rig.venue.cancel_reject(victim)
        rig.engine.flush()
        assert _cancels(rig).count(victim) == 2 + attempt, attempt  # the kill's, then the strategy's only
    assert rig.engine.orders[victim].state is OrderState.LIVE
    refusals = [m for m in s1.received() if isinstance(m, CancelRejected)]
    assert len(refusals) == 5  # each of its Cancels answered once


def test_kill_at_an_ended_venue_then_each_reconnect_journals_nothing_more(tmp_path: Path) -> None:
    # rev59merge9 LOW 4: every disconnect policy's Cancel after a kill at an ENDED venue journaled two records per
    # open order (JCancelQueued.own, JCancelRefused): the kill's were tried once, that is enough
    rig, s1, _, ids, turns = _setup(tmp_path)
    rig.venue.set_state(VenueState.ENDED)
    rig.engine.flush()
    _kill(rig, "ACC1")
    while turns:
        turns.pop(0)()
    rig.engine.flush()
    journal = tmp_path / "j"
    sizes = [journal.stat().st_size]
    for _ in range(2):
        s1.closed = True
        rig.engine.link_closed(s1)  # policy "cancel": refused VENUE_SESSION_ENDED, logged
        while turns:
            turns.pop(0)()
        rig.engine.flush()
        sizes.append(journal.stat().st_size)
        s1 = self_numbered_link(rig, "S1", last_seq=s1.req_seq)
    assert sizes[1] - sizes[0] < 1_000 and sizes[2] - sizes[1] < 1_000, sizes  # walk59b: +2 records per order
    assert not _cancels(rig) and all(rig.engine.orders[i].state is OrderState.LIVE for i in ids)
    rig.engine.journal.close()
    _, recovered = _restart(tmp_path)
    assert not recovered.kill_owed

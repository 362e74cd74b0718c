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
from gateway.protocol.messages import Cancel, MassCancel, NewOrder
from gateway.recovery import recover
from model.enums import Side
from model.order import OrderState
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
    rig.venue.cancel_reject(refused)  # too late, says the venue: it works on
    rig.engine.flush()
    assert _cancels(rig) == [*ids[:MASS_CANCEL_WALK_SLICE], in_flight, refused]
    rig.engine.journal.close()  # the process dies before the walk's next slice
    journal = journal_of_kind("file", tmp_path / "j")
    scan = JournalScan()
    recovered = recover(journal.records(scan), scan)
    journal.cut_torn_tail(scan)
    fresh = Rig(journal=journal)
    fresh.engine.adopt(recovered)
    assert fresh.engine.orders[in_flight].state is OrderState.PENDING_CANCEL  # its venue answers it at reconnect
    assert fresh.engine.cancel_owed(list(recovered.kill_owed.values())) == len(ids) - MASS_CANCEL_WALK_SLICE - 1
    assert _cancels(fresh) == ids[MASS_CANCEL_WALK_SLICE:-1]  # the refused one owed still; none sent twice


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

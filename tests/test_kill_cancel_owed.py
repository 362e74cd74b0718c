"""The kill's Cancel is a per-order fact, whatever Cancel was held or in flight at the kill (kill60, rev59merge17).

Every order open at a kill gets the kill's Cancel once. An order whose Cancel was wanted at the kill (a disconnect
policy's or the stop's own, or its strategy's) is owed it until the gateway sends a fresh Cancel of its own for it:
if the Cancel wanted is refused (by the venue or by the adapter at its release), the kill's goes then. An order
whose earlier kill's Cancel is still wanted (joined by its strategy's Cancel or not) is owed nothing more by a second
kill. A restart owes what the live process owes (``Recovered.kill_owed``, ``Recovered.kill_sent``). The harness
venue and a file journal; the walk's loop turns run by hand.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from gateway.engine import MASS_CANCEL_WALK_SLICE
from gateway.journal import JournalScan, JTradingState
from gateway.protocol.framing import encode_frame
from gateway.protocol.messages import Cancel, CancelRejected, NewOrder
from gateway.recovery import Recovered, recover
from model.enums import Side
from model.order import Order, OrderState
from model.send_result import Refused, Sent
from model.venue_events import VenueState
from tests.harness import MemoryLink, Rig, journal_of_kind, self_numbered_link

pytestmark = pytest.mark.timeout(120)

COUNTS = [3, 3 * MASS_CANCEL_WALK_SLICE + 10]  # one turn, and a kill walked over several


def _turns(rig: Rig) -> list[Callable[[], None]]:
    queued: list[Callable[[], None]] = []
    rig.engine.replay_scheduler = lambda callback, delay: queued.append(callback)
    return queued


def _drain(turns: list[Callable[[], None]]) -> None:
    while turns:
        turns.pop(0)()


def _rest(rig: Rig, link: MemoryLink, count: int) -> list[int]:
    frames = []
    for n in range(count):
        link.req_seq += 1
        order = NewOrder(f"r{n}", "ACC1", "V1", "AAPL", Side.BUY, 100, 1_000_000, req_seq=link.req_seq)
        frames.append(encode_frame(order))
    rig.engine.link_data(link, b"".join(frames), rig.clock())
    ids = [rig.order("S1", f"r{n}").order_id for n in range(count)]
    for order_id in ids:
        rig.venue.accept(order_id, 1_000_000)
    rig.engine.flush()
    link.received()
    return ids


def _setup(tmp_path: Path, count: int) -> tuple[Rig, MemoryLink, list[int], list[Callable[[], None]]]:
    rig = Rig(journal=journal_of_kind("file", tmp_path / "j"))
    s1 = self_numbered_link(rig, "S1")
    return rig, s1, _rest(rig, s1, count), _turns(rig)


def _kill(rig: Rig) -> int:
    rig.engine.journal.append(JTradingState("ACC1", "HALTED", "ops", "kill60 drill", 1))
    return rig.engine.cancel_all("ACC1", walk=True)


def _cancel(rig: Rig, link: MemoryLink, cl_ord_id: str) -> None:
    link.req_seq += 1
    rig.engine.link_data(link, encode_frame(Cancel(cl_ord_id, req_seq=link.req_seq)), rig.clock())
    rig.engine.flush()


def _cancels(rig: Rig, order_id: int) -> int:
    return sum(1 for command in rig.venue.commands if command[0] == "cancel" and command[1] == order_id)


def _recovered(rig: Rig, path: Path) -> Recovered:
    rig.engine.journal.close()
    journal = journal_of_kind("file", path)
    scan = JournalScan()
    recovered = recover(journal.records(scan), scan)
    journal.close()
    return recovered


def _restart(path: Path) -> tuple[Rig, Recovered]:
    journal = journal_of_kind("file", path)
    scan = JournalScan()
    recovered = recover(journal.records(scan), scan)
    journal.cut_torn_tail(scan)
    fresh = Rig(journal=journal)
    fresh.engine.adopt(recovered)
    return fresh, recovered


def _owed_live(rig: Rig, order: Order) -> bool:
    return order.order_id in rig.engine._kill_owed  # the engine's own, compared with recovery's


@pytest.mark.parametrize("count", COUNTS)
def test_policy_cancel_in_flight_at_the_kill_refused_brings_the_kills_cancel_once(tmp_path: Path, count: int) -> None:
    rig, s1, ids, turns = _setup(tmp_path, count)
    s1.closed = True
    rig.engine.link_closed(s1)  # on_disconnect cancel: the policy's own Cancels go out
    _drain(turns)
    victim = rig.engine.orders[ids[-1]]
    assert (victim.state, victim.own_cancel) == (OrderState.PENDING_CANCEL, True)
    assert _kill(rig) == count  # its answer counts the order
    _drain(turns)
    assert _cancels(rig, victim.order_id) == 1  # the policy's is in flight: the kill waits for its answer
    rig.venue.cancel_reject(victim.order_id)
    rig.engine.flush()
    _drain(turns)
    assert _cancels(rig, victim.order_id) == 2, "the policy's Cancel refused: the kill's Cancel must follow"
    rig.venue.cancel_reject(victim.order_id)  # the kill's refused too: once per order, the order stays open
    rig.engine.flush()
    assert _cancels(rig, victim.order_id) == 2 and victim.state is OrderState.LIVE
    assert not _owed_live(rig, victim)
    recovered = _recovered(rig, tmp_path / "j")
    assert victim.order_id not in recovered.kill_owed and victim.order_id not in recovered.kill_sent


@pytest.mark.parametrize("count", COUNTS)
def test_restart_with_the_policy_cancel_in_flight_owes_the_kills_cancel_at_its_refusal(
    tmp_path: Path, count: int
) -> None:
    """Live and restart agree: the restart owes the order (the journal shows no Cancel after the kill) and sends the
    kill's Cancel when the venue refuses the policy's at the reconnect."""
    rig, s1, ids, turns = _setup(tmp_path, count)
    s1.closed = True
    rig.engine.link_closed(s1)
    _drain(turns)
    _kill(rig)
    _drain(turns)
    victim = ids[-1]
    rig.engine.journal.close()
    fresh, recovered = _restart(tmp_path / "j")
    assert victim in recovered.kill_owed, "open at the kill with only the policy's Cancel in flight: still owed"
    assert fresh.engine.cancel_owed(list(recovered.kill_owed.values())) == 0  # in flight: left to its answer
    fresh.venue.seq = 10**6  # past the numbers the journal has seen (the harness venue starts again at 1)
    fresh.venue.cancel_reject(victim)
    fresh.engine.flush()
    assert _cancels(fresh, victim) == 1, "the policy's Cancel refused after the restart: the kill's Cancel follows"
    assert fresh.engine.orders[victim].state is OrderState.PENDING_CANCEL


def test_policy_cancel_held_at_the_kill_released_and_refused_brings_the_kills_cancel(tmp_path: Path) -> None:
    rig, s1, ids, turns = _setup(tmp_path, 3)
    victim = ids[-1]
    rig.venue.set_state(VenueState.DISCONNECTED)
    rig.engine.flush()
    s1.closed = True
    rig.engine.link_closed(s1)  # the policy's Cancels held (venue down)
    assert rig.engine.orders[victim].state is OrderState.LIVE_HELD_CANCEL
    assert _kill(rig) == 3
    _drain(turns)
    rig.venue.set_state(VenueState.UP)  # the held policy Cancels go out: not the kill's
    rig.engine.flush()
    _drain(turns)
    assert _cancels(rig, victim) == 1
    rig.venue.cancel_reject(victim)
    rig.engine.flush()
    assert _cancels(rig, victim) == 2, "the held policy Cancel refused after the kill: the kill's Cancel must follow"
    assert not _owed_live(rig, rig.engine.orders[victim])
    assert victim not in _recovered(rig, tmp_path / "j").kill_owed


def test_held_strategy_cancel_refused_by_the_adapter_at_release_brings_the_kills_cancel(tmp_path: Path) -> None:
    rig, s1, ids, turns = _setup(tmp_path, 3)
    victim = ids[-1]
    rig.venue.set_state(VenueState.DISCONNECTED)
    rig.engine.flush()
    _cancel(rig, s1, "r2")  # held: the venue is down
    assert rig.engine.orders[victim].state is OrderState.LIVE_HELD_CANCEL
    _kill(rig)
    _drain(turns)
    real = rig.venue.send_cancel
    refused: list[int] = []

    def send_cancel(order: Order) -> Sent | Refused:
        if order.order_id == victim and not refused:
            refused.append(order.order_id)
            return Refused("SESSION_CHANGED", "the venue session changed")
        return real(order)

    rig.venue.send_cancel = send_cancel  # type: ignore[method-assign]  # the harness venue (not a compiled class)
    rig.venue.set_state(VenueState.UP)
    rig.engine.flush()
    _drain(turns)
    assert refused == [victim]
    assert [m.cl_ord_id for m in s1.received() if isinstance(m, CancelRejected)] == ["r2"]
    assert _cancels(rig, victim) == 1, "the strategy's held Cancel refused by the adapter: the kill's must go"
    assert rig.engine.orders[victim].state is OrderState.PENDING_CANCEL
    assert not _owed_live(rig, rig.engine.orders[victim])
    assert victim not in _recovered(rig, tmp_path / "j").kill_owed  # live and restart agree


@pytest.mark.parametrize("count", COUNTS)
def test_strategy_joins_the_kills_cancel_then_a_second_kill_then_refused_one_gateway_cancel(
    tmp_path: Path, count: int
) -> None:
    rig, s1, ids, turns = _setup(tmp_path, count)
    victim = ids[-1]
    _kill(rig)
    _drain(turns)
    _cancel(rig, s1, f"r{count - 1}")  # joins the kill's Cancel in flight
    assert not rig.engine.orders[victim].own_cancel
    _kill(rig)  # a second kill: the first one's Cancel is still wanted, it owes nothing more
    _drain(turns)
    rig.venue.cancel_reject(victim)
    rig.engine.flush()
    assert _cancels(rig, victim) == 1, "kill 1's Cancel (joined) refused: no second gateway Cancel for kill 2"
    assert rig.engine.orders[victim].state is OrderState.LIVE
    assert not _owed_live(rig, rig.engine.orders[victim])
    recovered = _recovered(rig, tmp_path / "j")
    assert victim not in recovered.kill_owed


@pytest.mark.parametrize("count", COUNTS)
def test_kills_cancel_joined_restart_second_kill_owes_nothing_more(tmp_path: Path, count: int) -> None:
    rig, s1, ids, turns = _setup(tmp_path, count)
    victim = ids[-1]
    _kill(rig)
    _drain(turns)
    _cancel(rig, s1, f"r{count - 1}")
    rig.engine.journal.close()
    fresh, recovered = _restart(tmp_path / "j")
    assert victim in recovered.kill_sent
    turns2 = _turns(fresh)
    _kill(fresh)
    _drain(turns2)
    fresh.venue.seq = 10**6
    fresh.venue.cancel_reject(victim)
    fresh.engine.flush()
    assert _cancels(fresh, victim) == 0
    assert fresh.engine.orders[victim].state is OrderState.LIVE


def test_kill_cancel_refused_then_a_later_kill_sends_its_own(tmp_path: Path) -> None:
    """A kill whose Cancel was refused is paid; a later kill is a new one: its Cancel goes (live and restart)."""
    rig, _s1, ids, _walk = _setup(tmp_path, 3)
    victim = ids[-1]
    _kill(rig)
    rig.venue.cancel_reject(victim)
    rig.engine.flush()
    assert rig.engine.orders[victim].state is OrderState.LIVE and _cancels(rig, victim) == 1
    _kill(rig)
    assert _cancels(rig, victim) == 2
    recovered = _recovered(rig, tmp_path / "j")
    assert victim not in recovered.kill_owed and victim in recovered.kill_sent

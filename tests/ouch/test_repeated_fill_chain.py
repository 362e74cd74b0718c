"""The OUCH adapter's own bookkeeping of a repeated Executed (ouchfix31).

The core refuses a fill whose Match Number the order already applied (``gateway.venue_apply.executed``,
fills30). The adapter keeps its own open quantity per order (its chain), and once that reaches 0 the order is
over at the venue for it: nothing of the order is held for re-sending after a re-login any more. A repeated
Executed (a server that restarted its numbering and sends an execution again under a new number) must not count
twice there either, or the adapter drops a Cancel still in flight for an order that is in fact still open.
Against the sans-IO simulator, through a real engine and journal.
"""

from __future__ import annotations

from pathlib import Path

from gateway.engine import Engine
from gateway.protocol.messages import Cancel, Canceled, Executed, NewOrder
from model.enums import Side
from model.order import OrderState
from model.venue_events import VenueState
from tests.harness import MemoryLink, Rig
from tests.ouch.harness import PX, TS, Link, gateway_over, renumber_and_resend, restart_from_journal
from venues.ouch.codec import encode_message
from venues.ouch.messages import OrderCanceled, OrderExecuted

RESTING = PX - 100


def _resting_order(link: Link, engine: Engine, rig: Rig, strat: MemoryLink, cl_ord_id: str, side: Side) -> int:
    price = RESTING if side is Side.BUY else PX + 100
    rig.send(strat, NewOrder(cl_ord_id, "ACC1", "nasdaq", "AAPL", side, 100, price))
    link.pump()
    engine.flush()
    strat.received()
    return int(engine.strategies["S1"].orders[cl_ord_id].venue_ref)


def _open_qty(link: Link, engine: Engine, cl_ord_id: str) -> tuple[int, bool]:
    """Return the adapter's open quantity for the order and whether it holds the order over at the venue."""
    chain = link.venue._chains[engine.strategies["S1"].orders[cl_ord_id].order_id]
    return chain.open_qty, chain.done


def test_executed_sent_again_then_a_cancel_lost_in_a_cut_is_still_sent_again_after_the_relogin(
    tmp_path: Path,
) -> None:
    link = Link(tmp_path / "ouch")
    engine, rig = gateway_over(link, tmp_path / "j1")
    link.connect()
    strat = rig.connect("S1")
    strat.received()
    user_ref_num = _resting_order(link, engine, rig, strat, "A", Side.BUY)
    assert link.core.exchange.execute(user_ref_num, 60)
    link.pump()
    engine.flush()
    fill_sequence = link.core.stream.next_sequence - 1
    assert _open_qty(link, engine, "A") == (40, False)

    renumber_and_resend(link, engine, fill_sequence)
    assert (link.venue.status()["numbering_restarts"], engine.counters.repeated_fills) == (1, 1)
    assert _open_qty(link, engine, "A") == (40, False)  # as after the one fill (old: -20, over at the venue)

    rig.send(strat, Cancel("A"))
    engine.flush()
    assert link.venue.status()["awaiting_answer"] == 1  # the Cancel, held until the venue answers it
    link.disconnect()  # the Cancel never reached the venue
    assert [m for m in strat.received() if isinstance(m, Canceled)] == []

    link.connect()  # reads the replay, asks NextUserRefNum, sends the Cancel again
    engine.flush()
    assert link.venue.state is VenueState.UP
    assert link.venue.status()["resent"] == 1
    canceled = [m for m in strat.received() if isinstance(m, Canceled)]
    assert [(m.canceled_qty, m.leaves_qty) for m in canceled] == [(40, 0)]
    order = engine.strategies["S1"].orders["A"]
    assert (order.cum_qty, order.leaves_qty, order.state) == (60, 0, OrderState.CANCELED)
    venue_canceled = [(m.user_ref_num, m.quantity) for _s, m in link.core.outbound() if isinstance(m, OrderCanceled)]
    assert venue_canceled == [(user_ref_num, 40)]  # nothing of the order left open at the venue


def test_executed_when_both_sides_of_one_trade_are_ours_then_each_chain_counts_its_own(tmp_path: Path) -> None:
    """OUCH gives the buy and the sell of one trade the same Match Number: the ids are per order."""
    link = Link(tmp_path / "ouch")
    engine, rig = gateway_over(link, tmp_path / "j1")
    link.connect()
    strat = rig.connect("S1")
    strat.received()
    buy = _resting_order(link, engine, rig, strat, "B", Side.BUY)
    sell = _resting_order(link, engine, rig, strat, "S", Side.SELL)
    match = 987_654
    for user_ref_num in (buy, sell):
        link.core.stream.append(encode_message(OrderExecuted(TS, user_ref_num, 30, PX, "A", match)))
    link.pump()
    engine.flush()
    assert [(m.cl_ord_id, m.qty, m.exec_id) for m in strat.received() if isinstance(m, Executed)] == [
        ("B", 30, str(match)),
        ("S", 30, str(match)),
    ]
    assert (_open_qty(link, engine, "B"), _open_qty(link, engine, "S")) == ((70, False), (70, False))
    assert engine.counters.repeated_fills == 0

    link.core.stream.append(encode_message(OrderExecuted(TS, sell, 30, PX, "A", match)))  # a copy for the sell
    link.pump()
    engine.flush()
    assert engine.counters.repeated_fills == 1
    assert (_open_qty(link, engine, "B"), _open_qty(link, engine, "S")) == ((70, False), (70, False))


def test_executed_sent_again_after_a_gateway_restart_then_the_restored_chain_counts_it_once(tmp_path: Path) -> None:
    """After a restart the chain is rebuilt from the recovered order, whose ids the journal brought back."""
    first = Link(tmp_path / "ouch")
    engine, rig = gateway_over(first, tmp_path / "j1")
    first.connect()
    strat = rig.connect("S1")
    strat.received()
    user_ref_num = _resting_order(first, engine, rig, strat, "A", Side.BUY)
    assert first.core.exchange.execute(user_ref_num, 30)
    first.pump()
    engine.flush()
    fill_sequence = first.core.stream.next_sequence - 1
    engine.journal.close()

    second, engine2, _rig2 = restart_from_journal(first, tmp_path)
    assert _open_qty(second, engine2, "A") == (70, False)
    renumber_and_resend(second, engine2, fill_sequence)
    assert engine2.counters.repeated_fills == 1
    assert _open_qty(second, engine2, "A") == (70, False)  # old: 40

"""An OUCH Executed the gateway applied, sent again by a server that restarted its numbering (fills30).

When Login Accepted names a sequence below the one requested, the server's numbering restarted
(``numbering_restarts``; a new exactly-once epoch): its messages from that number on are taken as new. If
the server then sends again an Executed the gateway already applied, its number is new but its Match Number
is not: the core does not apply it a second time (it was: a double fill, "120 of 100", the real last fill
dropped as out of place). Against the sans-IO simulator, through a real engine and journal.
"""

from __future__ import annotations

from pathlib import Path

from gateway.engine import Engine
from gateway.protocol.messages import Executed, NewOrder
from model.enums import Side
from model.order import OrderState
from simulators.ouch.exchange import ExchangeConfig
from simulators.ouch.simulator import SimulatorConfig
from tests.harness import MemoryLink, Rig
from tests.ouch.harness import PX, Link, gateway_over, renumber_and_resend, restart_from_journal
from venues.ouch.messages import OrderExecuted

RESTING = PX - 100


def _executed(link: MemoryLink) -> list[tuple[int, int, str]]:
    return [(m.qty, m.cum_qty, m.exec_id) for m in link.received() if isinstance(m, Executed)]


def _resting_order(link: Link, engine: Engine, rig: Rig, qty: int = 100) -> tuple[MemoryLink, int]:
    strat = rig.connect("S1")
    rig.send(strat, NewOrder("A", "ACC1", "nasdaq", "AAPL", Side.BUY, qty, RESTING))
    link.pump()
    engine.flush()
    strat.received()
    return strat, int(engine.strategies["S1"].orders["A"].venue_ref)


def _execute(link: Link, engine: Engine, user_ref_num: int, qty: int) -> None:
    assert link.core.exchange.execute(user_ref_num, qty)
    link.pump()
    engine.flush()


def test_executed_when_a_renumbered_server_sends_it_again_then_applied_once(tmp_path: Path) -> None:
    link = Link(tmp_path / "ouch", sim=SimulatorConfig(exchange=ExchangeConfig(reference_prices={"AAPL": PX})))
    engine, rig = gateway_over(link, tmp_path / "j1")
    link.connect()
    strat, user_ref_num = _resting_order(link, engine, rig)
    _execute(link, engine, user_ref_num, 60)
    ((_, executed),) = [(s, m) for s, m in link.core.outbound() if isinstance(m, OrderExecuted)]
    assert _executed(strat) == [(60, 60, str(executed.match_number))]
    fill_sequence = link.core.stream.next_sequence - 1

    renumber_and_resend(link, engine, fill_sequence)
    assert link.venue.status()["numbering_restarts"] == 1
    assert _executed(strat) == []  # the copy: same Match Number, new sequence number
    assert engine.counters.repeated_fills == 1

    _execute(link, engine, user_ref_num, 40)  # the venue's real last fill
    ((qty, cum, _match),) = _executed(strat)
    assert (qty, cum) == (40, 100)
    order = engine.strategies["S1"].orders["A"]
    assert (order.cum_qty, order.leaves_qty, order.state) == (100, 0, OrderState.FILLED)
    assert (engine.counters.overfills, engine.counters.venue_events_out_of_place) == (0, 0)


def test_executed_when_sent_again_after_a_gateway_restart_then_the_journal_knows_its_match_number(
    tmp_path: Path,
) -> None:
    first = Link(tmp_path / "ouch")
    engine, rig = gateway_over(first, tmp_path / "j1")
    first.connect()
    _strat, user_ref_num = _resting_order(first, engine, rig)
    _execute(first, engine, user_ref_num, 30)
    fill_sequence = first.core.stream.next_sequence - 1
    engine.journal.close()

    second, engine2, rig2 = restart_from_journal(first, tmp_path)  # the ids come back with the journal's replay
    assert engine2.strategies["S1"].orders["A"].exec_id != ""
    strat2 = rig2.connect("S1")
    strat2.received()
    renumber_and_resend(second, engine2, fill_sequence)
    assert second.venue.status()["numbering_restarts"] == 1
    assert engine2.counters.repeated_fills == 1
    _execute(second, engine2, user_ref_num, 70)
    assert [(qty, cum) for qty, cum, _id in _executed(strat2)] == [(70, 100)]
    assert engine2.strategies["S1"].orders["A"].state is OrderState.FILLED

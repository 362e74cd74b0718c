"""BOE: the probes' deadline while the journal cannot be written (held54).

While the journal fails (disk full) the engine holds every venue byte: "the orders already taken wait and go out
then" (docs/reliability.md 2.3a). A reconnect meanwhile (the login goes out, the replay comes in) queues the probe of
a New Order Cboe received but never answered (a Cancel Order of its ClOrdID, ``after_replay``); the probe is held
with the rest. Before: ``PROBE_TIMEOUT_NS`` after Replay Complete the adapter reported the order refused
``BOE_ANSWER_LOST`` ("no acknowledgment came within 5 s") while its probe had never left. Now the wait does not run
while the bytes are held: it starts when they leave, and an order Cboe truly never acknowledged is still reported
refused once the wait is over.

Real engine and FileJournal over the BOE simulator (fake clock); only ``Engine.flush`` writes to the venue.
"""

from __future__ import annotations

from pathlib import Path

from gateway.protocol.messages import NewOrder, OrderRejected, VenueStatus
from model.enums import Side
from model.order import Order, OrderState
from simulators.boe.exchange import BoeExchangeConfig
from simulators.boe.simulator import SimulatorConfig
from tests.boe.harness import PX, Link, gateway_over
from tests.journal_full import connect, journal_full, run
from venues.boe.adapter import PROBE_TIMEOUT_NS

WAIT_MS = PROBE_TIMEOUT_NS // 1_000_000


def _state(order: Order) -> OrderState:
    return order.state  # read afresh (the engine changes it)


def _events(strat: object) -> list[object]:
    return [m for m in strat.received() if not isinstance(m, VenueStatus)]  # type: ignore[attr-defined]


def _probes(link: Link) -> int:
    return len([r for r in link.exchange_records if r.type == "Cancel Order"])


def test_probe_held_while_the_journal_fails_when_longer_than_its_wait_then_timed_from_when_it_left(
    tmp_path: Path,
) -> None:
    exchange = BoeExchangeConfig(
        units=3,
        symbol_units={"AAPL": 1, "MSFT": 2, "SPY": 3},
        reference_prices={"AAPL": PX, "MSFT": PX, "SPY": PX},
        reject_symbols=frozenset({"SPY"}),  # refused unsequenced: the answer is lost in the cut below
    )
    link = Link(tmp_path / "boe", sim=SimulatorConfig(exchange=exchange, client_timeout_ms=60_000))
    engine, rig = gateway_over(link, tmp_path / "journal")
    connect(link, engine)
    strat = rig.connect("S1")
    strat.received()  # the Welcome
    rig.send(strat, NewOrder("lost", "ACC1", "cboe", "SPY", Side.BUY, 100, PX - 100))
    engine.flush()  # journaled, written to the connection
    link.disconnect(lose_unsent=False)  # Cboe gets it and refuses it unsequenced; the cut loses the answer
    (order,) = engine.orders.values()
    assert _state(order) is OrderState.PENDING_NEW
    assert _events(strat) == []
    with journal_full(engine):
        rig.send(strat, NewOrder("meanwhile", "ACC1", "cboe", "AAPL", Side.BUY, 100, PX - 100))
        engine.flush()  # its refusal (the venue is down) cannot be journaled: the journal fails from here
        assert engine.journal_error
        connect(link, engine)  # the login leaves (the adapter writes it); Replay Complete: the probe is queued
        assert link.venue.counters["probes"] == 1 and _probes(link) == 0
        run(link, engine, 2 * WAIT_MS)  # twice the probe's wait
        assert link.venue.counters["answers_lost"] == 0  # before: 1, "no acknowledgment came within 5 s"
        assert _state(order) is OrderState.PENDING_NEW  # before: REJECTED
        assert _probes(link) == 0  # the probe never left
        assert _events(strat) == []
    run(link, engine, WAIT_MS - 1_000)  # free again: the probe leaves (Cboe rejects it), its wait starts now
    assert not engine.journal_error
    assert _probes(link) == 1
    assert link.venue.counters["answers_lost"] == 0 and _state(order) is OrderState.PENDING_NEW
    (refused,) = _events(strat)  # the answer held with the journal: the order of the spell
    assert isinstance(refused, OrderRejected) and refused.cl_ord_id == "meanwhile", refused
    run(link, engine, 2_000)  # the wait is over: Cboe truly never acknowledged it
    (rejected,) = _events(strat)
    assert isinstance(rejected, OrderRejected) and rejected.cl_ord_id == "lost", rejected
    assert rejected.code == "BOE_ANSWER_LOST", rejected
    assert _state(order) is OrderState.REJECTED and link.venue.counters["answers_lost"] == 1
    assert link.core.exchange.violations == []

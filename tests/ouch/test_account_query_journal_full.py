"""OUCH: the Account Query's timeout while the journal cannot be written (held54).

While the journal fails (disk full) the engine holds every venue byte (docs/reliability.md 2.3a). A reconnect
meanwhile (the login goes out, the replay comes in) with an Enter unanswered queues the Account Query that asks the
venue its NextUserRefNum (``on_caught_up``); the query is held with the rest. Before: ``server_timeout_ms`` later the
adapter took it as unanswered and settled the Enter without the venue's number (``_resolve_unanswered(None)``:
reported back, the strategy told OrderRejected) while the query had never left. Now its timeout waits for the
query to leave: the venue's answer says it never had the Enter, which goes out again and is accepted. The adapter
also no longer asks to be polled every nanosecond while the sweep waits (it did since stop 53, for the whole spell).

Real engine and FileJournal over the OUCH simulator (fake clock); only ``Engine.flush`` writes to the venue.
"""

from __future__ import annotations

from pathlib import Path

from gateway.protocol.messages import NewOrder, OrderAccepted, OrderRejected, VenueStatus
from model.enums import Side
from model.order import Order, OrderState
from simulators.ouch.exchange import ExchangeConfig
from simulators.ouch.simulator import SimulatorConfig
from tests.journal_full import connect, journal_full, run
from tests.ouch.harness import PX, Link, gateway_over

RESTING = PX - 100


def _state(order: Order) -> OrderState:
    return order.state  # read afresh (the engine changes it)


def _events(strat: object) -> list[object]:
    return [m for m in strat.received() if not isinstance(m, VenueStatus)]  # type: ignore[attr-defined]


def test_account_query_held_while_the_journal_fails_when_longer_than_its_timeout_then_answered_and_enter_resent(
    tmp_path: Path,
) -> None:
    exchange = ExchangeConfig(reference_prices={"AAPL": PX}, strict_user_ref_num=True)
    link = Link(tmp_path / "ouch", sim=SimulatorConfig(exchange=exchange, client_timeout_ms=120_000))
    engine, rig = gateway_over(link, tmp_path / "journal")
    connect(link, engine)
    run(link, engine, 1_000)
    strat = rig.connect("S1")
    strat.received()  # the Welcome
    rig.send(strat, NewOrder("lost", "ACC1", "nasdaq", "AAPL", Side.BUY, 100, RESTING))
    engine.flush()  # journaled and written; the cut loses it on its way
    link.disconnect()
    (order,) = engine.orders.values()
    timeout_ms = link.venue._session.config.server_timeout_ns // 1_000_000
    with journal_full(engine):
        rig.send(strat, NewOrder("meanwhile", "ACC1", "nasdaq", "AAPL", Side.BUY, 100, RESTING))
        engine.flush()  # its refusal (the venue is down) cannot be journaled: the journal fails from here
        assert engine.journal_error
        connect(link, engine)  # the login leaves (the adapter writes it); the replay has no answer for the Enter
        run(link, engine, 2 * timeout_ms)  # the first Server Heartbeat: the Account Query is queued, held
        assert link.venue._query_sent_ns  # still waiting for its answer: before, given up at server_timeout_ms
        assert _state(order) is OrderState.PENDING_NEW  # before: REJECTED (reported back, the venue's number unknown)
        assert link.venue.poll(link.clock()) >= 10_000_000  # no busy polling while held (before: 1 ns)
        assert _events(strat) == []
    run(link, engine, 1_000)  # free again: the query leaves, the venue's answer: the Enter goes out again
    assert not engine.journal_error
    events = _events(strat)
    refused = [e for e in events if isinstance(e, OrderRejected)]
    assert [e.cl_ord_id for e in refused] == ["meanwhile"], events  # the spell's own refusal, nothing else
    (accepted,) = [e for e in events if isinstance(e, OrderAccepted)]
    assert accepted.cl_ord_id == "lost" and _state(order) is OrderState.LIVE
    status = link.venue.status()
    assert status["answer_timeouts"] == 0 and status["outcome_unknown"] == 0, status

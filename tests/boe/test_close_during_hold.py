"""BOE: a session that must close while the journal cannot be written closes then (fixhold55, rev55diff MEDIUM).

Cboe goes silent for longer than ``server_timeout`` while the journal is on a full device (the engine holds every
venue byte, docs/reliability.md 2.3a). Before: the adapter's close waited for the engine's venue flush, which the
hold skips: the dead session stayed UP for the whole spell and, once the journal was back, the held New Order was
written into the connection that was to be closed, then it closed. Now it closes when wanted, the held bytes are
dropped (never written to that connection or a later one), and the New Order, unanswered, is settled after the next
Replay Complete like one lost in a cut: its SequenceNumber is above Cboe's LastReceivedSequenceNumber, so it is
re-sent under its ClOrdID, once, and acknowledged (one answer). Also after a restart from the journal, and a stop
during the hold sends the Logout Request without the held New Order.

Real engine and FileJournal over the BOE simulator (fake clock); only ``Engine.flush`` writes to the venue.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gateway.engine import Engine
from gateway.journal import read_journal
from gateway.protocol.messages import NewOrder, OrderAccepted, VenueStatus
from gateway.recovery import recover
from model.enums import Side
from model.order import Order, OrderState
from model.venue_events import VenueState
from simulators.boe.exchange import BoeExchangeConfig
from simulators.boe.simulator import SimulatorConfig
from tests.boe.harness import DAY_NS, PX, Link, gateway_over
from tests.journal_full import connect, journal_full, run
from venues.boe.adapter import BoeVenue, split_ref
from venues.boe.codec import LOGOUT_REQUEST_BYTES

RESTING = PX - 100


def _state(order: Order) -> OrderState:
    return order.state  # read afresh (the engine changes it)


def _events(strat: object) -> list[object]:
    return [m for m in strat.received() if not isinstance(m, VenueStatus)]  # type: ignore[attr-defined]


def _silent(link: Link, engine: Engine, ms: int) -> None:
    """Time passes; Cboe sends nothing (its output is never read), our timers run, the engine flushes."""
    for _ in range(ms // 100):
        if link._close_requested:
            return
        link.clock.advance_ms(100)
        link.venue.poll(link.clock())
        engine.flush()


def _new_orders(link: Link, order: Order) -> int:
    cl_ord_id = split_ref(order.venue_ref)[0]
    return [r.cl_ord_id for r in link.exchange_records if r.type == "New Order"].count(cl_ord_id)


def _session(tmp_path: Path, journal: str = "journal") -> tuple[Link, Engine, Any, Any]:
    """A logged-in session, a real engine journaling to ``tmp_path/journal``, strategy S1 connected."""
    exchange = BoeExchangeConfig(
        units=3,
        symbol_units={"AAPL": 1, "MSFT": 2, "SPY": 3},
        reference_prices={"AAPL": PX, "MSFT": PX, "SPY": PX},
    )
    link = Link(tmp_path / "boe", sim=SimulatorConfig(exchange=exchange, client_timeout_ms=120_000))
    engine, rig = gateway_over(link, tmp_path / journal)
    connect(link, engine)
    run(link, engine, 1_000)
    assert link.venue.state is VenueState.UP
    strat = rig.connect("S1")
    engine.flush()
    strat.received()  # the Welcome
    return link, engine, rig, strat


def _hold_and_go_silent(link: Link, engine: Engine, rig: Any, strat: Any) -> Order:
    """The journal fails (inside ``journal_full``); a New Order is held; Cboe goes silent: the session closes."""
    timeout_ms = link.venue._session.config.server_timeout_ns // 1_000_000
    wire = len(link.wire)
    rig.send(strat, NewOrder("held", "ACC1", "cboe", "AAPL", Side.BUY, 100, RESTING))
    engine.flush()  # its record cannot be written: the hold starts, the New Order is held
    assert engine.journal_error
    (order,) = [o for o in engine.orders.values() if o.cl_ord_id == "held"]
    assert _state(order) is OrderState.PENDING_NEW
    _silent(link, engine, 3 * timeout_ms)
    assert link._close_requested, "the silent session was not closed during the hold"  # before: never
    assert len(link.wire) == wire  # nothing of the held bytes reached the connection closed
    link.disconnect()  # the transport closes
    assert link.venue.state is VenueState.DISCONNECTED
    engine.flush()
    return order


def test_silent_cboe_during_the_hold_closed_then_the_held_new_order_resent_once_after_replay_complete(
    tmp_path: Path,
) -> None:
    link, engine, rig, strat = _session(tmp_path)
    with journal_full(engine):
        order = _hold_and_go_silent(link, engine, rig, strat)
        assert _events(strat) == []
    engine.flush()  # the journal is back: the order's records are written; nothing goes to a closed connection
    assert not engine.journal_error
    assert _new_orders(link, order) == 0
    connect(link, engine)  # the reconnect: login, replay, Replay Complete: Cboe never received it (S > L)
    run(link, engine, 1_000)
    assert link.venue.state is VenueState.UP
    assert _new_orders(link, order) == 1  # re-sent under its ClOrdID, once
    (accepted,) = _events(strat)
    assert isinstance(accepted, OrderAccepted) and accepted.cl_ord_id == "held", accepted
    assert _state(order) is OrderState.LIVE
    assert link.venue.counters["resent"] == 1 and link.venue.counters["probes"] == 0
    assert link.core.exchange.violations == []


def test_silent_cboe_during_the_hold_closed_and_a_reconnect_meanwhile_then_the_order_leaves_with_the_journal(
    tmp_path: Path,
) -> None:
    link, engine, rig, strat = _session(tmp_path)
    with journal_full(engine):
        order = _hold_and_go_silent(link, engine, rig, strat)
        connect(link, engine)  # the login leaves (the adapter writes it); the re-sent New Order is held
        run(link, engine, 1_000)
        assert _new_orders(link, order) == 0  # held: its record is not written
        assert _events(strat) == []
    run(link, engine, 1_000)  # free again: the New Order goes out, once
    assert not engine.journal_error
    assert link.venue.state is VenueState.UP
    assert _new_orders(link, order) == 1
    (accepted,) = _events(strat)
    assert isinstance(accepted, OrderAccepted) and accepted.cl_ord_id == "held", accepted
    assert _state(order) is OrderState.LIVE
    assert link.core.exchange.violations == []


def test_silent_cboe_during_the_hold_closed_then_a_restart_resends_the_held_new_order_once(tmp_path: Path) -> None:
    link, engine, rig, strat = _session(tmp_path, "j1")
    with journal_full(engine):
        order = _hold_and_go_silent(link, engine, rig, strat)
    engine.flush()  # the journal is back: the order is on file as sent; the process stops
    engine.journal.close()
    link.venue = BoeVenue(link.config, link.clock, wall=lambda: DAY_NS)
    again, rig2 = gateway_over(link, tmp_path / "j2")  # the new process journals to j2, recovers from j1
    recovered = recover(read_journal(tmp_path / "j1"))
    again.adopt(recovered)
    point = recovered.resume.get(link.config.name)
    assert point is not None
    link.venue.resume_after(point)
    strat2 = rig2.connect("S1")
    again.flush()
    connect(link, again)
    run(link, again, 1_000)
    assert link.venue.state is VenueState.UP
    assert _new_orders(link, order) == 1  # Cboe never received it: re-sent, once
    assert again.orders[order.order_id].state is OrderState.LIVE
    accepted = [e for e in _events(strat2) if isinstance(e, OrderAccepted)]
    assert [e.cl_ord_id for e in accepted] == ["held"], accepted
    assert link.venue.counters["probes"] == 0
    assert link.core.exchange.violations == []


def test_stop_during_the_hold_sends_the_logout_without_the_held_new_order(tmp_path: Path) -> None:
    link, engine, rig, strat = _session(tmp_path)
    with journal_full(engine):
        rig.send(strat, NewOrder("held", "ACC1", "cboe", "AAPL", Side.BUY, 100, RESTING))
        engine.flush()
        assert engine.journal_error
        (order,) = engine.orders.values()
        wire = len(link.wire)
        assert link.venue.shutdown()  # gateway stopping: the Logout Request goes out
        written = b"".join(link.wire[wire:])
    assert written == LOGOUT_REQUEST_BYTES  # the Logout Request alone (before: the held New Order first)
    assert _state(order) is OrderState.PENDING_NEW

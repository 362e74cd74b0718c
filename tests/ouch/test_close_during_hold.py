"""OUCH: a session that must close while the journal cannot be written closes then (fixhold55, rev55diff MEDIUM).

The venue goes silent for longer than ``server_timeout_ms`` while the journal is on a full device (the engine holds
every venue byte, docs/reliability.md 2.3a). Before: the adapter's close waited for the engine's venue flush, which
the hold skips: the dead session stayed UP for the whole spell and, once the journal was back, the held Enter was
written into the connection that was to be closed, then it closed. Now it closes when wanted, the held bytes are
dropped (never written to that connection or a later one), and the Enter, unanswered, is settled after the next
login like one lost in a cut: the venue's NextUserRefNum shows it never had it, so it goes out again under its
number, once, and is accepted (one answer). Also after a restart from the journal, and a stop during the hold
sends the Logout Request without the held Enter.

Real engine and FileJournal over the OUCH simulator (fake clock); only ``Engine.flush`` writes to the venue.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gateway.engine import Engine
from gateway.protocol.messages import NewOrder, OrderAccepted, VenueStatus
from model.enums import Side
from model.order import Order, OrderState
from model.venue_events import VenueState
from simulators.ouch.exchange import ExchangeConfig
from simulators.ouch.simulator import SimulatorConfig
from tests.journal_full import connect, journal_full, run
from tests.ouch.harness import PX, Link, gateway_over, restart_from_journal

RESTING = PX - 100


def _state(order: Order) -> OrderState:
    return order.state  # read afresh (the engine changes it)


def _events(strat: object) -> list[object]:
    return [m for m in strat.received() if not isinstance(m, VenueStatus)]  # type: ignore[attr-defined]


def _silent(link: Link, engine: Engine, ms: int) -> None:
    """Time passes; the venue sends nothing (its output is never read), our timers run, the engine flushes."""
    for _ in range(ms // 100):
        if link.close_requested():
            return
        link.clock.advance_ms(100)
        link.venue.poll(link.clock())
        engine.flush()


def _enters(link: Link, urn: int) -> int:
    return [(r.type, r.user_ref_num) for r in link.core.exchange.records].count(("O", urn))


def _session(tmp_path: Path, journal: str = "journal") -> tuple[Link, Engine, Any, Any]:
    """A logged-in session, a real engine journaling to ``tmp_path/journal``, strategy S1 connected."""
    exchange = ExchangeConfig(reference_prices={"AAPL": PX}, strict_user_ref_num=True)
    link = Link(tmp_path / "ouch", sim=SimulatorConfig(exchange=exchange, client_timeout_ms=120_000))
    engine, rig = gateway_over(link, tmp_path / journal)
    connect(link, engine)
    run(link, engine, 1_000)
    assert link.venue.state is VenueState.UP
    strat = rig.connect("S1")
    engine.flush()
    strat.received()  # the Welcome
    return link, engine, rig, strat


def _hold_and_go_silent(link: Link, engine: Engine, rig: Any, strat: Any) -> Order:
    """The journal fails (inside ``journal_full``); an Enter is held; the venue goes silent: the session closes."""
    timeout_ms = link.venue._session.config.server_timeout_ns // 1_000_000
    wire = len(link.wire)
    rig.send(strat, NewOrder("held", "ACC1", "nasdaq", "AAPL", Side.BUY, 100, RESTING))
    engine.flush()  # its record cannot be written: the hold starts, the Enter is held
    assert engine.journal_error
    (order,) = [o for o in engine.orders.values() if o.cl_ord_id == "held"]
    assert _state(order) is OrderState.PENDING_NEW
    _silent(link, engine, 3 * timeout_ms)
    assert link.close_requested(), "the silent session was not closed during the hold"  # before: never
    assert len(link.wire) == wire  # nothing of the held bytes reached the connection closed
    link.disconnect()  # the transport closes
    assert link.venue.state is VenueState.DISCONNECTED
    engine.flush()
    return order


def test_silent_venue_during_the_hold_closed_then_the_held_enter_sent_once_after_the_next_login(
    tmp_path: Path,
) -> None:
    link, engine, rig, strat = _session(tmp_path)
    with journal_full(engine):
        order = _hold_and_go_silent(link, engine, rig, strat)
        assert _events(strat) == []
    engine.flush()  # the journal is back: the order's records are written; nothing goes to a closed connection
    assert not engine.journal_error
    assert link.wire and _enters(link, int(order.venue_ref)) == 0
    connect(link, engine)  # the reconnect: login, replay, Account Query: the venue never had its number
    run(link, engine, 3_000)
    assert link.venue.state is VenueState.UP
    assert _enters(link, int(order.venue_ref)) == 1  # sent again under its own number, once
    (accepted,) = _events(strat)
    assert isinstance(accepted, OrderAccepted) and accepted.cl_ord_id == "held", accepted
    assert _state(order) is OrderState.LIVE
    assert link.venue.status()["resent"] == 1
    assert link.core.exchange.violations == []


def test_silent_venue_during_the_hold_closed_and_a_reconnect_meanwhile_then_the_enter_leaves_with_the_journal(
    tmp_path: Path,
) -> None:
    link, engine, rig, strat = _session(tmp_path)
    with journal_full(engine):
        order = _hold_and_go_silent(link, engine, rig, strat)
        connect(link, engine)  # the login leaves (the adapter writes it); the Account Query is held
        run(link, engine, 3_000)
        assert _enters(link, int(order.venue_ref)) == 0  # held: its record is not written
        assert _events(strat) == []
    run(link, engine, 1_000)  # free again: the query leaves, the venue's answer: the Enter goes out, once
    assert not engine.journal_error
    assert link.venue.state is VenueState.UP
    assert _enters(link, int(order.venue_ref)) == 1
    (accepted,) = _events(strat)
    assert isinstance(accepted, OrderAccepted) and accepted.cl_ord_id == "held", accepted
    assert _state(order) is OrderState.LIVE
    assert link.core.exchange.violations == []


def test_silent_venue_during_the_hold_closed_then_a_restart_sends_the_held_enter_once(tmp_path: Path) -> None:
    link, engine, rig, strat = _session(tmp_path, "j1")
    with journal_full(engine):
        order = _hold_and_go_silent(link, engine, rig, strat)
    engine.flush()  # the journal is back: the order is on file as sent under its number; the process stops
    engine.journal.close()
    second, again, rig2 = restart_from_journal(link, tmp_path)
    strat2 = rig2.connect("S1")
    again.flush()
    connect(second, again)
    run(second, again, 3_000)
    assert second.venue.state is VenueState.UP
    assert _enters(second, int(order.venue_ref)) == 1  # the venue never had it: sent again, once
    recovered = again.orders[order.order_id]
    assert recovered.state is OrderState.LIVE
    accepted = [e for e in _events(strat2) if isinstance(e, OrderAccepted)]
    assert [e.cl_ord_id for e in accepted] == ["held"], accepted
    assert second.core.exchange.violations == []


def test_stop_during_the_hold_sends_the_logout_without_the_held_enter(tmp_path: Path) -> None:
    link, engine, rig, strat = _session(tmp_path)
    with journal_full(engine):
        rig.send(strat, NewOrder("held", "ACC1", "nasdaq", "AAPL", Side.BUY, 100, RESTING))
        engine.flush()
        assert engine.journal_error
        (order,) = engine.orders.values()
        wire = len(link.wire)
        assert link.venue.shutdown()  # gateway stopping: the Logout Request goes out
        written = b"".join(link.wire[wire:])
    assert written == b"\x00\x01O"  # the Logout Request alone (before: the held Enter first)
    assert _state(order) is OrderState.PENDING_NEW


def test_close_wanted_just_before_the_flush_that_fails_happens_at_the_hold(tmp_path: Path) -> None:
    link, engine, rig, strat = _session(tmp_path)
    timeout_ms = link.venue._session.config.server_timeout_ns // 1_000_000
    _silent(link, engine, timeout_ms - 100)  # the venue silent, the journal still writable: not yet
    assert not link.close_requested()
    wire = len(link.wire)
    with journal_full(engine):
        link.clock.advance_ms(200)
        link.venue.poll(link.clock())  # server_timeout_ms of silence: the close is wanted, for the next flush
        assert not link.close_requested()
        rig.send(strat, NewOrder("held", "ACC1", "nasdaq", "AAPL", Side.BUY, 100, RESTING))  # and flushed: it fails
        assert engine.journal_error
        assert link.close_requested()  # at the hold's start (before: not until the journal was back)
        assert len(link.wire) == wire  # the held Enter did not reach the connection closed
    link.disconnect()
    engine.flush()
    (order,) = engine.orders.values()
    assert _enters(link, int(order.venue_ref)) == 0

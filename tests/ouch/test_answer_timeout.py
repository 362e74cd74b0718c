"""An Enter Order the venue never answers while the session stays up (fixouch51, item 3).

docs/strategy-protocol.md promises every request exactly one answer. A venue that silently drops one Enter (or is
stuck on it) while its session stays up (heartbeats flow) left the order PENDING_NEW for ever: nothing timed the
answer. Now, after ``answer_timeout_ms`` (default 5,000) without Accepted or Rejected, the order is in doubt as for
an answer lost in a replay gap: the strategy gets one ``OrderAccepted`` (its own size and price, as the order may be
live at the venue), a Cancel by its UserRefNum goes out so the venue says what became of it, one ERROR, counted
``answer_timeouts``. The sweep runs on the session timer (``poll``), nothing per order. Real engine and journal over
the OUCH simulator (fake clock).
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from gateway.protocol.messages import Canceled, NewOrder, OrderAccepted, VenueStatus
from model.enums import Side
from model.order import OrderState
from simulators.ouch.exchange import ExchangeConfig
from simulators.ouch.simulator import SimulatorConfig
from tests.ouch.harness import PX, TS, Link, gateway_over
from venues.ouch.codec import encode_message
from venues.ouch.messages import OrderRejected as OuchRejected
from venues.ouch.options import NO_OPTIONS

RESTING = PX - 100


def _run(link: Link, engine: object, ms: int) -> None:
    """Let ``ms`` pass on the fake clock in steps of 100 ms, both sides' timers running (the session stays up)."""
    for _ in range(ms // 100):
        link.clock.advance_ms(100)
        link.poll()
        engine.flush()  # type: ignore[attr-defined]
        link.pump()
        engine.flush()  # type: ignore[attr-defined]


def test_enter_dropped_by_the_venue_when_the_session_stays_up_then_one_answer_after_the_timeout_and_a_cancel(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    link = Link(tmp_path / "ouch", exchange=ExchangeConfig(reference_prices={"AAPL": PX}, strict_user_ref_num=True))
    engine, rig = gateway_over(link, tmp_path / "journal")
    link.connect()
    strat = rig.connect("S1")
    rig.send(strat, NewOrder("lost", "ACC1", "nasdaq", "AAPL", Side.BUY, 100, RESTING))
    engine.flush()
    link.venue.flush()
    link._to_server.clear()  # the venue drops the Enter Order silently (its session stays up)
    rig.send(strat, NewOrder("ok", "ACC1", "nasdaq", "AAPL", Side.BUY, 100, RESTING))
    engine.flush()
    link.pump()
    engine.flush()
    assert [m.cl_ord_id for m in strat.received() if isinstance(m, OrderAccepted)] == ["ok"]

    with caplog.at_level(logging.ERROR, logger="venues.ouch.adapter"):
        _run(link, engine, 4_000)
        assert strat.received() == []  # a slow venue: no verdict before answer_timeout_ms (5,000)
        _run(link, engine, 2_000)
    (answer,) = strat.received()  # exactly one answer
    assert isinstance(answer, OrderAccepted) and answer.cl_ord_id == "lost"
    assert link.venue.state.value == "UP"
    assert link.venue.status()["answer_timeouts"] == 1
    assert [(r.type, r.user_ref_num) for r in link.core.exchange.records] == [("O", 2), ("X", 1)]
    errors = [r for r in caplog.records if "answer_timeout_ms" in r.getMessage()]
    assert len(errors) == 1 and "canceled there by their UserRefNums [1]" in errors[0].getMessage()
    _run(link, engine, 20_000)
    # the venue ignored the Cancel (it never had UserRefNum 1): a second answer_timeout_ms later the order ends,
    # outcome unknown (fixouch52; before, it stayed open until End of Session)
    (ended,) = strat.received()
    assert isinstance(ended, Canceled) and ended.reason == "OUCH_OUTCOME_UNKNOWN", ended
    assert link.venue.status()["answer_timeouts"] == 1 and link.venue.status()["outcome_unknown"] == 1  # once
    assert link.core.exchange.violations == []


def test_enter_live_at_a_stuck_venue_when_the_timeout_passes_then_accepted_canceled_there_and_canceled_after_relogin(
    tmp_path: Path,
) -> None:
    # the venue reads and answers everything but sends nothing more on this connection (heartbeats only)
    link = Link(
        tmp_path / "ouch",
        sim=SimulatorConfig(exchange=ExchangeConfig(reference_prices={"AAPL": PX}), stall_first_after=0),
    )
    engine, rig = gateway_over(link, tmp_path / "journal")
    link.connect()
    strat = rig.connect("S1")
    strat.received()  # the Welcome
    rig.send(strat, NewOrder("stuck", "ACC1", "nasdaq", "AAPL", Side.BUY, 100, RESTING))
    engine.flush()
    link.pump()
    engine.flush()
    assert strat.received() == []
    _run(link, engine, 6_000)
    (answer,) = strat.received()
    assert isinstance(answer, OrderAccepted) and answer.cl_ord_id == "stuck"
    (order_id,) = engine.orders
    assert all(not o.open for o in link.core.exchange.orders.values())  # canceled at the venue
    assert [(r.type, r.user_ref_num, r.outcome) for r in link.core.exchange.records][-1][:2] == ("X", 1)
    link.disconnect()  # the venue's held answers (Accepted, then Canceled) come in the next login's replay
    link.connect()
    engine.flush()
    link.pump()
    engine.flush()
    received = [m for m in strat.received() if not isinstance(m, VenueStatus)]
    assert [type(m) for m in received] == [Canceled], received  # the late Accepted is not a second answer
    assert engine.orders[order_id].state is OrderState.CANCELED
    assert engine.counters.venue_events_out_of_place == 0


def test_enter_answered_in_doubt_when_the_venue_rejects_it_late_then_the_strategy_gets_canceled_once(
    tmp_path: Path,
) -> None:
    link = Link(tmp_path / "ouch")
    engine, rig = gateway_over(link, tmp_path / "journal")
    link.connect()
    strat = rig.connect("S1")
    strat.received()  # the Welcome
    rig.send(strat, NewOrder("late", "ACC1", "nasdaq", "AAPL", Side.BUY, 100, RESTING))
    engine.flush()
    link.venue.flush()
    link._to_server.clear()  # the venue has not got it (yet)
    _run(link, engine, 6_000)
    (answer,) = strat.received()
    assert isinstance(answer, OrderAccepted)
    link.core.stream.append(encode_message(OuchRejected(TS, 1, 0x17, "1", NO_OPTIONS)))  # then rejects it after all
    link.pump()
    engine.flush()
    received = [m for m in strat.received() if not isinstance(m, VenueStatus)]
    assert [type(m) for m in received] == [Canceled], received
    (order_id,) = engine.orders
    assert engine.orders[order_id].state is OrderState.CANCELED  # its exposure released
    assert engine.counters.venue_events_out_of_place == 0

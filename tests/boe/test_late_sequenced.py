"""A Cboe message that arrives after a higher number of its matching unit (fixboe50, certification s4).

Cboe numbers its messages per matching unit; a unit that sends n+2 before n+1 leaves a forward gap. The
exactly-once component kept only a high-water mark per unit, so n+1 arriving next was dropped as a repeat,
silently, and a fill was lost (the logins after it ask from above n+2: Cboe never replays it). Now a message
filling a recorded gap is applied once and logged; a gap still open at the next login makes the login ask from
below it, so Cboe replays it. Against the sans-IO BOE simulator, through a real engine.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from gateway.engine import Engine
from gateway.protocol.messages import Executed, NewOrder
from model.enums import Side
from model.venue_events import VenueExecuted, VenueState
from tests.boe.harness import PX, Link, connected_link, gateway_over, make_order
from tests.harness import MemoryLink
from tests.metrics_text import venue_metrics_text
from venues.boe.adapter import split_ref

UNIT = 1  # AAPL's matching unit in the harness


def _executed(link: MemoryLink) -> list[tuple[int, int]]:
    return [(m.qty, m.cum_qty) for m in link.received() if isinstance(m, Executed)]


def _two_fills_unsent(link: Link, cl_ord_id: str) -> list[bytes]:
    """Have the exchange fill 11 then 12 shares (numbers n+1, n+2); return their bytes, marked sent."""
    assert link.core.exchange.execute(cl_ord_id, 11)
    assert link.core.exchange.execute(cl_ord_id, 12)
    connection = link.connection
    assert connection is not None
    stream = link.core.streams.messages[UNIT]
    connection.sent[UNIT] = len(stream)  # the simulator sends neither: the test delivers them
    return [connection.encode(message) for message in stream[-2:]]


def test_execution_when_it_arrives_after_the_next_number_then_applied_once_and_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    link = Link(tmp_path / "boe")
    engine, rig = gateway_over(link, tmp_path / "j1")
    link.connect()
    strat = rig.connect("S1")
    rig.send(strat, NewOrder("A", "ACC1", "cboe", "AAPL", Side.BUY, 100, PX - 100))
    _pump(link, engine)
    strat.received()
    order = engine.strategies["S1"].orders["A"]
    first, second = _two_fills_unsent(link, split_ref(order.venue_ref)[0])
    mark = link.venue.session.units[UNIT]
    with caplog.at_level(logging.WARNING):
        link.venue.data_received(second, link.clock())  # n+2 first: n+1 is a gap
        link.venue.data_received(first, link.clock())  # then n+1, late
        engine.flush()
    assert _executed(strat) == [(12, 12), (11, 23)]
    assert order.cum_qty == 23
    status = link.venue.status()
    assert (status["late_admitted"], status["open_gaps"], status["duplicates_dropped"]) == (1, 0, 0)
    assert f"unit 1: message {mark + 1} arrived after {mark + 2}: applied, gap closed" in caplog.text

    link.venue.data_received(first, link.clock())  # the same again: a repeat, dropped, logged
    engine.flush()
    assert _executed(strat) == [] and link.venue.status()["duplicates_dropped"] == 1
    assert f"Order Execution {mark + 1} arrived after {mark + 2} outside a replay: dropped as a repeat" in caplog.text


def test_login_when_a_gap_is_open_then_it_asks_from_below_it_and_the_missing_fill_is_replayed(
    tmp_path: Path,
) -> None:
    link = connected_link(tmp_path)
    order = make_order(1)
    link.send_new(order)
    cl_ord_id = split_ref(order.venue_ref)[0]
    _first, second = _two_fills_unsent(link, cl_ord_id)
    link.venue.data_received(second, link.clock())  # n+1 never comes on this connection
    assert [e.qty for e in link.events if isinstance(e, VenueExecuted)] == [12]
    assert link.venue.status()["open_gaps"] == 1
    link.disconnect()
    link.connect()  # logs in from n: Cboe replays n+1 (new) and n+2 (a repeat)
    assert link.venue.state is VenueState.UP
    assert [e.qty for e in link.events if isinstance(e, VenueExecuted)] == [12, 11]
    assert order.cum_qty == 23
    status = link.venue.status()
    assert (status["late_admitted"], status["open_gaps"], status["duplicates_dropped"]) == (1, 0, 1)
    link.disconnect()
    link.connect()  # nothing open: a plain login, nothing applied twice
    assert [e.qty for e in link.events if isinstance(e, VenueExecuted)] == [12, 11]


def test_sequenced_message_of_an_unknown_type_when_followed_by_the_next_then_no_gap_is_left_open(
    tmp_path: Path,
) -> None:
    # rev50boe s4 step 4 on this branch: the session took the unknown type's number as received, the
    # exactly-once component never saw it, so it recorded a gap that the next login asked Cboe to replay
    link = connected_link(tmp_path)
    order = make_order(1)
    link.send_new(order)
    first, second = _two_fills_unsent(link, split_ref(order.venue_ref)[0])
    unknown = bytearray(first)
    unknown[4] = 0x77
    link.venue.data_received(bytes(unknown) + second, link.clock())
    assert [e.qty for e in link.events if isinstance(e, VenueExecuted)] == [12]
    status = link.venue.status()
    assert (status["open_gaps"], status["late_admitted"], status["protocol_errors"]) == (0, 0, 1)


def _pump(link: Link, engine: Engine) -> None:
    link.pump()
    engine.flush()


def test_late_message_when_metrics_rendered_then_boe_session_counters_exported_per_venue(tmp_path: Path) -> None:
    """``late_admitted`` and the other BOE-only session counters reach ``gateway metrics`` with the venue label."""
    link = Link(tmp_path / "boe")
    engine, rig = gateway_over(link, tmp_path / "j1")
    link.connect()
    strat = rig.connect("S1")
    rig.send(strat, NewOrder("A", "ACC1", "cboe", "AAPL", Side.BUY, 100, PX - 100))
    _pump(link, engine)
    order = engine.strategies["S1"].orders["A"]
    first, second = _two_fills_unsent(link, split_ref(order.venue_ref)[0])
    link.venue.data_received(second, link.clock())
    link.venue.data_received(first, link.clock())
    engine.flush()
    counters = link.venue.session_counters()
    assert (counters["late_admitted"], counters["gaps_forgotten"], counters["repeated_reports"]) == (1, 0, 0)
    assert counters["login_timeouts"] == 0 and counters["sequence_gaps"] == 1
    text = venue_metrics_text(link.venue.name, counters, engine.latency.snapshot())
    name = link.venue.name
    assert f'gateway_venue_late_admitted_total{{venue="{name}"}} 1.0' in text
    assert f'gateway_venue_gaps_forgotten_total{{venue="{name}"}} 0.0' in text
    assert f'gateway_venue_repeated_reports_total{{venue="{name}"}} 0.0' in text
    assert f'gateway_venue_login_timeouts_total{{venue="{name}"}} 0.0' in text
    assert f'gateway_venue_unsequenced_ignored_total{{venue="{name}"}}' not in text  # SoupBinTCP's, not BOE's


def test_every_gap_logged_saying_a_fill_may_be_missing_up_to_a_line_a_second(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """rev55boe: gaps were logged on the 1st, 2nd, 4th... occurrence only, without saying a fill may be among them."""
    link = Link(tmp_path / "boe")
    engine, rig = gateway_over(link, tmp_path / "j1")
    link.connect()
    strat = rig.connect("S1")
    rig.send(strat, NewOrder("A", "ACC1", "cboe", "AAPL", Side.BUY, 1_000, PX - 100))
    _pump(link, engine)
    order = engine.strategies["S1"].orders["A"]
    with caplog.at_level(logging.WARNING):
        for _ in range(3):
            _first, second = _two_fills_unsent(link, split_ref(order.venue_ref)[0])
            link.venue.data_received(second, link.clock())  # n+2 only: n+1 is a gap
            engine.flush()
            link.clock.advance_ms(1_100)
    lines = [r.getMessage() for r in caplog.records if "sequence gap" in r.getMessage()]
    assert len(lines) == 3, lines
    assert all("missing from the positions" in line and "next login" in line for line in lines)
    assert link.venue.counters["sequence_gaps"] == 3

"""BOE: Cancels owed across a new trading day, an earlier day's ClOrdIDs, busts replayed after a restart (fixboe45).

A strict BOE v2 venue review (rev45boe) found: the Cancel owed for an order Cboe still worked (GTC) was dropped
silently when the gateway started on the next trading day, and the order's next fill was an "unknown ClOrdID"
(yesterday's day code was not taken as the gateway's); a Trade Cancel or Correct was reported again after every
restart (it produces no event, so the journal never held its number and Cboe replayed it); an Order Execution
with shares left open of an order that ended here (still mapped) sent no Cancel. Now the owed Cancels outlive the
day (sent after the login), an earlier day's ClOrdID is recognised (its fill logged at ERROR as a late fill, the
order canceled at Cboe if it works on), busts reported are kept on file (a replayed one is dropped), the tracked
order is canceled at Cboe, and GTC is refused at entry (the journal is per trading day).

Against the sans-IO simulator (``tests.boe.harness.Link``) on a fake clock; the Cancel Order's bytes are checked
against the layout of the reference (§7.4: StartOfMessage, MessageLength, MessageType 0x39, MatchingUnit,
SequenceNumber, OrigClOrdID, NumberOfCancelOrderBitfields).
"""

from __future__ import annotations

import logging
import struct
from pathlib import Path

import pytest

from model.enums import TimeInForce
from model.order import OrderState
from model.send_result import Refused
from model.venue_events import VenueExecuted
from simulators.boe.simulator import SimulatorCore
from tests.boe.harness import DAY_NS, Link, make_order
from venues.boe.adapter import BoeVenue, split_ref
from venues.boe.messages import OrderCancelled
from venues.boe.state import corrections_path, load_corrections, load_owed

UNIT = 1  # AAPL's matching unit in the harness
NEXT_DAY_NS = DAY_NS + 86_400 * 10**9


def _cancels(link: Link) -> list[str]:
    return [r.outcome for r in link.core.exchange.records if r.type == "Cancel Order"]


def _cancel_bytes(seq: int, cl_ord_id: str) -> bytes:
    """Return a Cancel Order without optional fields as the reference lays it out (little-endian)."""
    body = b"\x39\x00" + struct.pack("<I", seq) + cl_ord_id.encode("ascii").ljust(20, b"\x00") + b"\x00"
    return b"\xba\xba" + struct.pack("<H", len(body) + 2) + body


def _ended_here_working_at_cboe(tmp_path: Path) -> tuple[Link, str]:
    """Order 1 (100) acknowledged; an Order Cancelled ends it here while Cboe keeps working it (a GTC order that
    outlived a day ends the same way: nothing of it is open here)."""
    link = Link(tmp_path)
    link.connect()
    order = make_order(1)
    link.orders[1] = order
    cl_ord_id = split_ref(link.send_new(order))[0]
    link.core.streams.append(UNIT, OrderCancelled(0, 0, DAY_NS, cl_ord_id, "U"))
    link.pump()
    assert order.state is OrderState.CANCELED and cl_ord_id in link.core.exchange.orders
    return link, cl_ord_id


def test_gtc_order_when_sent_then_refused_at_entry_with_boe_tif() -> None:
    link = Link(Path("/nonexistent-never-written"), cl_ord_id_prefix="")
    verdict = link.venue.check_order(make_order(1, tif=TimeInForce.GTC))
    assert isinstance(verdict, Refused) and verdict.code == "BOE_TIF"
    assert "journal is per trading day" in verdict.text
    assert link.venue.check_order(make_order(2, tif=TimeInForce.DAY)) is None


def test_execution_with_shares_open_when_the_order_ended_here_then_canceled_at_cboe(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    link, cl_ord_id = _ended_here_working_at_cboe(tmp_path)
    caplog.set_level(logging.ERROR)
    wire = len(link.wire)
    assert link.core.exchange.execute(cl_ord_id, 10)  # Order Execution, LeavesQty 90
    link.pump()
    assert any(type(e) is VenueExecuted and e.qty == 10 for e in link.events)  # to the core: a late fill
    assert _cancels(link) == ["cancelled"]  # the old code: none, 90 working at Cboe for nobody
    assert cl_ord_id not in link.core.exchange.orders
    assert _cancel_bytes(2, cl_ord_id) in b"".join(link.wire[wire:])  # New Order was 1 (Login is unsequenced)
    status = link.venue.status()
    assert (status["live_after_end"], status["after_end"], status["late_cancels_waiting"]) == (1, 1, 0)
    assert any("shows order 1 working at Cboe" in r.getMessage() for r in caplog.records)
    assert load_owed(tmp_path, "cboe")[1] == {}


def test_owed_cancel_when_lost_in_a_crash_before_a_new_trading_day_then_sent_after_the_next_day_s_login(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    link, cl_ord_id = _ended_here_working_at_cboe(tmp_path)
    link.core.hold = True  # Cboe receives the Cancel and never processes it: its day ends first
    assert link.core.exchange.execute(cl_ord_id, 5)  # LeavesQty 95: the Cancel is owed
    link.pump()
    assert load_owed(tmp_path, "cboe") == ("2024-05-01", {cl_ord_id: 2})
    # kill -9; Cboe's next day: numbering from 0, DAY orders gone, the GTC order kept
    gtc = link.core.exchange.orders[cl_ord_id]
    core = SimulatorCore(link.core.config, clock=link.clock, wall=lambda: NEXT_DAY_NS)
    core.exchange.orders[cl_ord_id] = gtc
    assert core.exchange.execute(cl_ord_id, 5)  # a fill before the gateway is back: LeavesQty 90
    link.core = core
    link.connection = None
    caplog.set_level(logging.INFO)
    venue = link.venue = BoeVenue(link.config, link.clock, wall=lambda: NEXT_DAY_NS)
    venue.event_sink, venue.state_sink = link._on_event, link._on_state
    venue.bind_sequence(link.exactly_once.venue("cboe"))
    wire = len(link.wire)
    link.connect()
    assert cl_ord_id not in core.exchange.orders  # the old code: no Cancel, worked on for good
    assert _cancels(link) == ["cancelled"]
    assert _cancel_bytes(1, cl_ord_id) in b"".join(link.wire[wire:])  # the day's first sequenced message
    status = venue.status()
    assert (status["executions_earlier_day"], status["unknown_executions"], status["unknown_cl_ord_id"]) == (1, 0, 0)
    assert (status["after_end"], status["late_cancels_waiting"]) == (1, 0)
    assert load_owed(tmp_path, "cboe") == ("2024-05-02", {})
    lines = [r.getMessage() for r in caplog.records]
    [kept] = [line for line in lines if "a new trading day" in line]
    assert f"1 Cancel(s) owed since 2024-05-01 kept, sent after the login (ClOrdIDs {cl_ord_id})" in kept
    [fill] = [line for line in lines if "a late fill not applied" in line]
    assert f"ClOrdID {cl_ord_id}, order 1 of trading day 2024-05-01" in fill
    assert "5 @ 150.24" in fill and "LeavesQty 90" in fill


def test_owed_cancel_when_the_day_changes_in_the_process_then_kept_and_sent_after_the_login(tmp_path: Path) -> None:
    link, cl_ord_id = _ended_here_working_at_cboe(tmp_path)
    link.core.hold = True
    assert link.core.exchange.execute(cl_ord_id, 5)
    link.pump()
    link.disconnect()
    gtc = link.core.exchange.orders[cl_ord_id]
    link.core = SimulatorCore(link.core.config, clock=link.clock, wall=lambda: NEXT_DAY_NS)
    link.core.exchange.orders[cl_ord_id] = gtc
    now = [DAY_NS]
    link.venue._wall = lambda: now[0]  # the same process reconnects on the next trading day
    now[0] = NEXT_DAY_NS
    link.connect()
    assert cl_ord_id not in link.core.exchange.orders and _cancels(link) == ["cancelled"]
    assert link.venue.status()["late_cancels_waiting"] == 0


@pytest.mark.parametrize("lose_file", [False, True])
def test_trade_cancel_when_the_gateway_restarts_then_reported_once_unless_the_file_is_lost(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, lose_file: bool
) -> None:
    link = Link(tmp_path)
    link.connect()
    order = make_order(1)
    link.orders[1] = order
    cl_ord_id = split_ref(link.send_new(order))[0]
    assert link.core.exchange.execute(cl_ord_id, 10)
    link.pump()
    [exec_id] = list(link.core.exchange.executions)
    caplog.set_level(logging.WARNING)
    assert link.core.exchange.correct_trade(exec_id)  # the bust: no event, its number not journaled
    link.pump()
    assert link.venue.status()["trade_corrections"] == 1
    assert load_corrections(tmp_path, "cboe", "2024-05-01") == {(UNIT << 32) | 3}
    for _restart in range(2):  # kill -9 twice: the login lists the unit at the execution, Cboe replays the bust
        if lose_file:
            corrections_path(tmp_path, "cboe").unlink()
        link.restart()
        link.connect()
        status = link.venue.status()
        assert link.venue.session.units[UNIT] == 3  # replayed
        assert (status["trade_corrections"], status["repeated_trade_corrections"]) == ((1, 0) if lose_file else (0, 1))
    busts = [r for r in caplog.records if "Trade Cancel or Correct" in r.getMessage()]
    assert len(busts) == (3 if lose_file else 1)  # the old code: 3

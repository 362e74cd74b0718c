"""An Order Accepted that acknowledges another order than the Enter Order sent (fixouch45).

OUCH 5.0, Order Accepted: Side and Symbol are "as entered", the Price "may differ (re-priced), always equal or
better", the Quantity is the total shares accepted. A venue that answers with another side or symbol, more shares
than entered, or a worse price acknowledges an order the gateway never sent: the strategy gets one answer
(``OrderRejected`` code ``OUCH_ACCEPTED_MISMATCH``), the order is canceled at the venue (its number is not the
order's any more), the fault is logged at ERROR and counted (``accepted_mismatch``). Real engine and journal over
the project's OUCH simulator (fake clock); the venue's bytes are edited at the offsets of the OUCH 5.0 tables.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from gateway.engine import Engine
from gateway.protocol.messages import NewOrder, OrderAccepted, OrderRejected
from model.enums import RejectSource, Side, TimeInForce
from model.order import OrderState
from tests.harness import MemoryLink, Rig
from tests.ouch.harness import PX, Link, gateway_over

RESTING = PX - 100
SELL_RESTING = PX + 100
SIDE = 13  # Order Accepted: Type 0, Timestamp 1, UserRefNum 9, Side 13, Quantity 14, Symbol 18, Price 26
QUANTITY = 14
SYMBOL = 18
PRICE = 26


def _gateway(tmp_path: Path) -> tuple[Link, Engine, Rig, MemoryLink]:
    link = Link(tmp_path / "ouch")
    engine, rig = gateway_over(link, tmp_path / "j1")
    link.connect()
    strat = rig.connect("S1")
    strat.received()
    return link, engine, rig, strat


def _accepted_edited(tmp_path: Path, side: Side, edits: dict[int, bytes]) -> tuple[Link, Engine, MemoryLink]:
    """Send one NewOrder (resting); the venue's Order Accepted has ``edits`` (offset -> bytes) applied before sent."""
    link, engine, rig, strat = _gateway(tmp_path)
    price = RESTING if side is Side.BUY else SELL_RESTING
    rig.send(strat, NewOrder("a1", "ACC1", "nasdaq", "AAPL", side, 100, price))
    engine.flush()
    assert link.connection is not None
    link.core.receive(link.connection, bytes(link._to_server), link.clock())
    link._to_server.clear()
    packet = bytearray(link.core.stream.packets[-1])
    assert packet[3:4] == b"A"
    for offset, raw in edits.items():
        packet[3 + offset : 3 + offset + len(raw)] = raw  # after the SoupBinTCP length and type
    link.core.stream.packets[-1] = bytes(packet)
    link.pump()
    engine.flush()
    return link, engine, strat


@pytest.mark.parametrize(
    ("side", "edits", "named"),
    [
        (Side.BUY, {SIDE: b"S"}, "side B -> S"),
        (Side.BUY, {SYMBOL: b"MSFT    "}, "symbol 'AAPL' -> 'MSFT'"),
        (Side.BUY, {QUANTITY: (101).to_bytes(4, "big")}, "quantity 100 -> 101"),
        (Side.BUY, {PRICE: (RESTING + 1).to_bytes(8, "big")}, "price 150.24 -> 150.2401"),
        (Side.SELL, {PRICE: (SELL_RESTING - 1).to_bytes(8, "big")}, "price 150.26 -> 150.2599"),
    ],
)
def test_accepted_when_it_differs_from_the_enter_beyond_the_spec_then_rejected_canceled_at_the_venue_and_counted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, side: Side, edits: dict[int, bytes], named: str
) -> None:
    caplog.set_level(logging.ERROR, logger="venues.ouch.adapter")
    link, engine, strat = _accepted_edited(tmp_path, side, edits)

    (answer,) = strat.received()  # exactly one answer, and it is not an acceptance
    assert isinstance(answer, OrderRejected)
    assert (answer.source, answer.code) == (RejectSource.VENUE, "OUCH_ACCEPTED_MISMATCH")
    assert named in answer.text
    (order,) = engine.orders.values()
    assert (order.state, order.leaves_qty) == (OrderState.REJECTED, 0)  # risk's exposure is released
    # the venue's order is canceled at once, by the UserRefNum it acknowledged
    assert [(r.type, r.user_ref_num) for r in link.core.exchange.records] == [("O", 1), ("X", 1)]
    assert link.venue.status()["accepted_mismatch"] == 1
    assert link.venue.status()["late_cancels_waiting"] == 0  # the venue answered the Cancel (Canceled)
    assert [r.getMessage() for r in caplog.records if "another order" in r.getMessage()]
    assert strat.received() == []  # the venue's Canceled of it reaches no strategy


def test_accepted_when_the_venue_only_reprices_better_or_accepts_fewer_shares_then_accepted(tmp_path: Path) -> None:
    link, _engine, strat = _accepted_edited(
        tmp_path, Side.BUY, {QUANTITY: (60).to_bytes(4, "big"), PRICE: (RESTING - 5).to_bytes(8, "big")}
    )
    (accepted,) = strat.received()
    assert isinstance(accepted, OrderAccepted)
    assert (accepted.qty, accepted.price) == (60, RESTING - 5)
    assert link.venue.status()["accepted_mismatch"] == 0
    assert [r.type for r in link.core.exchange.records] == ["O"]


def test_accepted_when_dead_and_another_symbol_then_rejected_and_nothing_canceled(tmp_path: Path) -> None:
    link, _engine, strat = _accepted_edited(tmp_path, Side.BUY, {SYMBOL: b"MSFT    ", 47: b"D"})
    (answer,) = strat.received()
    assert isinstance(answer, OrderRejected) and answer.code == "OUCH_ACCEPTED_MISMATCH"
    assert [r.type for r in link.core.exchange.records] == ["O"]  # Order State D: nothing live to cancel
    assert link.venue.status()["accepted_mismatch"] == 1


TIME_IN_FORCE = 34  # Order Accepted: "accepted TIF; equal to or shorter in scope than entered"


def _accepted_tif_edited(tmp_path: Path, tif: TimeInForce, accepted_tif: bytes) -> tuple[Link, MemoryLink]:
    """Send one NewOrder (not marketable) with ``tif``; the venue's Order Accepted says ``accepted_tif``."""
    link, engine, rig, strat = _gateway(tmp_path)
    rig.send(strat, NewOrder("a1", "ACC1", "nasdaq", "AAPL", Side.BUY, 100, RESTING, tif=tif))
    engine.flush()
    assert link.connection is not None
    link.core.receive(link.connection, bytes(link._to_server), link.clock())
    link._to_server.clear()
    packets = link.core.stream.packets
    (index,) = [i for i, p in enumerate(packets) if p[3:4] == b"A"]  # an IOC's Canceled may follow it
    packet = bytearray(packets[index])
    packet[3 + TIME_IN_FORCE] = accepted_tif[0]
    packets[index] = bytes(packet)
    link.pump()
    engine.flush()
    return link, strat


@pytest.mark.parametrize(
    ("tif", "accepted_tif", "named"),
    [(TimeInForce.IOC, b"0", "time in force '3' -> '0'"), (TimeInForce.DAY, b"5", "time in force '0' -> '5'")],
)
def test_accepted_when_its_time_in_force_is_longer_than_entered_then_rejected_and_canceled_at_the_venue(
    tmp_path: Path, tif: TimeInForce, accepted_tif: bytes, named: str
) -> None:
    link, strat = _accepted_tif_edited(tmp_path, tif, accepted_tif)
    (answer,) = strat.received()
    assert isinstance(answer, OrderRejected)  # before: an IOC accepted as Day was taken and rested
    assert answer.code == "OUCH_ACCEPTED_MISMATCH" and named in answer.text
    assert link.venue.status()["accepted_mismatch"] == 1
    records = [(r.type, r.user_ref_num) for r in link.core.exchange.records]
    # the Day order live at the venue is canceled there; the IOC's Accepted says it is dead (nothing to cancel)
    assert records == ([("O", 1), ("X", 1)] if tif is TimeInForce.DAY else [("O", 1)])


def test_accepted_when_its_time_in_force_is_shorter_than_entered_then_accepted(tmp_path: Path) -> None:
    link, strat = _accepted_tif_edited(tmp_path, TimeInForce.DAY, b"3")  # Day accepted as IOC: the venue's word
    (accepted,) = strat.received()
    assert isinstance(accepted, OrderAccepted)
    assert link.venue.status()["accepted_mismatch"] == 0

"""What the venue's messages say about an order is applied (fixouch42).

An Order Accepted for fewer shares (or at another price) than entered makes them the order's quantity,
open quantity and risk exposure; a message about an order whose fields are intact but whose appendage
is malformed is acted on from its fields (a fill is money: never lost). Real engine and journal over the
project's OUCH simulator (fake clock); the venue's bytes are edited at the offsets of the OUCH 5.0 tables.
"""

from __future__ import annotations

import logging
import struct
from pathlib import Path

import pytest

from gateway.engine import Engine
from gateway.protocol.messages import Cancel, Canceled, CancelRejected, Executed, NewOrder, OrderAccepted
from model.enums import RejectSource, Side
from model.order import OrderState
from tests.harness import LimitRisk, MemoryLink, Rig
from tests.ouch.harness import PX, Link, gateway_over, restart_from_journal

RESTING = PX - 100
QUANTITY = 14  # Order Accepted: Type 0, Timestamp 1, UserRefNum 9, Side 13, Quantity 14, Symbol 18, Price 26
PRICE = 26


def _gateway(tmp_path: Path) -> tuple[Link, Engine, Rig, MemoryLink]:
    link = Link(
        tmp_path / "ouch", max_refetches=0
    )  # a message that cannot be read: taken as lost at once (the path after max_refetches; see test_refetch.py)
    engine, rig = gateway_over(link, tmp_path / "j1")
    link.connect()
    strat = rig.connect("S1")
    strat.received()
    return link, engine, rig, strat


def _pump(link: Link, engine: Engine) -> None:
    link.pump()
    engine.flush()


def _edit_last(link: Link, offset: int, raw: bytes) -> None:
    """Overwrite bytes of the venue's newest message at ``offset`` (of the OUCH message) before it is sent."""
    packet = bytearray(link.core.stream.packets[-1])
    packet[3 + offset : 3 + offset + len(raw)] = raw  # after the SoupBinTCP length and type
    link.core.stream.packets[-1] = bytes(packet)


def _reframe_last(link: Link, message: bytes) -> None:
    """Replace the venue's newest message by ``message`` (a Sequenced Data packet of its length)."""
    link.core.stream.packets[-1] = struct.pack(">Hc", len(message) + 1, b"S") + message


def _enter_accepted_as(tmp_path: Path, qty: int, price: int) -> tuple[Link, Engine, Rig, MemoryLink]:
    link, engine, rig, strat = _gateway(tmp_path)
    rig.send(strat, NewOrder("a1", "ACC1", "nasdaq", "AAPL", Side.BUY, 100, RESTING))
    engine.flush()
    assert link.connection is not None
    link.core.receive(link.connection, bytes(link._to_server), link.clock())
    link._to_server.clear()
    _edit_last(link, QUANTITY, qty.to_bytes(4, "big"))
    _edit_last(link, PRICE, price.to_bytes(8, "big"))
    _pump(link, engine)
    return link, engine, rig, strat


def test_accepted_when_the_venue_accepts_fewer_shares_then_order_risk_and_strategy_follow_and_a_late_cancel_closed(
    tmp_path: Path,
) -> None:
    link, engine, rig, strat = _enter_accepted_as(tmp_path, 60, RESTING)

    (accepted,) = [m for m in strat.received() if isinstance(m, OrderAccepted)]
    assert (accepted.qty, accepted.price) == (60, RESTING)
    (order,) = engine.orders.values()
    assert (order.qty, order.leaves_qty) == (60, 60)
    assert isinstance(engine.risk, LimitRisk)
    assert engine.risk.changes == [(order.order_id, 100, 60)]  # risk recounts the order's open quantity

    assert link.core.exchange.execute(1, 60)  # the venue's book still holds 40 more: the gateway follows the message
    _pump(link, engine)
    (fill,) = [m for m in strat.received() if isinstance(m, Executed)]
    assert (fill.qty, fill.cum_qty, fill.leaves_qty) == (60, 60, 0)
    assert order.state is OrderState.FILLED

    rig.send(strat, Cancel("a1"))
    _pump(link, engine)
    (refused,) = strat.received()
    assert isinstance(refused, CancelRejected)
    assert (refused.source, refused.code) == (RejectSource.GATEWAY, "ORDER_CLOSED")
    assert [r.type for r in link.core.exchange.records if r.type == "X"] == []  # the venue is not asked

    # the journal rebuilds the same order, and a strategy replaying from the start sees the accepted quantity
    engine.flush()
    link.disconnect()
    _second, engine2, rig2 = restart_from_journal(link, tmp_path)
    (rebuilt,) = engine2.orders.values()
    assert (rebuilt.qty, rebuilt.leaves_qty, rebuilt.cum_qty, rebuilt.state) == (60, 0, 60, OrderState.FILLED)
    replay = rig2.connect("S1", last_seq=0).received()
    assert [(m.qty, m.price) for m in replay if isinstance(m, OrderAccepted)] == [(60, RESTING)]
    assert [(m.cum_qty, m.leaves_qty) for m in replay if isinstance(m, Executed)] == [(60, 0)]


def test_accepted_when_the_venue_accepts_at_another_price_then_the_order_rests_at_it(tmp_path: Path) -> None:
    link, engine, _rig, strat = _enter_accepted_as(tmp_path, 100, RESTING - 300)

    (accepted,) = [m for m in strat.received() if isinstance(m, OrderAccepted)]
    assert (accepted.qty, accepted.price) == (100, RESTING - 300)
    (order,) = engine.orders.values()
    assert (order.qty, order.price, order.leaves_qty) == (100, RESTING - 300, 100)
    assert isinstance(engine.risk, LimitRisk)
    assert engine.risk.changes == [(order.order_id, 100, 100)]

    engine.flush()  # a restart rebuilds the order as the venue accepted it, still open
    link.disconnect()
    _second, engine2, _rig2 = restart_from_journal(link, tmp_path)
    (rebuilt,) = engine2.orders.values()
    assert (rebuilt.qty, rebuilt.price, rebuilt.leaves_qty, rebuilt.state) == (100, RESTING - 300, 100, OrderState.LIVE)


def _accepted_order(tmp_path: Path) -> tuple[Link, Engine, MemoryLink]:
    link, engine, rig, strat = _gateway(tmp_path)
    rig.send(strat, NewOrder("e1", "ACC1", "nasdaq", "AAPL", Side.BUY, 100, RESTING))
    engine.flush()
    _pump(link, engine)
    assert [m.qty for m in strat.received() if isinstance(m, OrderAccepted)] == [100]
    return link, engine, strat


@pytest.mark.parametrize(
    ("tail", "what"),
    [
        (b"\x00\x00\x02\x1c\x00", "Order Executed: 39 bytes but the layout needs 36"),  # Appendage Length 0, 3 more
        (b"\x00\x05", "Order Executed: 36 bytes, needs 41"),  # Appendage Length 5, nothing follows
        (b"\x00\x03\x05\x1c\x00", "Order Executed:"),  # a TagValue element longer than the appendage
        (b"\x00", "Order Executed: 35 bytes, needs 36"),  # the Appendage Length itself cut
    ],
)
def test_executed_when_its_appendage_is_malformed_then_the_fill_is_applied_counted_and_logged_at_error(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, tail: bytes, what: str
) -> None:
    link, engine, strat = _accepted_order(tmp_path)
    assert link.core.exchange.execute(1, 40)
    fields = link.core.stream.packets[-1][3 : 3 + 34]  # Type .. Match Number (OUCH 5.0 Order Executed)
    kind, _ts, urn, qty, price, _liquidity, match = struct.unpack(">cQIIQcQ", fields)
    assert (kind, urn, qty, price) == (b"E", 1, 40, RESTING)
    _reframe_last(link, fields + tail)

    with caplog.at_level(logging.ERROR, logger="venues.ouch.adapter"):
        _pump(link, engine)

    (fill,) = [m for m in strat.received() if isinstance(m, Executed)]
    assert (fill.qty, fill.price, fill.exec_id, fill.cum_qty, fill.leaves_qty) == (40, RESTING, str(match), 40, 60)
    status = link.venue.status()
    assert (status["protocol_errors"], status["decode_errors"]) == (1, 0)
    (line,) = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert f"UserRefNum 1, quantity 40, price {RESTING}" in line and f"match number {match}" in line
    assert "sequence 2" in line and what in line


def test_canceled_when_its_appendage_length_lies_then_the_cancel_is_applied(tmp_path: Path) -> None:
    link, engine, strat = _accepted_order(tmp_path)
    assert link.core.exchange.cancel(1, "U")
    fields = link.core.stream.packets[-1][3 : 3 + 18]  # Type, Timestamp, UserRefNum, Quantity, Reason
    assert fields[:1] == b"C" and struct.unpack_from(">I", fields, 13) == (100,)
    _reframe_last(link, fields + b"\x00\x04")  # Appendage Length 4, nothing follows
    _pump(link, engine)
    (canceled,) = [m for m in strat.received() if isinstance(m, Canceled)]
    assert (canceled.canceled_qty, canceled.leaves_qty) == (100, 0)
    assert link.venue.status()["protocol_errors"] == 1


def test_executed_when_too_short_for_its_fields_then_undecodable_as_before(tmp_path: Path) -> None:
    link, engine, strat = _accepted_order(tmp_path)
    assert link.core.exchange.execute(1, 40)
    _reframe_last(link, link.core.stream.packets[-1][3 : 3 + 30])  # cut inside the Match Number
    _pump(link, engine)
    assert [m for m in strat.received() if isinstance(m, Executed)] == []
    status = link.venue.status()
    assert (status["decode_errors"], status["protocol_errors"]) == (1, 0)

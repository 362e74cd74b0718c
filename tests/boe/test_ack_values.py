"""BOE: an Order Acknowledgment's return fields checked against the New Order sent (rev55boe s11).

``DEFAULT_RETURN_FIELDS`` asks for Side, Price, Symbol, OrderQty and LeavesQty on the Ack "to check answers against
orders", yet before boebook55 an Ack for 50 of a 100-share order, or with another Side, Price or Symbol, was taken
silently. Now the policy is OUCH's for its Accepted: fewer shares or a better price are Cboe's word (the order
takes them); another side, symbol, more shares or a worse price is another order than the one risk checked:
``OrderRejected`` ``BOE_ACCEPTED_MISMATCH`` (source VENUE), and the order canceled at Cboe by its ClOrdID.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest

from gateway.engine import Engine
from gateway.protocol.messages import NewOrder, OrderAccepted, OrderRejected
from model.enums import RejectSource, Side
from model.order import OrderState
from tests.boe.harness import PX, Link, gateway_over
from venues.boe.codec import decode_outbound_generic, encode_message
from venues.boe.messages import OrderAcknowledgment

RESTING = PX - 100


def _tamper(link: Link, change: Callable[[Any], dict[str, Any]]) -> None:
    """Rewrite every Order Acknowledgment the simulator sends: ``change(optional)`` gives the fields to replace."""
    output = link.core.output

    def tampered(connection: Any, now: int) -> tuple[bytes, bool]:
        out, cut = output(connection, now)
        data, rewritten = bytes(out), bytearray()
        while len(data) >= 4:
            size = int.from_bytes(data[2:4], "little") + 2
            message, data = data[:size], data[size:]
            decoded = decode_outbound_generic(message)
            if isinstance(decoded, OrderAcknowledgment):
                optional = msgspec.structs.replace(decoded.optional, **change(decoded.optional))
                message = encode_message(msgspec.structs.replace(decoded, optional=optional))
            rewritten += message
        return bytes(rewritten + data), cut

    link.core.output = tampered  # type: ignore[method-assign,assignment]


def _one_order(
    tmp_path: Path, change: Callable[[Any], dict[str, Any]], side: Side = Side.BUY
) -> tuple[Link, Engine, list[Any]]:
    link = Link(tmp_path / "boe")
    engine, rig = gateway_over(link, tmp_path / "journal")
    link.connect()
    strat = rig.connect("S1")
    _tamper(link, change)
    rig.send(strat, NewOrder("a0", "ACC1", "cboe", "AAPL", side, 100, RESTING))
    for _ in range(3):
        link.pump()
        engine.flush()
    return link, engine, strat.received()


def _order(engine: Engine) -> Any:
    return next(o for o in engine.orders.values() if o.cl_ord_id == "a0")


@pytest.mark.parametrize(
    ("change", "what"),
    [
        (lambda f: {"side": "2"}, "side 1 -> 2"),
        (lambda f: {"symbol": "MSFT"}, "symbol 'AAPL' -> 'MSFT'"),
        (lambda f: {"price": RESTING + 10_000}, "(worse than sent)"),
        (lambda f: {"order_qty": 150, "leaves_qty": 150}, "OrderQty 100 -> 150 (more than sent)"),
        (lambda f: {"time_in_force": "1"}, "time in force 0 -> 1"),  # a field not negotiated: the generic decoder
    ],
    ids=["side", "symbol", "worse-price", "more-shares", "longer-tif-other-bitfields"],
)
def test_ack_of_another_order_then_rejected_mismatch_and_canceled_at_cboe(
    tmp_path: Path, change: Callable[[Any], dict[str, Any]], what: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="venues.boe.adapter"):
        link, engine, got = _one_order(tmp_path, change)
    rejects = [m for m in got if isinstance(m, OrderRejected)]
    assert [m for m in got if isinstance(m, OrderAccepted)] == []  # old: OrderAccepted, taken silently
    assert [(m.source, m.code) for m in rejects] == [(RejectSource.VENUE, "BOE_ACCEPTED_MISMATCH")]
    assert what in rejects[0].text
    assert _order(engine).state is OrderState.REJECTED
    assert link.venue.status()["accepted_mismatch"] == 1
    # canceled at Cboe by its ClOrdID, and Cboe's answer settles the Cancel owed
    assert [r.outcome for r in link.exchange_records if "Cancel" in r.type] == ["cancelled"], link.exchange_records
    assert link.venue.status()["late_cancels_waiting"] == 0
    assert not [o for o in link.core.exchange.orders.values() if o.leaves > 0]
    assert "acknowledges another order than the New Order sent" in caplog.text


def test_ack_for_fewer_shares_and_a_better_price_then_the_order_takes_them(tmp_path: Path) -> None:
    link, engine, got = _one_order(tmp_path, lambda f: {"order_qty": 50, "leaves_qty": 50, "price": RESTING - 100})
    accepted = [m for m in got if isinstance(m, OrderAccepted)]
    assert [(m.qty, m.price) for m in accepted] == [(50, RESTING - 100)]  # old: (100, RESTING)
    order = _order(engine)
    assert (order.qty, order.leaves_qty, order.price, order.state) == (50, 50, RESTING - 100, OrderState.LIVE)
    assert link.venue.status()["accepted_mismatch"] == 0


def test_ack_as_sent_then_accepted_unchanged(tmp_path: Path) -> None:
    link, _engine, got = _one_order(tmp_path, lambda f: {}, side=Side.SELL)
    assert [(m.qty, m.price) for m in got if isinstance(m, OrderAccepted)] == [(100, RESTING)]
    assert link.venue.status()["accepted_mismatch"] == 0


def test_ack_of_a_day_order_as_ioc_with_other_bitfields_then_taken(tmp_path: Path) -> None:
    """Day acknowledged as IOC is shorter (OUCH's rule); the Ack carries a bitfield set not negotiated."""
    link, _engine, got = _one_order(tmp_path, lambda f: {"time_in_force": "3"})
    assert [(m.qty, m.price) for m in got if isinstance(m, OrderAccepted)] == [(100, RESTING)]
    assert (link.venue.status()["accepted_mismatch"], link.venue.status()["ack_unchecked"]) == (0, 0)

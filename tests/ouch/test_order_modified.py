"""Order Modified (``M``): the venue cut the order's open quantity (rev38ouch s4b).

Before ouchfix38 the message was only counted: a venue that cut 100 to 50 and then canceled the 50 left the
order open with 50 in the gateway; one cut to 60 and then filled for 60 left 40 open, and a Cancel of those
was ignored by the venue, never answered. Now the shares taken off reach the strategy as Canceled "MODIFIED".
"""

from __future__ import annotations

from pathlib import Path

from gateway.engine import Engine
from gateway.protocol.messages import Cancel, Canceled, Executed, NewOrder
from model.enums import Side
from model.order import OrderState
from tests.harness import MemoryLink, Rig
from tests.ouch.harness import PX, TS, Link, gateway_over
from venues.ouch.codec import encode_message
from venues.ouch.messages import ModifyOrder, OrderModified

RESTING = PX - 100


def _resting(link: Link, engine: Engine, rig: Rig, strat: MemoryLink) -> int:
    rig.send(strat, NewOrder("A", "ACC1", "nasdaq", "AAPL", Side.BUY, 100, RESTING))
    link.pump()
    engine.flush()
    strat.received()
    return int(engine.strategies["S1"].orders["A"].venue_ref)


def _modify(link: Link, engine: Engine, user_ref_num: int, quantity: int) -> None:
    """The venue reduces the order (as after a desk's Modify Order): it sends Order Modified."""
    link.core.exchange.on_message(encode_message(ModifyOrder(user_ref_num, "B", quantity)))
    link.pump()
    engine.flush()


def test_modified_then_canceled_then_the_order_ends(tmp_path: Path) -> None:
    link = Link(tmp_path / "ouch")
    engine, rig = gateway_over(link, tmp_path / "j1")
    link.connect()
    strat = rig.connect("S1")
    urn = _resting(link, engine, rig, strat)
    _modify(link, engine, urn, 50)
    cut = [m for m in strat.received() if isinstance(m, Canceled)]
    assert [(m.canceled_qty, m.leaves_qty, m.reason) for m in cut] == [(50, 50, "MODIFIED")]
    rig.send(strat, Cancel("A"))
    link.pump()
    engine.flush()
    done = [m for m in strat.received() if isinstance(m, Canceled)]
    assert [(m.canceled_qty, m.leaves_qty) for m in done] == [(50, 0)]  # old: Canceled 50 leaves 50, still open
    assert engine.strategies["S1"].orders.get("A") is None or engine.strategies["S1"].orders["A"].state is (
        OrderState.CANCELED
    )
    assert link.venue.status()["modified"] == 1


def test_modified_then_filled_for_the_rest_then_the_order_is_filled(tmp_path: Path) -> None:
    link = Link(tmp_path / "ouch")
    engine, rig = gateway_over(link, tmp_path / "j1")
    link.connect()
    strat = rig.connect("S1")
    urn = _resting(link, engine, rig, strat)
    _modify(link, engine, urn, 60)
    link.core.exchange.execute(urn, 60, RESTING)
    link.pump()
    engine.flush()
    fills = [m for m in strat.received() if isinstance(m, Executed)]
    assert [(m.qty, m.leaves_qty) for m in fills] == [(60, 0)]  # old: leaves 40, open for ever
    assert link.venue.status()["awaiting_answer"] == 0


def test_modified_to_the_same_size_then_only_counted(tmp_path: Path) -> None:
    link = Link(tmp_path / "ouch")
    engine, rig = gateway_over(link, tmp_path / "j1")
    link.connect()
    strat = rig.connect("S1")
    urn = _resting(link, engine, rig, strat)
    link.core.stream.append(encode_message(OrderModified(TS, urn, "B", 100)))  # e.g. only the side changed
    link.pump()
    engine.flush()
    assert [m for m in strat.received() if isinstance(m, Canceled)] == []
    assert (link.venue.status()["ignored_by_type"], link.venue.status()["modified"]) == ({"M": 1}, 0)

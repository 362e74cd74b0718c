"""A venue message about an order the gateway does not know counts in ``venue_events_unknown_order``, whatever the key.

The adapters find most of them (OUCH UserRefNum, BOE and FIX ClOrdID unknown to them) before any event reaches the
engine; each such message counts in the engine's counter too, the one docs/reliability.md 2.3c and an operator's
alert name, besides the adapter's own per-key counter. Real adapters and simulators, a real engine.
"""

from __future__ import annotations

from pathlib import Path

from gateway.engine import Engine
from gateway.entitlements import Entitlements, StrategyEntitlement
from gateway.journal import NullJournal
from model.clock import NowNs
from tests.boe.harness import PX as BOE_PX
from tests.boe.harness import Link as BoeLink
from tests.boe.harness import make_order as boe_order
from tests.fix.test_adapter import Rig as FixRig
from tests.harness import LimitRisk
from tests.ouch.harness import PX, TS, Link, gateway_over, make_order
from venues.base import VenueAdapter
from venues.boe.adapter import split_ref
from venues.ouch.codec import encode_message
from venues.ouch.messages import OrderExecuted


def _engine(venue: VenueAdapter, clock: NowNs) -> Engine:
    return Engine(
        clock=clock,
        risk=LimitRisk(max_qty=2_000_000),
        venues=[venue],
        entitlements=Entitlements({"S1": StrategyEntitlement(accounts=["ACC1"], uids=[1000])}, gateway_uid=1000),
        journal=NullJournal(),
    )


def test_ouch_when_execution_names_unknown_user_ref_num_then_engine_counter_counts_it(tmp_path: Path) -> None:
    link = Link(tmp_path / "ouch", max_refetches=0)  # a number never issued: taken as not ours at once
    engine, _rig = gateway_over(link, tmp_path / "j")
    link.connect()
    link.send_new(make_order(22, price=PX))  # not through the engine: its accept counts as unknown there too
    link.pump()
    before = engine.counter_values()["venue_events_unknown_order"]
    link.core.stream.append(encode_message(OrderExecuted(TS, 999, 1, PX, "A", 1)))  # a UserRefNum nobody sent
    link.pump()
    assert link.venue.status()["unknown_user_ref_num"] == 1
    assert engine.counter_values()["venue_events_unknown_order"] == before + 1  # the old code: before


def test_boe_when_answer_names_unknown_cl_ord_id_then_engine_counter_counts_it(tmp_path: Path) -> None:
    link = BoeLink(tmp_path)
    engine = _engine(link.venue, link.clock)
    link.connect()
    link.core.exchange.set_reference_price("AAPL", BOE_PX)
    link.send_new(boe_order(1))  # not through the engine: its accept counts as unknown there too
    link.pump()
    before = engine.counter_values()["venue_events_unknown_order"]
    link.venue._refs.clear()  # the adapter forgot it (the journal lost it)
    link.venue._orders.clear()  # (an order still tracked is found by the order id its ClOrdID names: boefix41)
    link.core.exchange.execute(split_ref(link.orders[1].venue_ref)[0], 10)
    link.pump()
    # today's ClOrdID names order 1, which the engine's journal never created: an unknown execution (fixboe53: the
    # adapter asks the engine first; before, it passed it on as a late fill, counted ``executions_after_end``), and
    # Cboe's answer to the Cancel the gateway sends for it names the same unknown ClOrdID: both count, in the
    # adapter's ``unknown_cl_ord_id`` and the engine's counter
    counters = link.venue.counters
    assert (counters["executions_after_end"], counters["unknown_executions"], counters["unknown_cl_ord_id"]) == (
        0,
        1,
        2,
    )
    assert engine.counter_values()["venue_events_unknown_order"] == before + 2  # before fixboe53: + 1; the old code: +0


def test_fix_when_execution_report_names_unknown_cl_ord_id_then_engine_counter_counts_it() -> None:
    rig = FixRig()
    engine = _engine(rig.adapter, rig.clock)
    rig.up()
    rig.feed(rig.peer.execution_report(b"Q999", b"0"), rig.peer.execution_report(b"ZZZ", b"0"))
    assert rig.adapter.counters["unknown_cl_ord_id"] == 2
    assert engine.counter_values()["venue_events_unknown_order"] == 2  # the old code: 0

"""Regression (found in review): a replace the adapter refuses synchronously must not make recovery diverge."""

from __future__ import annotations

from pathlib import Path

from gateway.engine import Engine
from gateway.entitlements import Entitlements, StrategyEntitlement
from gateway.journal import FileJournal, read_journal
from gateway.protocol.messages import Cancel, CancelRejected, NewOrder, Replace
from gateway.recovery import recover
from model.enums import RejectSource, Side
from model.fsync import FsyncPolicy
from model.order import Order, OrderState
from model.send_result import Refused, Sent
from model.venue_events import VenueState
from tests.harness import LimitRisk, Rig, ScriptedVenue
from tests.ouch.harness import PX, Link

ENTS = {"S1": StrategyEntitlement(accounts=["ACC1"], uids=[1000])}


def test_replace_when_ouch_refuses_it_synchronously_then_recovery_reproduces_live_state(tmp_path: Path) -> None:
    link = Link(tmp_path / "ouch")
    journal = FileJournal(tmp_path / "j", fsync=FsyncPolicy.NONE)
    engine = Engine(
        risk=LimitRisk(max_qty=2_000_000),
        venues=[link.venue],
        entitlements=Entitlements(ENTS, gateway_uid=1000),
        clock=link.clock,
        journal=journal,
    )
    link.connect()
    rig = Rig()  # only for its helpers
    rig.engine, rig.clock = engine, link.clock
    strat = rig.connect("S1")
    rig.send(strat, NewOrder("A", "ACC1", "nasdaq", "AAPL", Side.BUY, 100, PX - 100))
    link.pump()
    order = engine.strategies["S1"].orders["A"]
    assert order.state is OrderState.LIVE
    rig.send(strat, Replace("A", 1_000_000, PX - 100))  # over OUCH's 999,999: the adapter refuses at once
    assert order.state is OrderState.LIVE  # live: CancelRejected(OUCH_REPLACE), order unchanged
    (rej,) = [m for m in strat.received() if isinstance(m, CancelRejected)]
    assert isinstance(rej, CancelRejected)
    # never sent: what OUCH can carry is the gateway's answer (strategy-protocol 8.2), like OUCH_QTY (was VENUE)
    assert (rej.source, rej.code) == (RejectSource.GATEWAY, "OUCH_REPLACE")
    journal.close()

    recovered = Rig(venues=[ScriptedVenue("nasdaq")])
    recovered.engine.adopt(recover(read_journal(tmp_path / "j")))
    again = recovered.engine.strategies["S1"].orders["A"]
    assert again.state is order.state, f"recovered {again.state.name}, live {order.state.name}"


class ForgetfulVenue(ScriptedVenue):
    """Refuses every cancel, as OuchVenue does for an order it has no chain for."""

    def send_cancel(self, order: Order) -> Sent | Refused:
        return Refused("OUCH_UNKNOWN_ORDER", "order was never sent to OUCH")


def test_cancel_when_adapter_refuses_it_then_strategy_told_once_and_recovery_reproduces_live_state(
    tmp_path: Path,
) -> None:
    venue = ForgetfulVenue("V1")
    rig = Rig(journal=FileJournal(tmp_path / "j", fsync=FsyncPolicy.NONE), venues=[venue])
    strat = rig.connect("S1")
    rig.new_order(strat, "A")
    venue.accept(1)
    rig.send(strat, Cancel("A"))
    refused = [e for e in strat.received() if isinstance(e, CancelRejected)]
    assert [(e.source, e.code) for e in refused] == [(RejectSource.VENUE, "OUCH_UNKNOWN_ORDER")]
    live = rig.order("S1", "A").state
    assert live is OrderState.LIVE
    rig.engine.journal.close()
    recovered = Rig()
    recovered.engine.adopt(recover(read_journal(tmp_path / "j")))
    assert recovered.order("S1", "A").state is live


def test_held_cancel_when_adapter_refuses_it_on_release_then_dropped_and_recovery_agrees(tmp_path: Path) -> None:
    venue = ForgetfulVenue("V1")
    rig = Rig(journal=FileJournal(tmp_path / "j", fsync=FsyncPolicy.NONE), venues=[venue])
    strat = rig.connect("S1")
    rig.new_order(strat, "A")
    venue.accept(1)
    venue.set_state(VenueState.DISCONNECTED)
    rig.send(strat, Cancel("A"))
    assert rig.order("S1", "A").state is OrderState.LIVE_HELD_CANCEL
    venue.set_state(VenueState.UP)  # the held cancel is released ... and refused
    rig.engine.flush()
    assert rig.order("S1", "A").state is OrderState.LIVE
    assert [e.code for e in strat.received() if isinstance(e, CancelRejected)] == ["OUCH_UNKNOWN_ORDER"]
    rig.engine.journal.close()
    recovered = Rig()
    recovered.engine.adopt(recover(read_journal(tmp_path / "j")))
    assert recovered.order("S1", "A").state is OrderState.LIVE

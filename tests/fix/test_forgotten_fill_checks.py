"""FIX: a fill for an order the engine released from memory is checked against the order rebuilt from the journal
(venfix40 item 2).

Before, a fill for an order the adapter no longer tracks skipped the Side/Symbol check (no tracked order to compare
with): a report naming our ClOrdID with another Side or Symbol went to the core as a fill of that order. And the
adapter's entry for an ended order (kept to check a late fill's CumQty) still held the object the engine released:
after the engine rebuilt the order from the journal and applied a late fill to the new object, the kept one had a
stale CumQty, so a copy of that fill under another ExecID passed the CumQty check and was applied twice. The adapter
now takes the order from the engine (``order_source``: memory, or the journal) and checks both against it.
A real engine with a real journal on a fake clock over the equities-fix42 dialect.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.engine import RELEASE_BATCH, Engine
from gateway.protocol.messages import Cancel, Executed, NewOrder
from model.enums import Side
from model.order import OrderState
from tests.harness import LimitRisk, MemoryLink, engine_over
from tests.harness import Rig as HarnessRig
from venues.fix.fields import MsgType

from .test_adapter import Rig

KEPT = 2


def _released(tmp_path: Path) -> tuple[Rig, Engine, HarnessRig, MemoryLink, str]:
    """Order A (100, 20 filled, then canceled) released from the engine's memory; return its ClOrdID too."""
    fix = Rig().up()
    engine, rig = engine_over(fix.adapter, fix.clock, tmp_path / "journal", max_qty=1_000)
    engine.terminal_orders_kept = KEPT
    strat = rig.connect("S1")
    rig.new_order(strat, "A", qty=100, price=1_502_500, venue="FIXV")
    (new_order,) = fix.wire.take()
    ref = new_order.get(b"11")
    fix.deliver(engine, fix.peer.execution_report(ref, b"0"))
    fill = fix.peer.execution_report(ref, b"1", ord_status=b"1", leaves=80, cum=20, last_qty=20, last_px=b"150.25")
    fix.deliver(engine, fill)
    rig.send(strat, Cancel("A"))
    engine.flush()
    (cancel,) = fix.wire.take()
    fix.deliver(engine, fix.peer.execution_report(cancel.get(b"11"), b"4", ord_status=b"4", leaves=0, cum=20))
    order = engine.strategies["S1"].orders["A"]
    assert (order.state, order.cum_qty) == (OrderState.CANCELED, 20)
    refused = [NewOrder(f"f{i}", "ACC1", "FIXV", "AAPL", Side.BUY, 5_000, 1_502_500) for i in range(RELEASE_BATCH + 10)]
    for start in range(0, len(refused), 50):  # over risk's limit: refused, terminal orders that push A out
        rig.send(strat, *refused[start : start + 50])
    engine.flush()
    assert order.order_id not in engine.orders  # released
    strat.received()
    return fix, engine, rig, strat, ref.decode()


def _late(
    fix: Rig, ref: str, exec_id: bytes, qty: int, cum: int, extra: list[tuple[bytes, bytes]] | None = None
) -> bytes:
    return fix.peer.execution_report(
        ref.encode(),
        b"2",
        ord_status=b"4",
        leaves=0,
        cum=cum,
        last_qty=qty,
        last_px=b"150.30",
        exec_id=exec_id,
        extra=extra,
    )


def _executed(strat: MemoryLink) -> list[tuple[int, int, str]]:
    return [(m.qty, m.cum_qty, m.exec_id) for m in strat.received() if isinstance(m, Executed)]


@pytest.mark.parametrize(("tag", "value"), [(b"54", b"2"), (b"55", b"MSFT")])
def test_late_fill_when_its_order_was_released_and_side_or_symbol_differ_then_refused_not_applied(
    tmp_path: Path, tag: bytes, value: bytes
) -> None:
    fix, engine, _rig, strat, ref = _released(tmp_path)
    executions = list(engine.risk.executions) if isinstance(engine.risk, LimitRisk) else []
    fix.deliver(engine, _late(fix, ref, b"BAD1", 10, 30, extra=[(tag, value)]))  # the last value of a tag wins
    assert _executed(strat) == []  # the old code: Executed 10 (cum 30) of the order, another side or symbol
    (reject,) = fix.wire.take()
    assert (reject.msg_type, reject.get(b"373"), reject.get(b"371")) == (MsgType.REJECT, b"5", tag)
    assert fix.adapter.counters["mismatched_reports"] == 1
    assert fix.adapter.counters["fills_after_end"] == 0
    assert isinstance(engine.risk, LimitRisk) and engine.risk.executions == executions
    order = engine.orders[1]  # rebuilt from the journal for the check, kept in memory as a terminal order
    assert (order.state, order.cum_qty) == (OrderState.CANCELED, 20)
    assert engine.journal_rebuilds == 1
    fix.deliver(engine, _late(fix, ref, b"LATE1", 10, 30))  # the same fill with the order's Side and Symbol
    assert _executed(strat) == [(10, 30, "LATE1")]
    assert engine.journal_rebuilds == 1  # found in memory this time


def test_late_fill_when_its_order_was_rebuilt_then_a_copy_under_another_exec_id_is_told_by_its_cum_qty(
    tmp_path: Path,
) -> None:
    fix, engine, _rig, strat, ref = _released(tmp_path)
    fix.deliver(engine, _late(fix, ref, b"LATE1", 10, 30))
    assert _executed(strat) == [(10, 30, "LATE1")]
    fix.deliver(engine, _late(fix, ref, b"LATE1-COPY", 10, 30))  # CumQty 30: the order has counted it
    assert _executed(strat) == []  # the old code: Executed 10 (cum 40), the stale entry said 20 counted
    assert engine.orders[1].cum_qty == 30
    assert engine.counters.repeated_fills == 1
    fix.deliver(engine, _late(fix, ref, b"LATE2", 5, 35))
    assert _executed(strat) == [(5, 35, "LATE2")]

"""A fill that leaves nothing open while a Replace raising the quantity is in flight does not end a FIX order.

rev38fix s8 (a, b, c), s7 (c): order 100 LIVE, a Replace to 120 in flight; the venue fills the 100 (OrdStatus E or
2), then accepts the Replace (150=5, 38=120, 14=100, 151=20), then fills the last 20 (FIX Appendix D, "Filled order
followed by Replace Request to increase quantity"). The first fill used to end the order FILLED: the Replaced and
the 20 were dropped as out of place, a Cancel held behind the Replace was never sent, and 20 shares the venue had
open were counted nowhere. Now the order stays PENDING_REPLACE with the 20 the Replace would leave open (reported
to the strategy and counted by risk); the Replaced revives it, and a refused Replace ends it FILLED.
A real engine on a fake clock over the broker-fix44 dialect (FIX 4.4), and the real exposure book.
"""

from __future__ import annotations

from pathlib import Path

from gateway.engine import Engine
from gateway.journal import read_journal
from gateway.protocol.messages import Cancel, Canceled, CancelRejected, Executed, Replace, Replaced
from gateway.recovery import recover
from gateway.venue_apply import executed
from model.order import Order, OrderState, request_replace
from model.venue_events import VenueExecuted
from risk.exposure import ExposureBook
from tests.harness import MemoryLink, engine_over
from venues.fix.fields import MsgType

from .helpers import make_order
from .test_adapter import Rig


def _report(
    fix: Rig, ref: str, exec_type: bytes, status: bytes, qty: int, cum: int, leaves: int, last: int = 0, orig: str = ""
) -> bytes:
    return fix.peer.execution_report(
        ref.encode(),
        exec_type,
        ord_status=status,
        order_qty=qty,
        cum=cum,
        leaves=leaves,
        last_qty=last,
        last_px=b"230",
        exec_id=b"X%d" % fix.peer.next_seq,
        orig_cl_ord_id=orig.encode(),
    )


def _cancel_reject(fix: Rig, ref: str, orig: str, status: bytes) -> bytes:
    body = [(b"37", b"OID1"), (b"11", ref.encode()), (b"41", orig.encode()), (b"39", status), (b"434", b"2")]
    return fix.peer.message(MsgType.ORDER_CANCEL_REJECT, [*body, (b"102", b"0"), (b"58", b"too late")])


def _replace_in_flight(tmp_path: Path, *, cancel_behind: bool = False) -> tuple[Rig, Engine, MemoryLink, str, str]:
    """Return the rig, engine, strategy link, the order's ClOrdID and its Replace's (100 -> 120, in flight)."""
    fix = Rig("broker-fix44").up()
    engine, rig = engine_over(fix.adapter, fix.clock, tmp_path / "journal", max_qty=1_000)
    strat = rig.connect("S1")
    rig.new_order(strat, "A", qty=100, price=2_300_000, venue="FIXV")
    (new_order,) = fix.wire.take()
    ref = new_order.get(b"11").decode()
    fix.deliver(engine, _report(fix, ref, b"0", b"0", 100, 0, 100))
    rig.send(strat, Replace("A", 120, 2_300_000))
    (replace,) = fix.wire.take()
    assert replace.msg_type == MsgType.ORDER_CANCEL_REPLACE_REQUEST
    if cancel_behind:
        rig.send(strat, Cancel("A"))
        assert fix.wire.take() == []  # held behind the Replace
    strat.received()
    return fix, engine, strat, ref, replace.get(b"11").decode()


def _order(engine: Engine) -> Order:
    return engine.strategies["S1"].orders["A"]


def _open_counted(order: Order) -> int:
    """Return the open quantity the risk engine's exposure book counts for ``order`` as it stands."""
    book = ExposureBook()
    book.sync(order, 2_300_000)
    record = book.counted(order)
    return 0 if record is None else record.leaves


def _events(link: MemoryLink) -> list[tuple[object, ...]]:
    out: list[tuple[object, ...]] = []
    for m in link.received():
        if isinstance(m, Executed):
            out.append(("Executed", m.qty, m.cum_qty, m.leaves_qty))
        elif isinstance(m, Replaced):
            out.append(("Replaced", m.qty, m.leaves_qty))
        elif isinstance(m, Canceled):
            out.append(("Canceled", m.canceled_qty, m.leaves_qty))
        elif isinstance(m, CancelRejected):
            out.append(("CancelRejected", m.code))
    return out


def _fill_100_then_replaced(fix: Rig, engine: Engine, ref: str, g_ref: str, fill_status: bytes) -> None:
    fix.deliver(engine, _report(fix, g_ref, b"E", b"E", 100, 0, 100, orig=ref))  # Pending Replace
    fix.deliver(engine, _report(fix, ref, b"F", fill_status, 100, 100, 0, last=100))
    order = _order(engine)
    assert (order.state, order.cum_qty, order.leaves_qty) == (OrderState.PENDING_REPLACE, 100, 20)
    assert _open_counted(order) == 20  # what the Replace leaves open if it takes: never less
    fix.deliver(engine, _report(fix, g_ref, b"5", b"1", 120, 100, 20, orig=ref))


def test_fill_reported_pending_replace_then_replace_up_taken_then_last_fill_applied(tmp_path: Path) -> None:
    # s8 (a): the fill says OrdStatus E (FIX 4.4: Pending Replace ranks above Filled)
    fix, engine, strat, ref, g_ref = _replace_in_flight(tmp_path)
    _fill_100_then_replaced(fix, engine, ref, g_ref, b"E")
    order = _order(engine)
    assert (order.state, order.qty, order.leaves_qty, _open_counted(order)) == (OrderState.LIVE, 120, 20, 20)
    fix.deliver(engine, _report(fix, g_ref, b"F", b"2", 120, 120, 0, last=20))
    assert (order.state, order.qty, order.cum_qty, order.leaves_qty) == (OrderState.FILLED, 120, 120, 0)
    assert _events(strat) == [("Executed", 100, 100, 20), ("Replaced", 120, 20), ("Executed", 20, 120, 0)]
    assert engine.counters.venue_events_out_of_place == 0


def test_fill_reported_filled_then_replace_up_taken_then_last_fill_applied(tmp_path: Path) -> None:
    # s8 (b): the same with the fill saying OrdStatus 2 (Filled), as a FIX 4.2 venue may
    fix, engine, strat, ref, g_ref = _replace_in_flight(tmp_path)
    _fill_100_then_replaced(fix, engine, ref, g_ref, b"2")
    fix.deliver(engine, _report(fix, g_ref, b"F", b"2", 120, 120, 0, last=20))
    order = _order(engine)
    assert (order.state, order.qty, order.cum_qty) == (OrderState.FILLED, 120, 120)
    assert _events(strat) == [("Executed", 100, 100, 20), ("Replaced", 120, 20), ("Executed", 20, 120, 0)]
    assert engine.counters.venue_events_out_of_place == 0


def test_cancel_held_behind_replace_up_crossed_by_fill_then_sent_after_replaced(tmp_path: Path) -> None:
    # s8 (c) / s7 (c): the Cancel held behind the Replace goes out once the Replace is answered, naming its ClOrdID
    fix, engine, strat, ref, g_ref = _replace_in_flight(tmp_path, cancel_behind=True)
    fix.deliver(engine, _report(fix, ref, b"F", b"2", 100, 100, 0, last=100))
    assert _order(engine).state is OrderState.PENDING_REPLACE_HELD_CANCEL
    fix.deliver(engine, _report(fix, g_ref, b"5", b"1", 120, 100, 20, orig=ref))
    (cancel,) = fix.wire.take()
    assert (cancel.msg_type, cancel.get(b"41")) == (MsgType.ORDER_CANCEL_REQUEST, g_ref.encode())
    fix.deliver(engine, _report(fix, cancel.get(b"11").decode(), b"4", b"4", 120, 100, 0, orig=g_ref))
    order = _order(engine)
    assert (order.state, order.cum_qty, order.leaves_qty) == (OrderState.CANCELED, 100, 0)
    assert _events(strat) == [("Executed", 100, 100, 20), ("Replaced", 120, 20), ("Canceled", 20, 0)]


def test_replace_up_refused_after_fill_then_order_ends_filled(tmp_path: Path) -> None:
    # the venue refuses the Replace (CxlRej, OrdStatus 2): the order ends FILLED, nothing counted open
    fix, engine, strat, ref, g_ref = _replace_in_flight(tmp_path, cancel_behind=True)
    fix.deliver(engine, _report(fix, ref, b"F", b"2", 100, 100, 0, last=100))
    fix.deliver(engine, _cancel_reject(fix, g_ref, ref, b"2"))
    order = _order(engine)
    assert (order.state, order.qty, order.cum_qty, order.leaves_qty) == (OrderState.FILLED, 100, 100, 0)
    assert _open_counted(order) == 0
    assert _events(strat) == [
        ("Executed", 100, 100, 20),
        ("CancelRejected", "TOO_LATE_TO_CANCEL"),
        ("Executed", 0, 100, 0),
    ]
    assert fix.wire.take() == []  # the held Cancel answered by the order's end, not sent
    assert fix.adapter.status()["open_orders"] == 0
    assert engine.counters.filled == 1
    assert engine.open_orders == {}


def test_order_kept_open_by_replace_up_when_recovered_from_journal_then_same_state(tmp_path: Path) -> None:
    fix, engine, _strat, ref, _g_ref = _replace_in_flight(tmp_path)
    fix.deliver(engine, _report(fix, ref, b"F", b"2", 100, 100, 0, last=100))
    engine.journal.close()
    recovered = recover(read_journal(tmp_path / "journal"))
    order = recovered.strategies["S1"].orders["A"]
    assert (order.state, order.cum_qty, order.leaves_qty, order.pending_qty) == (
        OrderState.PENDING_REPLACE,
        100,
        20,
        120,
    )
    assert order.order_id in recovered.open_orders


def test_fill_not_marked_replace_pending_when_order_fills_during_replace_up_then_filled() -> None:
    # OUCH and BOE never mark a fill: such an order ends FILLED as before (their venues drop a replace of a dead order)
    order = make_order(qty=100)
    order.state = OrderState.LIVE
    request_replace(order, 120, 1_502_500, "R1")
    assert executed(order, VenueExecuted(5, order.order_id, 100, 1_502_500, "", "M1"), 1, []) is not None
    assert (order.state, order.leaves_qty, order.pending_qty) == (OrderState.FILLED, 0, 0)


def test_fill_marked_replace_pending_when_replace_lowers_quantity_then_filled() -> None:
    # a Replace to 90 cannot keep a 100 filled order open: FILLED
    order = make_order(qty=100)
    order.state = OrderState.LIVE
    request_replace(order, 90, 1_502_500, "R1")
    assert executed(order, VenueExecuted(5, order.order_id, 100, 1_502_500, "", "M1", True), 1, []) is not None
    assert (order.state, order.leaves_qty) == (OrderState.FILLED, 0)


def _replace_down_crossed_by_fill(tmp_path: Path, replaced_status: bytes) -> tuple[Rig, Engine, MemoryLink]:
    """Replace 100 -> 70 crossed by a fill of 70; the venue's Replaced says ``replaced_status`` with nothing left."""
    fix = Rig("broker-fix44").up()
    engine, rig = engine_over(fix.adapter, fix.clock, tmp_path / "journal", max_qty=1_000)
    strat = rig.connect("S1")
    rig.new_order(strat, "A", qty=100, price=2_300_000, venue="FIXV")
    (new_order,) = fix.wire.take()
    ref = new_order.get(b"11").decode()
    fix.deliver(engine, _report(fix, ref, b"0", b"0", 100, 0, 100))
    rig.send(strat, Replace("A", 70, 2_300_000))
    (replace,) = fix.wire.take()
    g_ref = replace.get(b"11").decode()
    strat.received()
    fix.deliver(engine, _report(fix, ref, b"F", b"1", 100, 70, 30, last=70))
    fix.deliver(engine, _report(fix, g_ref, b"5", replaced_status, 70, 70, 0, orig=ref))
    return fix, engine, strat


def test_replace_down_to_what_executed_when_venue_says_filled_then_order_ends_filled(tmp_path: Path) -> None:
    # rev38fix s9 (FIX 4.2 App D11), s1 (b): 150=5 with 39=2: filled takes precedence over canceled
    fix, engine, strat = _replace_down_crossed_by_fill(tmp_path, b"2")
    order = _order(engine)
    assert (order.state, order.qty, order.cum_qty, order.leaves_qty) == (OrderState.FILLED, 70, 70, 0)
    assert _events(strat) == [("Executed", 70, 70, 30), ("Replaced", 70, 0), ("Executed", 0, 70, 0)]
    assert (engine.counters.filled, engine.counters.canceled) == (1, 0)
    assert fix.adapter.status()["open_orders"] == 0


def test_replace_down_to_what_executed_when_venue_says_canceled_then_order_canceled_nothing_left(
    tmp_path: Path,
) -> None:
    _fix, engine, strat = _replace_down_crossed_by_fill(tmp_path, b"4")
    assert _order(engine).state is OrderState.CANCELED
    assert _events(strat) == [("Executed", 70, 70, 30), ("Replaced", 70, 0), ("Canceled", 0, 0)]

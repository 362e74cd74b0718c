"""Recovery alone: journal records in, a ``Recovered`` value out, no engine involved."""

from __future__ import annotations

from pathlib import Path

from gateway.journal import FileJournal, JournalRecord, JStrategyEvent, JVenueEvent, read_journal
from gateway.protocol.messages import Cancel, Canceled, Executed, OrderAccepted, Replace, Replaced
from gateway.recovery import recover
from model.exactly_once import RequestKind, ResumePoint, UnansweredRequest
from model.fsync import FsyncPolicy
from model.order import OrderState
from tests.harness import Rig


def _day(path: Path) -> tuple[Rig, list[JournalRecord]]:
    rig = Rig(journal=FileJournal(path, fsync=FsyncPolicy.NONE))
    link = rig.connect("S1")
    rig.new_order(link, "A", qty=300)  # 1: filled in part, replaced, then canceled
    rig.new_order(link, "B")  # 2: accepted, replace in flight at the end
    rig.new_order(link, "C")  # 3: sent, never answered
    rig.new_order(link, "BIG", qty=50_000)  # 4: refused by risk
    rig.venue.accept(1)
    rig.venue.fill(1, 100, 1_000_000)
    rig.venue.accept(2)
    rig.send(link, Replace("A", 400, 1_010_000), Cancel("A"))  # the cancel is held behind the replace
    rig.venue.replaced(1, 300, 1_010_000)  # the held cancel goes out
    rig.venue.cancel(1)
    rig.send(link, Replace("B", 150, 1_000_000))
    rig.engine.flush()
    rig.engine.journal.close()
    return rig, list(read_journal(path))


def test_recover_when_journal_of_a_day_then_value_holds_orders_logs_exposure_resume_and_unanswered(
    tmp_path: Path,
) -> None:
    live, records = _day(tmp_path / "j")
    recovered = recover(records)
    assert {oid: o.state for oid, o in recovered.orders.items()} == {
        1: OrderState.CANCELED,
        2: OrderState.PENDING_REPLACE,
        3: OrderState.PENDING_NEW,
        4: OrderState.REJECTED,
    }
    assert {oid: o.state for oid, o in live.engine.orders.items()} == {
        oid: o.state for oid, o in recovered.orders.items()
    }
    assert set(recovered.open_orders) == {2, 3}
    st = recovered.strategies["S1"]
    assert st.events == live.engine.strategies["S1"].events
    assert st.next_seq == live.engine.strategies["S1"].next_seq
    assert set(st.open_orders) == {2, 3} and set(st.orders) == {"A", "B", "C", "BIG"}
    assert recovered.next_order_id == 5
    assert [(o.order_id, qty, price) for o, qty, price in recovered.exposure] == [
        (1, 0, 0),
        (2, 0, 0),
        (3, 0, 0),
        (1, 100, 1_000_000),
    ]
    assert recovered.resume == {"V1": ResumePoint("", live.venue.seq)}
    orders = recovered.orders
    assert recovered.unanswered == {
        "V1": [
            UnansweredRequest(orders[2], RequestKind.REPLACE, orders[2].pending_ref),
            UnansweredRequest(orders[3], RequestKind.NEW, "3"),
        ]
    }
    assert recovered.never_sent == [] and recovered.cut_off == []


def test_recover_when_the_tail_cut_a_venue_event_s_strategy_events_then_they_are_returned_cut_off(
    tmp_path: Path,
) -> None:
    _, records = _day(tmp_path / "j")
    last_replaced = max(i for i, r in enumerate(records) if isinstance(r, JVenueEvent) and r.event.venue_seq == 4)
    assert isinstance(records[last_replaced + 1], JStrategyEvent)
    recovered = recover(records[: last_replaced + 1])  # the Replaced survived, its strategy event did not
    ((strategy_id, event),) = recovered.cut_off
    assert strategy_id == "S1" and isinstance(event, Replaced)
    assert recovered.orders[1].state is OrderState.LIVE_HELD_CANCEL  # the held cancel never went out


def test_recover_when_an_order_was_created_and_the_rest_cut_then_it_is_never_sent(tmp_path: Path) -> None:
    _, records = _day(tmp_path / "j")
    recovered = recover(records[:3])  # Hello has no record: created A, sent A, created B
    assert [o.cl_ord_id for o in recovered.never_sent] == ["B"]
    assert recovered.orders[2].state is OrderState.CREATED


def test_recover_when_events_replayed_then_the_engine_saw_the_same_strategy_events(tmp_path: Path) -> None:
    live, records = _day(tmp_path / "j")
    kinds = [type(e) for e in recover(records).strategies["S1"].events]
    assert kinds == [type(e) for e in live.engine.strategies["S1"].events]
    assert OrderAccepted in kinds and Executed in kinds and Canceled in kinds

"""Recovery alone: journal records in, a ``Recovered`` value out, no engine involved."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from gateway.engine import Engine
from gateway.entitlements import Entitlements
from gateway.journal import (
    FileJournal,
    JOrderCreated,
    JOrderRefused,
    JOrderSent,
    JournalCorruptError,
    JournalRecord,
    JPositionAdjusted,
    JSentNew,
    JStrategyEvent,
    JVenueApplied,
    JVenueEvent,
    NullJournal,
    read_journal,
    unwrap_requests,
)
from gateway.journal_read import JournalReader
from gateway.protocol.messages import (
    Cancel,
    Canceled,
    CancelRejected,
    Error,
    Executed,
    OrderAccepted,
    OrderRejected,
    Replace,
    Replaced,
    Welcome,
)
from gateway.recovery import (
    ORDER_ID_MARGIN,
    Recovered,
    first_order_id,
    journal_note,
    lost_journal_problem,
    mark_journal_closed,
    mark_journal_open,
    note_journal_begun,
    read_open_marker,
    recover,
)
from gateway.replay import ReplayJob
from model.exactly_once import RequestKind, ResumePoint, UnansweredRequest
from model.fsync import FsyncPolicy
from model.order import OrderState
from risk.audit import read_audit_log
from tests.harness import Rig, ScriptedVenue, as_earlier_version
from tests.risk.support import make_engine


def _day(path: Path, version: int = 2) -> tuple[Rig, list[JournalRecord]]:
    """A day's journal; version 2 (the default) writes no request numbers (``JRequest``: test_request_sequence.py)."""
    rig = Rig(journal=FileJournal(path, fsync=FsyncPolicy.NONE))
    link = rig.connect("S1", version=version)
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


def _same(a: Recovered, b: Recovered) -> None:
    assert {k: msgspec.structs.asdict(o) for k, o in a.orders.items()} == {
        k: msgspec.structs.asdict(o) for k, o in b.orders.items()
    }
    assert {k: (st.events, st.next_seq, set(st.open_orders)) for k, st in a.strategies.items()} == {
        k: (st.events, st.next_seq, set(st.open_orders)) for k, st in b.strategies.items()
    }
    assert [(o.order_id, q, p) for o, q, p in a.exposure] == [(o.order_id, q, p) for o, q, p in b.exposure]
    assert (a.resume, a.next_order_id, a.cut_off) == (b.resume, b.next_order_id, b.cut_off)
    assert [o.order_id for o in a.never_sent] == [o.order_id for o in b.never_sent]


@pytest.mark.parametrize("version", [2, 3])
def test_recover_when_one_record_per_order_event_then_the_same_day_as_an_earlier_version_s_records(
    tmp_path: Path, version: int
) -> None:
    _, records = _day(tmp_path / "j", version)
    kinds = {type(r) for r in unwrap_requests(records)}
    assert JOrderSent in kinds and JVenueApplied in kinds
    assert JVenueEvent not in kinds and JSentNew not in kinds  # the sent orders and venue events: one record each
    assert not any(isinstance(r, JStrategyEvent) and isinstance(r.event, OrderAccepted) for r in records)
    earlier = as_earlier_version(records)
    assert len(earlier) > len(records)
    _same(recover(records), recover(earlier))


def test_recover_when_the_tail_cut_a_venue_event_s_strategy_events_then_they_are_returned_cut_off(
    tmp_path: Path,
) -> None:
    _, records = _day(tmp_path / "j")
    records = as_earlier_version(records)  # a record now holds a venue event and its strategy events together
    last_replaced = max(i for i, r in enumerate(records) if type(r) is JVenueEvent and r.event.venue_seq == 4)
    assert isinstance(records[last_replaced + 1], JStrategyEvent)
    recovered = recover(records[: last_replaced + 1])  # the Replaced survived, its strategy event did not
    ((strategy_id, event),) = recovered.cut_off
    assert strategy_id == "S1" and isinstance(event, Replaced)
    assert recovered.orders[1].state is OrderState.LIVE_HELD_CANCEL  # the held cancel never went out


def test_recover_when_a_venue_event_record_survived_then_its_strategy_events_are_never_cut_off(
    tmp_path: Path,
) -> None:
    _, records = _day(tmp_path / "j")
    last_replaced = max(i for i, r in enumerate(records) if isinstance(r, JVenueApplied) and r.event.venue_seq == 4)
    recovered = recover(records[: last_replaced + 1])
    assert recovered.cut_off == []
    assert isinstance(recovered.strategies["S1"].events[-1], Replaced)
    assert recovered.orders[1].state is OrderState.LIVE_HELD_CANCEL  # the held cancel never went out


def test_recover_when_a_venue_event_record_numbers_its_events_wrongly_then_corrupt(tmp_path: Path) -> None:
    _, records = _day(tmp_path / "j")
    at = next(i for i, r in enumerate(records) if isinstance(r, JVenueApplied))
    bad = records[at]
    assert isinstance(bad, JVenueApplied)
    records[at] = JVenueApplied(bad.venue, bad.event, bad.seq + 1)
    with pytest.raises(JournalCorruptError, match="numbers its strategy events from"):
        recover(records)


def test_recover_when_an_order_was_created_and_the_rest_cut_then_it_is_never_sent(tmp_path: Path) -> None:
    _, records = _day(tmp_path / "j")
    created = next(i for i, r in enumerate(records) if type(r) is JOrderCreated)
    assert isinstance(records[created + 1], JOrderRefused)  # BIG: created and refused (risk)
    recovered = recover(records[: created + 1])
    assert [o.cl_ord_id for o in recovered.never_sent] == ["BIG"]
    assert recovered.orders[4].state is OrderState.CREATED
    earlier = as_earlier_version(records)
    recovered = recover(earlier[:3])  # an earlier version's journal: created A, sent A, created B
    assert [o.cl_ord_id for o in recovered.never_sent] == ["B"]
    assert recovered.orders[2].state is OrderState.CREATED


def test_recover_when_events_replayed_then_the_engine_saw_the_same_strategy_events(tmp_path: Path) -> None:
    live, records = _day(tmp_path / "j")
    kinds = [type(e) for e in recover(records).strategies["S1"].events]
    assert kinds == [type(e) for e in live.engine.strategies["S1"].events]
    assert OrderAccepted in kinds and Executed in kinds and Canceled in kinds


def test_hello_when_last_seq_beyond_the_journal_then_events_numbered_after_it_through_recovery_and_replay(
    tmp_path: Path,
) -> None:
    """A strategy holding events the journal lost (a power failure): its events go on after its ``last_seq``."""
    path = tmp_path / "j"
    rig = Rig(journal=FileJournal(path, fsync=FsyncPolicy.NONE))
    link = rig.connect("S1")
    rig.new_order(link, "A")
    rig.venue.accept(1)  # seq 1
    rig.engine.flush()
    rig.engine.link_closed(link)
    ahead = rig.connect("S1", last_seq=9)  # it saw events 2..9 that the journal no longer has
    welcome, notice, *_ = ahead.received()
    assert isinstance(welcome, Welcome) and (welcome.next_seq, welcome.replayed) == (10, 0)
    assert isinstance(notice, Error) and (notice.code, notice.fatal) == ("LAST_SEQ_AHEAD", False)
    assert "lost events 2..9" in notice.text and "numbered from 10" in notice.text
    assert rig.engine.counters.strategy_seq_ahead == 1
    rig.new_order(ahead, "B")
    rig.venue.accept(2)
    rig.engine.flush()
    accepted = [m for m in ahead.received() if isinstance(m, OrderAccepted)]
    assert [e.seq for e in accepted] == [10]  # the old code numbered it 2: a strategy at 9 discarded it
    rig.engine.journal.close()

    recovered = recover(read_journal(path))  # a restart keeps the numbering
    st = recovered.strategies["S1"]
    assert st.next_seq == 11 and st.numbered_base == 9 and [e.seq for e in st.events] == [1, 10] and st.jumped == 1
    job = ReplayJob(JournalReader(path, 0), "S1", 0, 9)  # an older last_seq: what the journal has, nothing else
    result = job.run()
    assert not isinstance(result, str) and [e.seq for e in result] == [1]

    again = Rig(journal=FileJournal(path, fsync=FsyncPolicy.NONE))
    again.engine.adopt(recover(read_journal(path)))
    fresh = again.connect("S1")
    assert [m.seq for m in fresh.received() if isinstance(m, OrderAccepted)] == [1, 10]
    again.engine.journal.close()


def _orders(rig: Rig, strategy_id: str) -> object:
    """Return the strategy's ``orders`` in the engine's status document."""
    strategies = rig.engine.status()["strategies"]
    assert isinstance(strategies, dict)
    return strategies[strategy_id]["orders"]


def test_new_order_when_refused_invalid_field_then_its_cl_ord_id_is_used_up_live_and_after_a_restart(
    tmp_path: Path,
) -> None:
    """Review 35, 2: a NewOrder refused INVALID_FIELD uses its ``cl_ord_id`` up, like any NewOrder's answer.

    The old code created no order for it and remembered nothing: the same ``cl_ord_id`` was accepted
    next, so one id had an OrderRejected (terminal) and then an OrderAccepted.
    """
    path = tmp_path / "j"
    rig = Rig(journal=FileJournal(path, fsync=FsyncPolicy.NONE))
    link = rig.connect("S1")
    rig.new_order(link, "K", qty=0)  # qty 0 breaks a field rule: INVALID_FIELD by its cl_ord_id
    rig.new_order(link, "K")
    rig.send(link, Cancel("K"))
    rig.new_order(link, "L")  # a real order, for the count
    rig.engine.flush()
    answers = [
        (type(m).__name__, m.cl_ord_id, m.code)
        for m in link.received()
        if isinstance(m, OrderRejected | CancelRejected)
    ]
    assert answers == [
        ("OrderRejected", "K", "INVALID_FIELD"),
        ("OrderRejected", "K", "DUPLICATE_CL_ORD_ID"),  # the old code created the order here
        ("CancelRejected", "K", "ORDER_CLOSED"),  # REJECTED is terminal (6.3)
    ]
    assert [c[0] for c in rig.venue.commands] == ["new"]  # L only
    assert _orders(rig, "S1") == 1  # L only: K never became an order
    rig.engine.link_closed(link)
    rig.engine.journal.close()

    again = Rig(journal=FileJournal(path, fsync=FsyncPolicy.NONE))
    again.engine.adopt(recover(read_journal(path)))
    fresh = again.connect("S1", last_seq=4)
    again.new_order(fresh, "K")
    again.engine.flush()
    (refused,) = [m for m in fresh.received() if isinstance(m, OrderRejected)]
    assert (refused.cl_ord_id, refused.code) == ("K", "DUPLICATE_CL_ORD_ID")
    assert _orders(again, "S1") == 1
    again.engine.journal.close()


def test_first_order_id_when_unclean_stops_follow_each_other_then_each_start_skips_past_the_last_start(
    tmp_path: Path,
) -> None:
    """Two power failures in a row: the second start skips past the first start's ids, not only the journal's."""
    journal = tmp_path / "gw-20260101.journal"
    assert read_open_marker(journal) is None  # no gateway ran: a clean start
    assert first_order_id(21, None, True, FsyncPolicy.INTERVAL) == 21
    first = first_order_id(21, 0, False, FsyncPolicy.INTERVAL)
    assert first == 21 + ORDER_ID_MARGIN
    mark_journal_open(journal, first)  # the run uses ids from `first`; a power failure cuts all their records
    assert read_open_marker(journal) == first
    again = first_order_id(21, read_open_marker(journal), False, FsyncPolicy.INTERVAL)
    assert again == first + ORDER_ID_MARGIN  # the journal still says 21: the old code started at 21 again
    assert first_order_id(21, first, False, FsyncPolicy.BATCH) == 21  # batch: a lost id never reached a venue
    mark_journal_closed(journal)
    assert read_open_marker(journal) is None
    journal.with_name(journal.name + ".open").write_text("garbage")
    assert read_open_marker(journal) == 0  # unreadable: still an unclean stop


def test_first_order_id_when_a_venue_floor_lies_above_the_last_start_then_the_margin_counts_from_the_floor() -> None:
    """An OUCH standby takeover raised the ids above its floor after the start (ouchid54): skip past the floor too."""
    floor = 5_000_000  # the OUCH state file's ``order_ids``: the ids went on from 5000001
    assert first_order_id(21, 1, False, FsyncPolicy.INTERVAL, floor) == floor + 1 + ORDER_ID_MARGIN  # old: 1 + margin
    assert first_order_id(21, 1, False, FsyncPolicy.INTERVAL, 10) == 21 + ORDER_ID_MARGIN  # a floor below: as before
    assert first_order_id(21, 1, True, FsyncPolicy.INTERVAL, floor) == 21  # clean: the app lifts the ids above it


def test_recover_when_a_position_correction_is_journaled_then_risk_gets_it_in_order_with_the_fills(
    tmp_path: Path,
) -> None:
    """bust39: ``JPositionAdjusted`` is replayed where it stands among the fills, and audited as restored."""
    rig = Rig(journal=FileJournal(tmp_path / "j", fsync=FsyncPolicy.NONE))
    link = rig.connect("S1")
    rig.new_order(link, "A", qty=300)
    rig.venue.accept(1)
    rig.venue.fill(1, 100, 1_000_000)
    rig.engine.flush()
    rig.engine.journal.append(JPositionAdjusted("ACC1", "AAPL", -100, 1_000_000, -100_000_000, "ops [pid 1]", "bust"))
    rig.venue.fill(1, 50, 1_000_000)
    rig.engine.flush()
    rig.engine.journal.close()
    recovered = recover(read_journal(tmp_path / "j"))
    assert [(at, rec.qty, rec.reason) for at, rec in recovered.adjustments] == [(2, -100, "bust")]
    risk, clock = make_engine(tmp_path, {"defaults": {"max_notional": 1_000_000}})
    Engine(
        risk=risk,
        venues=[ScriptedVenue("V1")],
        entitlements=Entitlements({}),
        clock=clock,
        journal=NullJournal(),
        gateway_id="g",
    ).adopt(recovered)
    assert risk.position("ACC1", "AAPL").position == 50  # 100 - 100 + 50
    assert risk.exposure("ACC1").traded_notional == 50 * 1_000_000
    restored = [r for r in read_audit_log(tmp_path / "audit.jsonl") if r["event"] == "position_adjust"]
    assert [(r["position_before"], r["position_after"], r["trigger"]) for r in restored] == [(100, 0, "restored")]


def test_lost_journal_problem_when_the_begun_journal_is_gone_then_named_else_nothing(tmp_path: Path) -> None:
    state, journal = tmp_path / "state", tmp_path / "journal" / "gw1-20261205.journal"
    assert lost_journal_problem(state, "gw1", journal) == ""  # never begun: a new day
    assert note_journal_begun(state, "gw1", journal) is None
    assert journal_note(state, "gw1").read_text() == f"{journal.resolve()}\n"
    problem = lost_journal_problem(state, "gw1", journal)
    assert f"the journal {journal} is gone, but this gateway began it today" in problem
    assert f"move {journal_note(state, 'gw1')} aside" in problem
    assert lost_journal_problem(state, "gw2", journal) == ""  # another gateway id's note
    assert lost_journal_problem(state, "gw1", journal.with_name("gw1-20261206.journal")) == ""  # the next day
    journal.parent.mkdir()
    journal.touch()
    assert lost_journal_problem(state, "gw1", journal) == ""  # there: recovery reads it
    before = journal_note(state, "gw1").stat().st_mtime_ns
    assert note_journal_begun(state, "gw1", journal) is None  # the same journal: not written again
    assert journal_note(state, "gw1").stat().st_mtime_ns == before

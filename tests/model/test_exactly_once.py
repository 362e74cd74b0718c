"""The exactly-once component alone: NEW/DUPLICATE per numbering epoch, resume points, unanswered requests."""

from __future__ import annotations

from model.enums import OrderType, Side, TimeInForce
from model.exactly_once import (
    MAX_OPEN_GAPS,
    ExactlyOnce,
    RequestKind,
    ResumePoint,
    ResumeTracker,
    UnansweredRequest,
    VenueSequence,
    split_stream_seq,
    stream_seq,
)
from model.order import (
    Order,
    apply_ack,
    hold_cancel,
    mark_sent,
    new_order_leaves,
    request_cancel,
    request_replace,
)


def _order(order_id: int) -> Order:
    order = Order(
        order_id, "S1", f"C{order_id}", "ACC1", "V1", "AAPL", Side.BUY, 100, 1, TimeInForce.DAY, OrderType.LIMIT
    )
    new_order_leaves(order)
    return order


def test_admit_when_numbers_rise_then_new_and_repeats_are_duplicates() -> None:
    sequence = VenueSequence("V1")
    assert [sequence.admit(seq) for seq in (1, 2, 3, 2, 3, 4, 1)] == [True, True, True, False, False, True, False]
    assert (sequence.high_water, sequence.duplicates) == (4, 3)


def test_admit_when_adapter_made_the_event_up_then_zero_is_always_new() -> None:
    sequence = VenueSequence("V1")
    sequence.admit(5)
    assert sequence.admit(0) and sequence.admit(0)
    assert sequence.high_water == 5


def test_new_epoch_when_numbering_restarts_then_high_water_starts_again_and_the_change_is_reported() -> None:
    told: list[tuple[str, str]] = []
    sequence = VenueSequence("V1", lambda venue, epoch: told.append((venue, epoch)))
    sequence.new_epoch("A")
    assert sequence.admit(7)
    sequence.new_epoch("A")  # the same numbering: nothing changes
    assert not sequence.admit(7)
    sequence.new_epoch("B")
    assert sequence.admit(1)
    assert told == [("V1", "A"), ("V1", "B")]
    assert sequence.resume_point() == ResumePoint("B", 1)


def test_adopt_when_recovered_then_continues_after_the_journaled_high_water_without_reporting() -> None:
    told: list[tuple[str, str]] = []
    sequence = VenueSequence("V1", lambda venue, epoch: told.append((venue, epoch)))
    sequence.adopt(ResumePoint("S", 41))
    assert not sequence.admit(41)
    assert sequence.admit(42)
    assert told == []
    assert ResumePoint("S", 41).next_seq == 42


def test_exactly_once_when_several_venues_then_each_keeps_its_own_numbering() -> None:
    component = ExactlyOnce()
    assert component.venue("A").admit(3)
    assert component.venue("B").admit(1)
    assert not component.venue("A").admit(2)
    assert component.duplicates == 1
    assert component.resume_points() == {"A": ResumePoint("", 3), "B": ResumePoint("", 1)}


# ---- several independently numbered streams (BOE matching units) ---------------------------------


def test_admit_stream_when_streams_number_independently_then_each_has_its_own_high_water() -> None:
    sequence = VenueSequence("BOE")
    answers = [sequence.admit_stream(unit, n) for unit, n in ((1, 1), (2, 1), (1, 2), (2, 1), (1, 1), (2, 2), (3, 1))]
    assert answers == [True, True, True, False, False, True, True]
    assert sequence.streams == {1: 2, 2: 2, 3: 1}
    assert sequence.duplicates == 2
    assert sequence.high_water == stream_seq(3, 1)
    assert sequence.admit_stream(0, 0) and sequence.admit_stream(2, 0)  # unsequenced: always new


def test_admit_stream_when_a_number_arrives_after_a_higher_one_then_it_fills_the_gap_once() -> None:
    sequence = VenueSequence("BOE")
    late: list[tuple[int, int, int]] = []
    sequence.on_late = lambda stream, number, last: late.append((stream, number, last))
    assert [sequence.admit_stream(1, n) for n in (1, 2, 6, 4)] == [True, True, True, True]
    assert sequence.gaps == [(1, 3, 3), (1, 5, 5)]  # 4 split the gap 3..5
    assert late == [(1, 4, 6)] and sequence.late == 1
    assert [sequence.admit_stream(1, n) for n in (4, 2, 3, 5, 3)] == [False, False, True, True, False]
    assert sequence.gaps == [] and sequence.duplicates == 3 and sequence.streams == {1: 6}
    assert sequence.admit_stream(2, 1)  # another stream: its own numbers
    sequence.new_epoch("day2")
    assert sequence.gaps == []


def test_admit_stream_when_more_gaps_open_than_remembered_then_the_oldest_is_forgotten_and_reported() -> None:
    sequence = VenueSequence("BOE")
    forgotten: list[tuple[int, int, int]] = []
    sequence.on_forget = lambda stream, first, last: forgotten.append((stream, first, last))
    for n in range(2, 2 * MAX_OPEN_GAPS + 6, 2):  # 2, 4, 6 ...: every odd number skipped
        assert sequence.admit_stream(1, n)
    assert len(sequence.gaps) == MAX_OPEN_GAPS and sequence.gaps_forgotten == 2
    assert forgotten == [(1, 1, 1), (1, 3, 3)]
    assert not sequence.admit_stream(1, 1)  # forgotten: a duplicate
    assert sequence.admit_stream(1, 5)  # remembered: new


def test_adopt_when_recovered_then_no_gap_is_known() -> None:
    sequence = VenueSequence("BOE")
    sequence.admit_stream(1, 3)
    sequence.adopt(ResumePoint("d", stream_seq(1, 3), {1: 3}))
    assert sequence.gaps == [] and not sequence.admit_stream(1, 2)


def test_stream_seq_when_packed_then_split_gives_the_stream_and_number_back_and_zero_stays_zero() -> None:
    assert split_stream_seq(stream_seq(5, 4_294_967_295)) == (5, 4_294_967_295)
    assert stream_seq(7, 0) == 0
    assert split_stream_seq(41) == (0, 41)  # a single-stream venue's number is stream 0
    assert stream_seq(1, 2) < stream_seq(1, 3) < stream_seq(2, 1)


def test_streams_when_epoch_changes_then_every_stream_restarts_and_resume_point_carries_them() -> None:
    told: list[tuple[str, str]] = []
    sequence = VenueSequence("BOE", lambda venue, epoch: told.append((venue, epoch)))
    sequence.new_epoch("2024-05-01")
    assert sequence.admit_stream(1, 9) and sequence.admit_stream(2, 4)
    assert sequence.resume_point() == ResumePoint("2024-05-01", stream_seq(2, 4), {1: 9, 2: 4})
    sequence.new_epoch("2024-05-02")
    assert sequence.streams == {} and sequence.admit_stream(1, 1)
    assert told == [("BOE", "2024-05-01"), ("BOE", "2024-05-02")]


def test_adopt_when_streams_recovered_then_each_stream_continues_after_its_own_number() -> None:
    sequence = VenueSequence("BOE")
    sequence.adopt(ResumePoint("D", stream_seq(2, 3), {1: 7, 2: 3}))
    assert not sequence.admit_stream(1, 7) and sequence.admit_stream(1, 8)
    assert not sequence.admit_stream(2, 3) and sequence.admit_stream(2, 4)
    assert sequence.admit_stream(3, 1)
    assert ResumePoint("D", 0, {1: 7}).after(1) == 7 and ResumePoint("D", 0, {1: 7}).after(2) == 0


def test_resume_tracker_when_journal_folded_then_single_stream_unchanged_and_streams_per_unit() -> None:
    tracker = ResumeTracker()
    for seq in (1, 5, 3):
        tracker.event("OUCH", seq)
    tracker.epoch("BOE", "D1")
    for unit, number in ((1, 4), (2, 9), (1, 6), (2, 2)):
        tracker.event("BOE", stream_seq(unit, number))
    tracker.event("BOE", 0)  # unsequenced
    points = tracker.points()
    assert points["OUCH"] == ResumePoint("", 5)  # single-stream venues: no streams, as before
    assert points["BOE"] == ResumePoint("D1", stream_seq(2, 9), {1: 6, 2: 9})
    tracker.epoch("BOE", "D1")  # the same numbering: nothing changes
    assert tracker.points()["BOE"].streams == {1: 6, 2: 9}
    tracker.epoch("BOE", "D2")
    tracker.event("BOE", stream_seq(3, 1))
    assert tracker.points()["BOE"] == ResumePoint("D2", stream_seq(3, 1), {3: 1})


def test_unanswered_when_orders_wait_on_the_venue_then_each_open_request_listed_with_its_ref() -> None:
    new = _order(1)
    mark_sent(new, "R1")
    acked = _order(2)
    mark_sent(acked, "R2")
    apply_ack(acked, "X2")
    canceling = _order(3)
    mark_sent(canceling, "R3")
    apply_ack(canceling, "X3")
    request_cancel(canceling, "R3-c")
    cancel_before_ack = _order(4)
    mark_sent(cancel_before_ack, "R4")
    request_cancel(cancel_before_ack)
    replacing = _order(5)
    mark_sent(replacing, "R5")
    apply_ack(replacing, "X5")
    request_replace(replacing, 200, 2, "R5-r")
    held = _order(6)
    mark_sent(held, "R6")
    apply_ack(held, "X6")
    hold_cancel(held)  # never sent: not a request whose outcome is unknown
    assert ExactlyOnce.unanswered([new, acked, canceling, cancel_before_ack, replacing, held]) == [
        UnansweredRequest(new, RequestKind.NEW, "R1"),
        UnansweredRequest(canceling, RequestKind.CANCEL, "R3-c"),
        UnansweredRequest(cancel_before_ack, RequestKind.NEW, "R4"),
        UnansweredRequest(cancel_before_ack, RequestKind.CANCEL, "R4"),
        UnansweredRequest(replacing, RequestKind.REPLACE, "R5-r"),
    ]

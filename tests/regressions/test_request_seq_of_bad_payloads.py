"""Regression (found by a client written from docs/strategy-protocol.md alone, review 32).

D1: a version-3 request whose MessagePack array was followed by one stray byte was answered
``CancelRejected(INVALID_FIELD, "not valid MessagePack: ... trailing characters")`` by its ``cl_ord_id``,
but did not take its ``req_seq``: the strategy's next request, numbered one more as section 4.5 says,
was a fatal ``REQ_SEQ_GAP``, and sending both again "unchanged, in order" after reconnecting repeated it
forever. Now a request answered by its id takes its number whenever its ``req_seq`` can be read, even
from a payload that does not decode; one whose ``req_seq`` cannot be read takes none, and its text says so.

D3: a Replace of an order whose Cancel is held for a venue that is down was refused
``REQUEST_PENDING`` with "order is LIVE; replace only a LIVE order with nothing in flight": the text now
names what is pending.
"""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from gateway.journal import FileJournal, JRequest, read_journal
from gateway.protocol.messages import Cancel, CancelRejected, Error, MassCancelRejected, OrderRejected, Replace, Welcome
from gateway.recovery import recover
from gateway.strategy_session import NO_PLACE
from model.fsync import FsyncPolicy
from model.venue_events import VenueState
from tests.harness import Rig, self_numbered_link

CANCEL_2_STRAY_BYTE = bytes.fromhex("00000007 9403a154 0002 00")
"""Cancel ``T``, sent_ns 0, req_seq 2, then one stray byte (0x00) after the array: length 7."""


def _raw(payload: bytes) -> bytes:
    return len(payload).to_bytes(4, "big") + payload


def _new(cl_ord_id: str, req_seq: int) -> bytes:
    return _raw(msgspec.msgpack.encode([2, cl_ord_id, "ACC1", "V1", "AAPL", "B", 100, 1_000_000, "0", "2", 0, req_seq]))


def test_golden_frame_is_a_cancel_numbered_2_with_one_stray_byte() -> None:
    payload = CANCEL_2_STRAY_BYTE[4:]
    assert int.from_bytes(CANCEL_2_STRAY_BYTE[:4], "big") == len(payload) == 7
    assert msgspec.msgpack.decode(payload[:-1]) == [3, "T", 0, 2]


def test_request_when_payload_has_a_stray_byte_then_invalid_field_and_it_takes_its_req_seq() -> None:
    rig = Rig()
    link = self_numbered_link(rig)
    rig.engine.link_data(link, _new("A", 1) + CANCEL_2_STRAY_BYTE + _new("C", 3), rig.clock())
    (answer,) = link.received()
    assert isinstance(answer, CancelRejected) and (answer.cl_ord_id, answer.code) == ("T", "INVALID_FIELD")
    assert "trailing characters" in answer.text and "no place" not in answer.text
    assert not link.closed
    assert [c[0] for c in rig.venue.commands] == ["new", "new"]  # A and C carried out: 3 was no gap
    assert link.session.last_req_seq == rig.engine.strategies["S1"].last_req_seq == 3


@pytest.mark.parametrize(
    ("payload", "answer_type", "cl_ord_id"),
    [
        (msgspec.msgpack.encode([2, "N", "ACC1", "V1", "AAPL", "B", 1, 1, "0", "2", 0, 2]), OrderRejected, "N"),
        (msgspec.msgpack.encode([4, "R", 200, 1_000_000, 0, 2]), CancelRejected, "R"),
        (msgspec.msgpack.encode([5, "", "", "", "M1", 2]), MassCancelRejected, "M1"),
        (bytes.fromhex("dc0004 03a154 0002"), CancelRejected, "T"),  # array16 header
        (bytes.fromhex("9503a154 0002"), CancelRejected, "T"),  # cut short after req_seq (5 declared, 4 sent)
    ],
)
def test_request_when_payload_does_not_decode_but_req_seq_readable_then_numbered(
    payload: bytes, answer_type: type, cl_ord_id: str
) -> None:
    rig = Rig()
    link = self_numbered_link(rig)
    rig.engine.link_data(link, _new("A", 1) + _raw(payload + b"\xc1") + _new("C", 3), rig.clock())
    (answer,) = link.received()
    assert isinstance(answer, (OrderRejected, CancelRejected, MassCancelRejected)) and type(answer) is answer_type
    assert answer.code == "INVALID_FIELD" and NO_PLACE not in answer.text
    ident = answer.request_id if isinstance(answer, MassCancelRejected) else answer.cl_ord_id
    assert ident == cl_ord_id
    assert not link.closed and link.session.last_req_seq == 3


def test_request_when_stray_byte_request_sent_again_then_duplicate_not_answered_again(tmp_path: Path) -> None:
    """Section 4.5 step 3: after a reconnect the client sends again, unchanged, what it is unsure of."""
    rig = Rig(journal=FileJournal(tmp_path / "j", fsync=FsyncPolicy.NONE))
    link = self_numbered_link(rig)
    rig.engine.link_data(link, _new("A", 1) + CANCEL_2_STRAY_BYTE, rig.clock())
    (answer,) = link.received()
    assert isinstance(answer, CancelRejected) and answer.code == "INVALID_FIELD"
    rig.engine.link_closed(link)
    rig.engine.flush()
    assert [r.req_seq for r in read_journal(tmp_path / "j") if isinstance(r, JRequest)] == [1, 2]
    assert recover(read_journal(tmp_path / "j")).strategies["S1"].last_req_seq == 2

    again = rig.connect("S1", last_seq=2)
    again.number_requests = False
    welcome, *_ = again.received()
    assert isinstance(welcome, Welcome) and welcome.last_req_seq == 2
    rig.engine.link_data(again, CANCEL_2_STRAY_BYTE + _new("C", 3), rig.clock())
    assert again.received() == []  # the duplicate is not answered again (its answer is in the replay); C is sent
    assert not again.closed and again.session.last_req_seq == 3
    assert rig.engine.counters.duplicate_requests == 1


UNREADABLE_REQ_SEQ = {
    "negative": msgspec.msgpack.encode([3, "T", 0, -1]),
    "a string": msgspec.msgpack.encode([3, "T", 0, "2"]),
    "nil": msgspec.msgpack.encode([3, "T", 0, None]),
    "a float": msgspec.msgpack.encode([3, "T", 0, 2.0]),
    "missing, stray byte": msgspec.msgpack.encode([3, "T", 0]) + b"\x00",
    "0, stray byte": msgspec.msgpack.encode([3, "T", 0, 0]) + b"\x00",
    "malformed before it": bytes.fromhex("9403a154 c1 02"),
    "cut short inside it": bytes.fromhex("9403a154 00 cd01"),
}


@pytest.mark.parametrize("case", sorted(UNREADABLE_REQ_SEQ))
def test_request_when_req_seq_unreadable_then_invalid_field_says_no_place_and_next_number_unchanged(case: str) -> None:
    rig = Rig()
    link = self_numbered_link(rig)
    rig.engine.link_data(link, _new("A", 1) + _raw(UNREADABLE_REQ_SEQ[case]) + _new("C", 2), rig.clock())
    (answer,) = link.received()
    assert isinstance(answer, CancelRejected) and (answer.cl_ord_id, answer.code) == ("T", "INVALID_FIELD")
    assert answer.text.endswith(NO_PLACE) and "takes no place in the sequence" in answer.text
    assert not link.closed and link.session.last_req_seq == 2  # C, numbered 2, was next


def test_request_when_neither_id_nor_req_seq_readable_then_error_says_no_place() -> None:
    rig = Rig()
    link = self_numbered_link(rig)
    rig.engine.link_data(link, _raw(msgspec.msgpack.encode([3, "X" * 33, 0, -4])) + _new("B", 1), rig.clock())
    (error,) = link.received()
    assert isinstance(error, Error) and (error.code, error.fatal) == ("INVALID_MESSAGE", False)
    assert error.text.endswith(NO_PLACE)
    assert link.session.last_req_seq == 1


def test_request_when_id_unreadable_and_req_seq_readable_then_error_text_has_no_no_place_note() -> None:
    rig = Rig()
    link = self_numbered_link(rig)
    rig.engine.link_data(link, _raw(msgspec.msgpack.encode([3, "X" * 33, 0, 1])), rig.clock())
    (error,) = link.received()
    assert isinstance(error, Error) and NO_PLACE not in error.text and link.session.last_req_seq == 1


def test_request_when_version_2_then_no_note_about_the_sequence() -> None:
    rig = Rig()
    link = rig.connect("S1", version=2)
    link.received()
    rig.engine.link_data(link, CANCEL_2_STRAY_BYTE, rig.clock())
    (answer,) = link.received()
    assert isinstance(answer, CancelRejected) and answer.code == "INVALID_FIELD" and NO_PLACE not in answer.text


# ---- D3: REQUEST_PENDING names what is pending ------------------------------------------------------


def test_replace_when_cancel_held_for_a_venue_that_is_down_then_text_names_the_held_cancel() -> None:
    rig = Rig()
    link = rig.connect("S1")
    rig.new_order(link, "A")
    rig.venue.accept(1)
    rig.venue.set_state(VenueState.DISCONNECTED)
    rig.send(link, Cancel("A"))
    link.received()
    rig.send(link, Replace("A", 200, 1_000_000))
    (refused,) = [m for m in link.received() if isinstance(m, CancelRejected)]
    assert refused.code == "REQUEST_PENDING"
    assert refused.text == (
        "order is PENDING_CANCEL: its Cancel is held until venue V1 is up; "
        "replace only a LIVE order with nothing in flight"
    )


def test_replace_when_cancel_of_an_unaccepted_order_held_then_text_names_the_held_cancel() -> None:
    rig = Rig()
    link = rig.connect("S1")
    rig.new_order(link, "A")
    rig.venue.set_state(VenueState.DISCONNECTED)
    rig.send(link, Cancel("A"), Replace("A", 200, 1_000_000))
    (refused,) = [m for m in link.received() if isinstance(m, CancelRejected)]
    assert refused.code == "REQUEST_PENDING" and refused.text.startswith(
        "order is PENDING_CANCEL: its Cancel is held until venue V1 is up;"
    )


def test_replace_when_cancel_held_behind_a_replace_then_text_names_both() -> None:
    rig = Rig()
    link = rig.connect("S1")
    rig.new_order(link, "A")
    rig.venue.accept(1)
    rig.send(link, Replace("A", 200, 1_000_000), Cancel("A"), Replace("A", 300, 1_000_000))
    (refused,) = [m for m in link.received() if isinstance(m, CancelRejected)]
    assert refused.code == "REQUEST_PENDING" and refused.text.startswith(
        "order is PENDING_REPLACE, and a Cancel is held until the Replace resolves;"
    )


def test_replace_when_order_pending_new_then_text_unchanged() -> None:
    rig = Rig()
    link = rig.connect("S1")
    rig.new_order(link, "A")
    rig.send(link, Replace("A", 200, 1_000_000))
    (refused,) = [m for m in link.received() if isinstance(m, CancelRejected)]
    assert refused.text == "order is PENDING_NEW; replace only a LIVE order with nothing in flight"

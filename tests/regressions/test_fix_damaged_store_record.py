"""Regression: a damaged (CRC-valid, not stale) FIX store record failed the whole ResendRequest.

``resend_copy`` raised ``ValueError`` on a stored message without ``9=`` (or without ``10=``, or with a
field lacking ``=``), which escaped ``answer_resend_request`` and ``FixSession._on_resend_request``: the
venue got no answer at all. Now such a record is covered by a SequenceReset-GapFill (the FIX rule for a
message not to be resent), the others are still replayed, and the session logs one warning naming the
numbers. ``make unit`` runs this compiled, ``make unit-pure`` interpreted.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from model.clock import FakeClock
from obs import native
from venues.fix.codec import FixMessage, build_message
from venues.fix.fields import MsgType
from venues.fix.session import FixSession, FixSessionState, SessionConfig, resend
from venues.fix.session import session as session_module
from venues.fix.session.admin import AdminEncoder
from venues.fix.store import FileStore, MemoryStore, MessageStore
from venues.fix.store import file as file_store

from ..fix.helpers import WALL_OFFSET_NS, VenuePeer, decode_all
from ..fix.test_adapter import Rig as AdapterRig
from ..fix.test_adapter import _sent, _venue_asks_from

STAMP = b"20240102-10:00:05.000"
NOW_NS = 1_704_189_605_000_000_000
"""The wall clock of ``STAMP``: orders stamped 10:00:00 are five seconds old."""


def _order(seq: int, cl_ord_id: bytes) -> bytes:
    return build_message(
        b"FIX.4.2",
        MsgType.NEW_ORDER_SINGLE,
        sender=b"GATEWAY",
        target=b"EQX",
        seq=seq,
        sending_time=b"20240102-10:00:00.000",
        body_fields=[(b"11", cl_ord_id), (b"55", b"AAPL"), (b"54", b"1"), (b"38", b"100"), (b"40", b"1")],
    )


DAMAGED = {
    "no BodyLength": b"8=FIX.4.2\x0135=D\x0134=2\x0152=20240102-10:00:00.000\x0111=Q2\x0110=000\x01",
    "no CheckSum": b"8=FIX.4.2\x019=40\x0135=D\x0134=2\x0152=20240102-10:00:00.000\x0111=Q2\x01",
    "field without =": b"8=FIX.4.2\x019=40\x0135=D\x0134=2\x0152=20240102-10:00:00.000\x01garbage\x0110=000\x01",
    "wrong CheckSum": _order(2, b"Q2")[:-4] + b"999\x01",
    "wrong BodyLength": _order(2, b"Q2").replace(b"\x019=", b"\x019=1", 1),
    "two messages": _order(2, b"Q2") + _order(2, b"Q2"),
}


def _config() -> SessionConfig:
    return SessionConfig(
        begin_string=b"FIX.4.2", sender_comp_id=b"GATEWAY", target_comp_id=b"EQX", stale_after_ns=60 * 10**9
    )


def _answer(store: MessageStore) -> resend.ResendReply:
    return resend.answer_resend_request(
        store,
        AdminEncoder(_config()),
        1,
        0,
        begin_string=b"FIX.4.2",
        stamp=STAMP,
        wall_now_ns=NOW_NS,
        replay_business=True,
        stale_after_ns=60 * 10**9,
        may_replay=lambda raw: True,
    )


def test_modules_when_build_current_then_compiled() -> None:
    """Check the tests below exercise the compiled code under ``make unit`` (not a silent fallback)."""
    if os.environ.get(native.SWITCH) == "1" or not native.MANIFEST.exists():
        pytest.skip("pure-Python run (make unit-pure) or nothing built")
    for module in (resend, session_module, file_store):
        assert module.__file__ is not None and module.__file__.endswith(".so"), module.__file__


@pytest.mark.parametrize("backend", ["memory", "file"])
@pytest.mark.parametrize("damage", sorted(DAMAGED))
def test_answer_resend_request_when_record_damaged_then_gap_filled_and_neighbours_replayed(
    backend: str, damage: str, tmp_path: Path
) -> None:
    store: MessageStore = MemoryStore() if backend == "memory" else FileStore(tmp_path / "s.fixstore")
    store.save_sent(1, _order(1, b"Q1"))
    store.save_sent(2, DAMAGED[damage])
    store.save_sent(3, _order(3, b"Q3"))
    reply = _answer(store)
    messages = decode_all(b"".join(reply.messages))
    assert [(m.msg_type, m.seq) for m in messages] == [
        (MsgType.NEW_ORDER_SINGLE, 1),
        (MsgType.SEQUENCE_RESET, 2),
        (MsgType.NEW_ORDER_SINGLE, 3),
    ]
    assert (messages[1].get(b"123"), messages[1].get(b"36")) == (b"Y", b"3")
    assert [m.get(b"11") for m in messages if m.msg_type == MsgType.NEW_ORDER_SINGLE] == [b"Q1", b"Q3"]
    assert reply.damaged == [2]
    assert reply.gap_filled_business == [DAMAGED[damage]]
    store.close()


def test_file_store_when_damaged_record_is_crc_valid_then_kept_on_reopen_and_gap_filled(tmp_path: Path) -> None:
    """The store keeps what it was given (the CRC holds): the damage shows only when the record is resent."""
    path = tmp_path / "s.fixstore"
    store = FileStore(path)
    store.save_sent(1, DAMAGED["no BodyLength"])
    store.save_sent(2, _order(2, b"Q2"))
    store.close()
    reopened = FileStore(path)
    assert reopened.truncated_bytes == 0
    assert reopened.get_sent(1, 2) == [(1, DAMAGED["no BodyLength"]), (2, _order(2, b"Q2"))]
    reply = _answer(reopened)
    assert [(m.msg_type, m.seq) for m in decode_all(b"".join(reply.messages))] == [
        (MsgType.SEQUENCE_RESET, 1),
        (MsgType.NEW_ORDER_SINGLE, 2),
    ]
    assert reply.damaged == [1]
    reopened.close()


class _Handler:
    """Replay every stored message (the owner's veto is not what is tested); record the rest."""

    def __init__(self) -> None:
        self.app: list[FixMessage] = []
        self.not_replayed: list[bytes] = []

    def on_app_message(self, message: FixMessage) -> None:
        self.app.append(message)

    def on_state(self, state: FixSessionState, reason: str) -> None:
        del state, reason

    def on_session_reject(self, message: FixMessage) -> None:
        del message

    def on_not_replayed(self, raw: bytes) -> None:
        self.not_replayed.append(raw)

    def may_replay(self, raw: bytes) -> bool:
        del raw
        return True

    def on_numbering_reset(self, creation_time_ns: int) -> None:
        del creation_time_ns

    def on_gap_filled(self, first: int, new_seq: int, unseen: int) -> None:
        del first, new_seq, unseen


def test_session_when_resend_request_covers_damaged_records_then_answered_with_gap_fill_and_one_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock()
    store = MemoryStore()
    handler = _Handler()
    session = FixSession(_config(), store, handler, wall_offset_ns=WALL_OFFSET_NS)
    venue = VenuePeer()
    session.connection_made(clock())  # our Logon: 1
    session.data_received(venue.logon(), clock())
    session.commit_inbound()
    assert session.state is FixSessionState.ACTIVE
    assert session.send_app(2, _order(2, b"Q2"), clock())
    assert session.send_app(3, DAMAGED["no BodyLength"], clock())
    assert session.send_app(4, DAMAGED["field without ="], clock())
    assert session.send_app(5, _order(5, b"Q5"), clock())
    session.outbox.clear()
    clock.advance(5 * 10**9)
    with caplog.at_level(logging.WARNING):
        session.data_received(venue.message(MsgType.RESEND_REQUEST, [(b"7", b"2"), (b"16", b"0")]), clock())
    replies = decode_all(session.outbox)
    assert [(m.msg_type, m.seq) for m in replies] == [
        (MsgType.NEW_ORDER_SINGLE, 2),
        (MsgType.SEQUENCE_RESET, 3),
        (MsgType.NEW_ORDER_SINGLE, 5),
    ]
    assert (replies[1].get(b"123"), replies[1].get(b"36")) == (b"Y", b"5")
    assert all(m.get(b"43") == b"Y" for m in replies)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "[3, 4]" in warnings[0], warnings
    assert session.counters["damaged_not_resent"] == 2
    assert handler.not_replayed == [DAMAGED["no BodyLength"], DAMAGED["field without ="]]
    assert session.state is FixSessionState.ACTIVE
    assert store.next_sender_seq == 6  # a resend consumes no numbers


def test_adapter_when_unanswered_order_record_damaged_then_gap_filled_and_venue_asked_about_it() -> None:
    """The owner still learns which request went unresent: its outcome is unknown, so the venue is asked."""
    rig = AdapterRig("equities-fix42").up()
    order, ref = _sent(rig, 7, acked=False)
    (seq, stored) = rig.store.get_sent(2, 2)[0]
    rig.store.save_sent(seq, stored.replace(b"\x0152=", b"\x01garbage\x0152=", 1))  # CRC-valid, not one FIX message
    gap_fill, asking = _venue_asks_from(rig, 2)
    assert (gap_fill.msg_type, gap_fill.seq) == (MsgType.SEQUENCE_RESET, 2)
    assert (asking.msg_type, asking.get(b"41")) == (MsgType.ORDER_CANCEL_REQUEST, ref.encode())
    assert rig.adapter.counters["outcome_unknown"] == 1
    assert order.venue_ref == ref

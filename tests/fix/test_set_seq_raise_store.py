"""The operator's raise of our MsgSeqNum (``gateway venue set-seq --next-sender``) lives in the message store (fix55).

The first logon after it asks about every request still unanswered (``after_replay``), then clears it in the store;
a store that cannot be written then keeps it, so the next logon asks again (never less), and the failure is logged.
Sans-IO: a FixVenue on a fake clock and wire with a scripted venue (the loopback case, with a restart, is in
test_loopback_set_seq_sender.py).
"""

from __future__ import annotations

import logging

import pytest

from model.exactly_once import RequestKind, UnansweredRequest
from model.order import mark_sent
from model.send_result import Sent
from venues.fix.fields import MsgType

from .helpers import make_order
from .test_adapter import Rig


def _logon_again(rig: Rig, unanswered: list[UnansweredRequest]) -> list[bytes]:
    """Drop the link, reconnect, the venue's Logon; the core's ``after_replay``; return the ClOrdIDs asked about."""
    rig.adapter.connection_lost(rig.clock())
    rig.connect()
    rig.wire.take()
    rig.feed(rig.peer.logon(seq=rig.adapter.session.next_target_seq))
    rig.adapter.after_replay(unanswered)
    rig.adapter.flush()
    return [m.get(b"11") for m in rig.wire.take() if m.msg_type == MsgType.ORDER_STATUS_REQUEST]


def test_logon_after_set_seq_next_sender_when_store_cannot_clear_the_mark_then_asked_again_at_the_next_logon(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    rig = Rig("broker-fix44").up()
    order = make_order(7)
    sent = rig.adapter.send_new(order)
    assert isinstance(sent, Sent)
    mark_sent(order, sent.venue_ref)
    unanswered = [UnansweredRequest(order, RequestKind.NEW, sent.venue_ref)]
    rig.adapter.flush()
    rig.adapter.connection_lost(rig.clock())
    ours = rig.adapter.session.next_sender_seq
    assert rig.adapter.set_sequence_numbers(ours + 10, 0) == ""
    assert rig.store.raised_by_operator == (ours, ours + 10)

    def full_disk(before: int, new: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(rig.store, "set_raised_by_operator", full_disk)
    with caplog.at_level(logging.ERROR, logger="venues.fix.adapter"):
        assert _logon_again(rig, unanswered) == [sent.venue_ref.encode()]
    assert rig.store.raised_by_operator == (ours, ours + 10)  # kept
    assert any("asked about again at the next logon" in r.getMessage() for r in caplog.records)

    monkeypatch.undo()  # the disk has room again
    assert _logon_again(rig, unanswered) == [sent.venue_ref.encode()]
    assert rig.store.raised_by_operator == (0, 0)
    assert _logon_again(rig, unanswered) == []  # asked: nothing more (the question out is the venue's to answer)

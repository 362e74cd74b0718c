"""The operator's skip (``gateway venue set-seq --next-target``) lives in the message store (fixfix54).

The first logon after it asks about every open order, then clears it in the store; a store that cannot be written
then keeps it, so the next logon asks again (never less), and the failure is logged. Sans-IO: a FixVenue on a fake
clock and wire with a scripted venue (the loopback case, with a restart, is in test_loopback_set_seq.py).
"""

from __future__ import annotations

import logging

import pytest

from model.order import apply_ack, mark_sent
from model.send_result import Sent
from venues.fix.fields import MsgType

from .helpers import make_order
from .test_adapter import Rig


def _logon_again(rig: Rig, venue_seq: int) -> list[bytes]:
    """Drop the link, reconnect, the venue's Logon numbered ``venue_seq``; return the ClOrdIDs asked about."""
    rig.adapter.connection_lost(rig.clock())
    rig.connect()
    rig.wire.take()
    rig.feed(rig.peer.logon(seq=venue_seq))
    return [m.get(b"11") for m in rig.wire.take() if m.msg_type == MsgType.ORDER_STATUS_REQUEST]


def test_logon_after_set_seq_when_store_cannot_clear_the_skip_then_asked_again_at_the_next_logon(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    rig = Rig("broker-fix44").up()
    order = make_order(7)
    sent = rig.adapter.send_new(order)
    assert isinstance(sent, Sent)
    mark_sent(order, sent.venue_ref)
    apply_ack(order, "OID7")
    rig.feed(rig.peer.execution_report(sent.venue_ref.encode(), b"0"))
    target = rig.adapter.session.next_target_seq
    rig.adapter.connection_lost(rig.clock())
    assert rig.adapter.set_sequence_numbers(0, target + 5) == ""
    assert rig.store.skipped_by_operator == (target, target + 5)

    def full_disk(first: int, end: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(rig.store, "set_skipped_by_operator", full_disk)
    rig.peer.next_seq = target + 5
    with caplog.at_level(logging.ERROR, logger="venues.fix.adapter"):
        assert _logon_again(rig, target + 5) == [order.venue_ref.encode()]
    assert rig.store.skipped_by_operator == (target, target + 5)  # kept
    assert any("asked about again at the next logon" in r.getMessage() for r in caplog.records)

    monkeypatch.undo()  # the disk has room again
    assert _logon_again(rig, rig.adapter.session.next_target_seq) == [order.venue_ref.encode()]
    assert rig.store.skipped_by_operator == (0, 0)
    assert _logon_again(rig, rig.adapter.session.next_target_seq) == []  # asked: nothing more

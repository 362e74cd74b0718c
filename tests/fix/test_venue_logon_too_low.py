"""The venue's Logon numbered below the MsgSeqNum expected from it: LOGIN_REFUSED, one ERROR, set-seq (fixlogon56).

The FIX session rules make a Logon numbered too low without ResetSeqNumFlag a serious error needing manual
intervention. Before fixlogon56 the gateway answered it with Logout "MsgSeqNum too low" and reconnected on its
backoff for ever (each try two numbers of ours, WARNING lines only, DISCONNECTED with no reason on the status line),
or, when the venue's numbers had gone back by little and its refusing Logouts carried them up to the expected one,
logged on unnoticed. And ``gateway venue set-seq --next-target`` refused any number below the expected one, so ops
had no tool. Now it stops in LOGIN_REFUSED as for our own Logon refused as too low; ``--allow-lower-target`` lowers
the expected number under a new name of the venue's numbering (the exactly-once epoch), so its messages numbered
again are not dropped as repeats, in this process and after a restart. Sans-IO, fake clock (the loopback case
against the QuickFIX acceptor is in test_loopback_venue_logon_too_low.py).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from model.clock import FakeClock
from model.exactly_once import ResumePoint
from model.order import mark_sent
from model.venue_events import VenueAccepted, VenueExecuted, VenueState
from tests.harness import sent_ref
from venues.fix.adapter import FixVenue
from venues.fix.config import FixVenueConfig, build_fix_venue
from venues.fix.fields import MsgType
from venues.fix.session import FixSession, FixSessionState
from venues.fix.store import FileStore

from .helpers import Recorder, VenuePeer, decode_all, make_order
from .test_adapter import Rig, Wire
from .test_session import Rig as SessionRig

# ---- the session state machine ------------------------------------------------------------------


def _state(session: FixSession) -> FixSessionState:
    """The state now (read through a call: mypy keeps no narrowing of it across the session's calls)."""
    return session.state


def test_venue_logon_when_numbered_too_low_then_logout_login_refused_and_no_logon_again() -> None:
    rig = SessionRig()
    rig.store.set_next_target_seq(4)
    rig.session.connection_made(rig.clock())
    rig.take()
    rig.feed(rig.venue.logon(seq=1))
    (logout,) = rig.take()
    assert logout.msg_type == MsgType.LOGOUT
    assert logout.get(b"58") == b"MsgSeqNum too low, expecting 4 but received 1"
    session = rig.session
    assert session.state is FixSessionState.LOGIN_REFUSED  # before: LOGOUT_SENT, then DISCONNECTED and retried
    assert session.refused_venue_logon
    assert (session.refused_expected, session.refused_logon_seq) == (4, 1)
    assert "MsgSeqNum 1, below the 4 expected" in session.refused_text
    assert session.counters["venue_logons_too_low"] == 1
    assert rig.handler.states[-1][0] is FixSessionState.LOGIN_REFUSED
    session.connection_lost(rig.clock())
    assert session.state is FixSessionState.LOGIN_REFUSED
    # the venue's refusing Logout carried its numbers up to 3: its next Logon would be in sequence (the lowlogon
    # case, UP unnoticed before); no Logon goes out, no number of ours is taken
    sent = rig.store.next_sender_seq
    session.connection_made(rig.clock())
    assert rig.take() == []
    assert session.close_reason is not None and rig.store.next_sender_seq == sent
    session.connection_lost(rig.clock())
    assert session.reconnect() and _state(session) is FixSessionState.DISCONNECTED
    assert (session.refused_venue_logon, session.refused_text) == (False, "")
    session.connection_made(rig.clock())
    (logon,) = rig.take()
    assert logon.msg_type == MsgType.LOGON
    rig.feed(rig.venue.logon(seq=4))
    assert _state(session) is FixSessionState.ACTIVE


def test_set_numbers_when_target_lowered_then_only_with_lower_target_and_under_a_new_numbering_name() -> None:
    rig = SessionRig()
    rig.store.set_next_target_seq(9)
    session = rig.session
    session.connection_made(rig.clock())
    rig.take()
    rig.feed(rig.venue.logon(seq=1))
    assert session.state is FixSessionState.LOGIN_REFUSED
    session.connection_lost(rig.clock())
    created, sent = rig.store.creation_time_ns, rig.store.next_sender_seq
    refusal = session.set_numbers(0, 1, rig.clock())
    assert "below the MsgSeqNum expected from the venue, 9" in refusal and "--allow-lower-target" in refusal
    assert rig.store.next_target_seq == 9 and rig.store.creation_time_ns == created  # nothing changed
    assert session.set_numbers(0, 1, rig.clock(), lower_target=True) == ""
    assert rig.store.next_target_seq == 1 and session.next_target_seq == 1
    assert rig.store.creation_time_ns > created  # the venue's messages from 1 are a new numbering
    assert rig.store.next_sender_seq == sent  # ours stand
    assert rig.store.skipped_by_operator == (0, 0)  # nothing skipped
    assert rig.store.lowered_by_operator == (9, 1)  # the next logon asks about every open order (fixlogon56b)
    assert session.reconnect()
    session.connection_made(rig.clock())
    rig.take()
    rig.venue.next_seq = 1
    rig.feed(rig.venue.logon())
    assert _state(session) is FixSessionState.ACTIVE


def test_file_store_when_inbound_renumbered_then_reopened_with_the_new_name_and_number(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "s.store", creation_time_ns=100)
    store.save_sent(1, b"8=FIX.4.2\x019=5\x0135=0\x0110=000\x01")
    store.set_next_target_seq(9)
    store.renumber_inbound(2, 200)
    assert (store.creation_time_ns, store.next_target_seq, store.next_sender_seq) == (200, 2, 2)
    store.close()
    again = FileStore(tmp_path / "s.store")
    assert (again.creation_time_ns, again.next_target_seq, again.next_sender_seq) == (200, 2, 2)
    assert [seq for seq, _ in again.get_sent(1, 1)] == [1]  # our messages stay
    again.close()


# ---- the adapter: ERROR, status, metrics, exactly-once -----------------------------------------


def _refused(rig: Rig) -> None:
    """Up, an order acked and part filled (the venue's 2 and 3), the link drops; the venue's numbers go back."""
    rig.up()
    order = make_order(7)
    mark_sent(order, sent_ref(rig.adapter.send_new(order)))
    rig.applying(order)
    rig.feed(
        rig.peer.execution_report(b"Q6rj7", b"0"),
        rig.peer.execution_report(
            b"Q6rj7", b"1", ord_status=b"1", leaves=60, cum=40, last_qty=40, last_px=b"150.2", exec_id=b"E2"
        ),
    )
    assert [type(e) for e in rig.events()] == [VenueAccepted, VenueExecuted]
    rig.adapter.connection_lost(rig.clock())
    rig.peer.next_seq = 1  # the venue restarted its numbers (no ResetSeqNumFlag)
    rig.connect()
    rig.wire.take()
    rig.feed(rig.peer.logon())


def test_adapter_when_venue_logon_too_low_then_one_error_status_reason_metric_and_no_reconnect(
    caplog: pytest.LogCaptureFixture,
) -> None:
    rig = Rig()
    with caplog.at_level(logging.ERROR, logger="venues.fix.adapter"):
        _refused(rig)
    adapter = rig.adapter
    assert adapter.state is VenueState.LOGIN_REFUSED
    assert rig.recorder.states[-1][1] is VenueState.LOGIN_REFUSED
    (error,) = [r.getMessage() for r in caplog.records if "LOGON REFUSED" in r.getMessage()]
    assert "the venue's Logon carried MsgSeqNum 1, below the 4 we expect from it" in error
    assert "gateway venue set-seq FIXV --next-target 1 --allow-lower-target" in error
    assert "gateway venue reconnect FIXV" in error and "reset_seq_num_on_logon: true" in error
    (logout,) = [m for m in decode_all(rig.wire.data) if m.msg_type == MsgType.LOGOUT]
    assert logout.get(b"58") == b"MsgSeqNum too low, expecting 4 but received 1"
    status = adapter.status()
    assert status["reason"] == (
        "logon refused: the venue's Logon carried MsgSeqNum 1, below the 4 expected from it (no ResetSeqNumFlag)"
    )
    assert status["login_refused_by"] == "gateway"
    assert (status["login_refused_expected_seq"], status["login_refused_logon_seq"]) == (4, 1)
    assert "--allow-lower-target" in str(status["login_refused_fix"])
    assert status["session_venue_logons_too_low"] == 1
    assert adapter.session_counters()["venue_logons_too_low"] == 1
    adapter.connection_lost(rig.clock())
    assert adapter.reconnect_delay_ns(1) is None  # the connector stops: no blind retry


def test_adapter_when_target_lowered_then_the_venues_messages_numbered_again_are_applied() -> None:
    rig = Rig()
    _refused(rig)
    adapter = rig.adapter
    adapter.connection_lost(rig.clock())
    high_water = adapter.sequence.high_water
    assert high_water == 3  # its ack and fill
    assert "below the MsgSeqNum expected" in adapter.set_sequence_numbers(0, 1)
    assert adapter.set_sequence_numbers(0, 1, lower_target=True) == ""
    assert adapter.reconnect()
    rig.connect()
    rig.wire.take()
    rig.peer.next_seq = 1
    rig.feed(rig.peer.logon())
    assert adapter.state is VenueState.UP
    fill = rig.peer.execution_report(
        b"Q6rj7", b"1", ord_status=b"1", leaves=30, cum=70, last_qty=30, last_px=b"150.2", exec_id=b"E3"
    )
    rig.feed(fill)  # numbered 2: below the old numbering's high water, a new message of the new one
    assert rig.events() == [VenueExecuted(2, 7, 30, 1_502_000, "", "E3")]


def _file_config(tmp_path: Path) -> FixVenueConfig:
    return FixVenueConfig(name="FIXV", host="127.0.0.1", port=1, dialect="equities-fix42", store_dir=str(tmp_path))


@pytest.fixture
def file_venues() -> Iterator[Callable[[FixVenueConfig, FakeClock], FixVenue]]:
    built: list[FixVenue] = []

    def build(config: FixVenueConfig, clock: FakeClock) -> FixVenue:
        venue = build_fix_venue(config, clock)
        built.append(venue)
        return venue

    yield build
    for venue in built:
        venue.close()


def test_adapter_when_target_lowered_then_restarted_before_logon_then_not_raised_back_by_the_journal(
    tmp_path: Path, file_venues: Callable[[FixVenueConfig, FakeClock], FixVenue]
) -> None:
    clock = FakeClock()
    peer = VenuePeer()
    first = file_venues(_file_config(tmp_path), clock)
    wire = Wire()
    first.attach(wire.write, wire.close)
    first.connection_made(clock())
    first.data_received(peer.logon(), clock())
    order = make_order(7)
    ref = sent_ref(first.send_new(order))
    first.flush()
    first.data_received(peer.execution_report(ref.encode(), b"0"), clock())
    first.flush()
    old = first.sequence.resume_point()  # what the journal holds: the old numbering, up to the venue's 2
    assert old.high_water == 2
    first.connection_lost(clock())
    peer.next_seq = 1
    first.connection_made(clock())
    first.data_received(peer.logon(), clock())
    first.flush()
    assert first.state is VenueState.LOGIN_REFUSED
    first.connection_lost(clock())
    assert first.set_sequence_numbers(0, 1, lower_target=True) == ""
    first.close()  # the gateway restarts before the logon

    second = file_venues(_file_config(tmp_path), clock)
    recorder = Recorder()
    second.event_sink = recorder.event
    mark_sent(order, ref)
    second.restore(order, ref)
    second.resume_after(ResumePoint(old.epoch, old.high_water))
    assert second.session.next_target_seq == 1  # not raised back to the old numbering's 3
    wire2 = Wire()
    second.attach(wire2.write, wire2.close)
    second.connection_made(clock())
    peer.next_seq = 1
    second.data_received(peer.logon(), clock())
    assert second.state is VenueState.UP
    second.data_received(peer.execution_report(ref.encode(), b"0"), clock())  # numbered 2, as the old ack was
    assert [type(e) for e in recorder.events] == [VenueAccepted]
    assert recorder.events[0].venue_seq == 2

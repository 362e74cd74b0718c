"""Sequence gaps that must close: the venue's own Logon or ResendRequest inside a gap, a gap left unanswered.

Also the venue's Logout counted, an in-session reset Logon followed, and the session Rejects QuickFIX sends
for a TestRequest without TestReqID, a ResendRequest missing a tag and a fill of LastQty 0. Sans-IO, fake clock.
"""

from __future__ import annotations

import pytest

from model.clock import FakeClock
from model.venue_events import VenueExecuted
from venues.fix.codec import FixMessage
from venues.fix.config import session_config
from venues.fix.dialect import load_dialect
from venues.fix.fields import MsgType
from venues.fix.session import FixSession, FixSessionState, SessionConfig
from venues.fix.store import MemoryStore
from venues.registry import VenueConfigError, decode_venue_config

from .helpers import WALL_OFFSET_NS, VenuePeer, decode_all, make_order
from .test_adapter import Rig as AdapterRig
from .test_session import Handler

SECOND = 1_000_000_000


class Rig:
    """A session (initiator or acceptor), its store, handler, clock and the scripted venue."""

    def __init__(self, **overrides: object) -> None:
        base: dict[str, object] = {
            "begin_string": b"FIX.4.2",
            "sender_comp_id": b"GATEWAY",
            "target_comp_id": b"EQX",
            "heartbeat_interval_s": 30,
        }
        base.update(overrides)
        self.clock = FakeClock()
        self.store = MemoryStore()
        self.handler = Handler()
        config = SessionConfig(**base)  # type: ignore[arg-type]
        self.session = FixSession(config, self.store, self.handler, wall_offset_ns=WALL_OFFSET_NS)
        self.venue = VenuePeer()

    def take(self) -> list[FixMessage]:
        messages = decode_all(self.session.outbox)
        self.session.outbox.clear()
        return messages

    def feed(self, *raw: bytes) -> None:
        self.session.data_received(b"".join(raw), self.clock())
        self.session.commit_inbound()

    def connect(self) -> Rig:
        self.session.connection_made(self.clock())
        self.take()
        return self

    def logged_on(self) -> Rig:
        self.connect()
        self.feed(self.venue.logon())
        assert self.session.state is FixSessionState.ACTIVE
        return self

    def report(self, seq: int, exec_id: bytes, *, poss_dup: bool = False) -> bytes:
        header = [(b"43", b"Y"), (b"122", b"20240102-09:59:59.000")] if poss_dup else None
        return self.venue.message(
            MsgType.EXECUTION_REPORT,
            [(b"37", b"O1"), (b"11", b"Q6rj7"), (b"17", exec_id), (b"20", b"0"), (b"150", b"0"), (b"39", b"0")],
            seq=seq,
            header=header,
        )


def _types(messages: list[FixMessage]) -> list[bytes]:
    return [m.msg_type for m in messages]


# ---- the venue's Logon numbered too high --------------------------------------------------------------


def test_logon_too_high_when_venue_resends_up_to_just_before_its_logon_then_active() -> None:
    # t07: a fill (4) lost with the connection; the venue's Logon takes 5 and it resends 4 only (not the Logon).
    rig = Rig()
    rig.store.set_next_target_seq(4)
    rig.connect()
    rig.feed(rig.venue.logon(seq=5))
    assert rig.handler.states[-1] == (FixSessionState.RESYNCING, "logged on; asking for 4..4")
    (resend,) = rig.take()
    assert (resend.msg_type, resend.get(b"7"), resend.get(b"16")) == (MsgType.RESEND_REQUEST, b"4", b"0")
    rig.feed(rig.report(4, b"X1", poss_dup=True))
    assert [m.seq for m in rig.handler.app] == [4]
    assert rig.handler.states[-1] == (FixSessionState.ACTIVE, "logged on; gap filled")
    assert rig.store.next_target_seq == 6
    rig.feed(rig.report(6, b"X2"))
    assert [m.seq for m in rig.handler.app] == [4, 6]
    assert rig.take() == []  # no Reject of the Logon, nothing asked again


def test_logon_too_high_when_new_messages_arrive_before_the_resend_then_processed_in_order_after_it() -> None:
    rig = Rig()
    rig.store.set_next_target_seq(4)
    rig.connect()
    rig.feed(rig.venue.logon(seq=6))
    rig.take()
    rig.feed(rig.report(7, b"X7"))  # new, held
    rig.feed(rig.report(4, b"X4", poss_dup=True), rig.report(5, b"X5", poss_dup=True))
    assert [m.seq for m in rig.handler.app] == [4, 5, 7]
    assert rig.session.state is FixSessionState.ACTIVE
    assert rig.store.next_target_seq == 8


def test_logon_too_high_when_venue_gap_fills_up_to_its_logon_then_active() -> None:
    rig = Rig()
    rig.store.set_next_target_seq(4)
    rig.connect()
    rig.feed(rig.venue.logon(seq=5))
    rig.take()
    rig.feed(rig.venue.message(MsgType.SEQUENCE_RESET, [(b"123", b"Y"), (b"36", b"5")], seq=4))
    assert rig.session.state is FixSessionState.ACTIVE
    assert rig.store.next_target_seq == 6


def test_sequence_reset_reset_mode_when_it_skips_numbers_then_counted_unseen_and_told_as_a_gap_fill() -> None:
    rig = Rig().logged_on()  # the venue's Logon was 1: 2 expected
    rig.feed(rig.venue.message(MsgType.SEQUENCE_RESET, [(b"123", b"N"), (b"36", b"9")], seq=4))  # 2..8 skipped
    assert rig.store.next_target_seq == 9
    assert rig.session.counters["gap_filled_unseen"] == 7  # before rev45fix: 0, and the handler told nothing
    assert rig.handler.gap_fills == [(2, 9, 7)]


def test_sequence_reset_reset_mode_when_it_skips_a_held_report_then_processed_and_only_the_missing_counted() -> None:
    rig = Rig().logged_on()
    rig.feed(rig.report(3, b"E3"))  # 2 missing: 3 held, a ResendRequest goes out
    rig.take()
    rig.feed(rig.venue.message(MsgType.SEQUENCE_RESET, [(b"36", b"4")], seq=2))  # no 123: Reset mode, over 2..3
    assert rig.store.next_target_seq == 4
    assert len(rig.handler.app) == 1  # the held report is processed before the jump
    assert rig.session.counters["gap_filled_unseen"] == 1  # 2 never arrived; 3 did
    assert rig.handler.gap_fills == [(2, 4, 1)]


def test_acceptor_when_initiator_logon_too_high_and_resend_stops_before_it_then_active() -> None:
    rig = Rig(acceptor=True)
    rig.store.set_next_target_seq(4)
    rig.connect()
    rig.feed(rig.venue.logon(seq=5))
    assert _types(rig.take()) == [MsgType.LOGON, MsgType.RESEND_REQUEST]
    rig.feed(rig.venue.message(MsgType.HEARTBEAT, seq=4))
    assert rig.session.state is FixSessionState.ACTIVE
    assert rig.store.next_target_seq == 6


# ---- the venue's ResendRequest numbered too high -------------------------------------------------------


def test_resend_request_in_gap_when_venue_resends_only_below_it_then_later_messages_processed() -> None:
    # t11: message 2 lost, 3 is the venue's ResendRequest (answered at once); the venue resends 2 only.
    rig = Rig().logged_on()
    rig.feed(rig.venue.message(MsgType.RESEND_REQUEST, [(b"7", b"1"), (b"16", b"0")], seq=3))
    assert _types(rig.take()) == [MsgType.SEQUENCE_RESET, MsgType.RESEND_REQUEST]  # answered, then asked
    rig.feed(rig.report(2, b"X2", poss_dup=True))
    assert rig.store.next_target_seq == 4
    rig.feed(rig.report(4, b"X4"))
    assert [m.seq for m in rig.handler.app] == [2, 4]
    assert rig.store.next_target_seq == 5
    assert rig.session.state is FixSessionState.ACTIVE
    assert not rig.session.gap.open


def test_resend_request_in_gap_when_venue_gap_fills_past_it_then_not_answered_twice() -> None:
    rig = Rig().logged_on()
    rig.feed(rig.venue.message(MsgType.RESEND_REQUEST, [(b"7", b"1"), (b"16", b"0")], seq=3))
    rig.take()
    rig.feed(rig.venue.message(MsgType.SEQUENCE_RESET, [(b"123", b"Y"), (b"36", b"4")], seq=2))
    assert rig.take() == []
    assert rig.store.next_target_seq == 4
    assert rig.session.counters["resend_requests_received"] == 1


# ---- a gap that makes no progress is asked for again ------------------------------------------------


def test_poll_when_gap_unanswered_for_a_heartbeat_interval_then_asked_again_from_the_expected_number() -> None:
    rig = Rig(heartbeat_interval_s=10).logged_on()
    rig.venue.next_seq = 5
    rig.feed(rig.venue.message(MsgType.HEARTBEAT))
    assert _types(rig.take()) == [MsgType.RESEND_REQUEST]
    rig.session.poll(rig.clock.advance(5 * SECOND))
    rig.feed(rig.report(2, b"X2", poss_dup=True))  # progress: the timeout starts again
    rig.session.poll(rig.clock.advance(SECOND))
    rig.session.poll(rig.clock.advance(9 * SECOND))
    assert MsgType.RESEND_REQUEST not in _types(rig.take())
    wait = rig.session.poll(rig.clock.advance(SECOND))
    (again,) = [m for m in rig.take() if m.msg_type == MsgType.RESEND_REQUEST]
    assert (again.get(b"7"), again.get(b"16")) == (b"3", b"0")
    assert rig.session.counters["resend_timeouts"] == 1
    assert wait <= 100_000_000
    rig.feed(rig.venue.message(MsgType.SEQUENCE_RESET, [(b"123", b"Y"), (b"36", b"5")], seq=3))
    assert rig.session.state is FixSessionState.ACTIVE
    assert rig.store.next_target_seq == 6
    rig.session.poll(rig.clock.advance(20 * SECOND))
    assert MsgType.RESEND_REQUEST not in _types(rig.take())


def test_poll_when_resyncing_at_logon_and_nothing_arrives_then_asked_again() -> None:
    rig = Rig(resend_timeout_ns=2 * SECOND)
    rig.connect()
    rig.feed(rig.venue.logon(seq=5))
    rig.take()
    rig.session.poll(rig.clock.advance(2 * SECOND))
    (again,) = [m for m in rig.take() if m.msg_type == MsgType.RESEND_REQUEST]
    assert (again.get(b"7"), again.get(b"16")) == (b"1", b"0")


def _timeouts(rig: Rig, count: int, step_s: int, *, heartbeats: bool = False) -> list[FixMessage]:
    """Let ``count`` resend timeouts pass without progress; return what the session sent.

    With ``heartbeats`` the venue sends a Heartbeat (numbered past the gap, so held) before each timeout.
    """
    sent: list[FixMessage] = []
    for _ in range(count):
        if heartbeats:
            rig.feed(rig.venue.message(MsgType.HEARTBEAT))
        rig.session.poll(rig.clock.advance(step_s * SECOND))
        sent += rig.take()
    return sent


def test_poll_when_gap_unanswered_max_resend_attempts_times_then_logout_close_and_next_logon_asks_again() -> None:
    rig = Rig(heartbeat_interval_s=10, max_resend_attempts=3).logged_on()
    rig.venue.next_seq = 5
    rig.feed(rig.venue.message(MsgType.HEARTBEAT))
    assert _types(rig.take()) == [MsgType.RESEND_REQUEST]
    sent = _timeouts(rig, 2, 10)
    assert _types(sent).count(MsgType.RESEND_REQUEST) == 2
    assert not rig.session.closing()
    (logout,) = _timeouts(rig, 1, 10)
    assert logout.msg_type == MsgType.LOGOUT
    assert logout.get(b"58") == b"sequence gap from 2 not filled after 3 ResendRequests"
    assert rig.session.close_reason == "sequence gap from 2 not filled after 3 ResendRequests"
    assert rig.session.counters["resend_gap_logouts"] == 1
    assert rig.store.next_target_seq == 2
    rig.session.connection_lost(rig.clock())
    rig.connect()
    rig.feed(rig.venue.logon(seq=7))
    assert rig.session.state is FixSessionState.RESYNCING
    (ask,) = [m for m in rig.take() if m.msg_type == MsgType.RESEND_REQUEST]
    assert (ask.get(b"7"), ask.get(b"16")) == (b"2", b"0")
    assert _types(_timeouts(rig, 2, 10)).count(MsgType.RESEND_REQUEST) == 2  # a fresh count on the new session
    assert not rig.session.closing()


def test_poll_when_gap_makes_progress_between_asks_then_count_starts_again() -> None:
    rig = Rig(heartbeat_interval_s=10, max_resend_attempts=2).logged_on()
    rig.venue.next_seq = 6
    rig.feed(rig.venue.message(MsgType.HEARTBEAT))
    rig.take()
    assert _types(_timeouts(rig, 1, 10)) == [MsgType.RESEND_REQUEST]
    rig.feed(rig.report(2, b"X2", poss_dup=True))  # progress
    rig.session.poll(rig.clock())
    assert _types(_timeouts(rig, 1, 10)) == [MsgType.RESEND_REQUEST]
    assert not rig.session.closing()
    assert MsgType.LOGOUT in _types(_timeouts(rig, 1, 10))  # after a TestRequest: the venue is silent
    assert rig.session.close_reason == "sequence gap from 3 not filled after 2 ResendRequests"


def test_poll_when_max_resend_attempts_zero_then_asked_for_ever() -> None:
    rig = Rig(heartbeat_interval_s=10, max_resend_attempts=0).logged_on()
    rig.venue.next_seq = 5
    rig.feed(rig.venue.message(MsgType.HEARTBEAT))
    rig.take()
    sent = _timeouts(rig, 30, 10, heartbeats=True)
    assert _types(sent).count(MsgType.RESEND_REQUEST) == 30
    assert MsgType.LOGOUT not in _types(sent)
    assert not rig.session.closing()
    assert rig.session.counters["resend_timeouts"] == 30


def test_venue_config_when_resend_keys_given_then_session_config_has_them() -> None:
    raw = {"protocol": "fix", "name": "EQX", "host": "127.0.0.1", "port": 9878, "dialect": "equities-fix42"}
    dialect = load_dialect("equities-fix42")
    default = session_config(decode_venue_config(raw, "venues[0]"), dialect)
    assert (default.resend_timeout_ns, default.max_resend_attempts) == (0, 5)
    tuned_raw = {**raw, "resend_timeout_s": 2.5, "max_resend_attempts": 0}
    tuned = session_config(decode_venue_config(tuned_raw, "venues[0]"), dialect)
    assert (tuned.resend_timeout_ns, tuned.max_resend_attempts) == (2_500_000_000, 0)
    with pytest.raises(VenueConfigError, match="max_resend_attempts"):
        decode_venue_config({**raw, "max_resend_attempts": -1}, "venues[0]")


# ---- the venue's Logout counted ---------------------------------------------------------------------


def test_venue_logout_when_in_sequence_then_its_number_is_stored_and_next_logon_not_resyncing() -> None:
    rig = Rig().logged_on()
    rig.feed(rig.venue.message(MsgType.LOGOUT, [(b"58", b"bye")]))
    assert rig.store.next_target_seq == 3
    rig.session.connection_lost(rig.clock())
    rig.connect()
    rig.feed(rig.venue.logon())
    assert rig.session.state is FixSessionState.ACTIVE


def test_venue_logout_when_answering_ours_then_its_number_is_stored() -> None:
    rig = Rig().logged_on()
    rig.session.logout("gateway stopping", rig.clock())
    rig.take()
    rig.feed(rig.venue.message(MsgType.LOGOUT))
    assert rig.session.close_reason == "gateway stopping"
    assert rig.store.next_target_seq == 3


# ---- an in-session Logon with ResetSeqNumFlag=Y -----------------------------------------------------


def test_in_session_logon_with_reset_flag_then_followed_both_numbers_restart_and_answered() -> None:
    rig = Rig().logged_on()
    rig.store.set_next_sender_seq(50)
    rig.store.set_next_target_seq(70)
    rig.venue.next_seq = 70
    rig.feed(rig.venue.logon(reset=True, seq=1))
    (reply,) = rig.take()
    assert (reply.msg_type, reply.seq, reply.get(b"141")) == (MsgType.LOGON, 1, b"Y")
    assert (rig.store.next_sender_seq, rig.store.next_target_seq) == (2, 2)
    assert not rig.session.closing()
    assert rig.session.state is FixSessionState.ACTIVE
    assert len(rig.handler.resets) == 1
    rig.venue.next_seq = 2
    rig.feed(rig.report(2, b"X2"))
    assert [m.seq for m in rig.handler.app] == [2]


def test_in_session_logon_with_reset_flag_when_not_numbered_1_then_logout() -> None:
    rig = Rig().logged_on()
    rig.feed(rig.venue.logon(reset=True, seq=2))
    (logout,) = rig.take()
    assert logout.get(b"58") == b"Logon with ResetSeqNumFlag must have MsgSeqNum 1, got 2"


# ---- session Rejects as QuickFIX sends them -------------------------------------------------------------


def test_test_request_when_without_test_req_id_then_reject_reason_1_tag_112_and_no_heartbeat() -> None:
    rig = Rig().logged_on()
    rig.feed(rig.venue.message(MsgType.TEST_REQUEST))
    (reject,) = rig.take()
    assert (reject.msg_type, reject.get(b"45"), reject.get(b"373"), reject.get(b"371"), reject.get(b"372")) == (
        MsgType.REJECT,
        b"2",
        b"1",
        b"112",
        b"1",
    )
    assert rig.store.next_target_seq == 3


def test_resend_request_when_end_seq_no_missing_then_reject_reason_1_tag_16() -> None:
    rig = Rig().logged_on()
    rig.feed(rig.venue.message(MsgType.RESEND_REQUEST, [(b"7", b"1")]))
    (reject,) = rig.take()
    assert (reject.msg_type, reject.get(b"373"), reject.get(b"371")) == (MsgType.REJECT, b"1", b"16")


def test_resend_request_when_begin_seq_no_not_a_number_then_reject_reason_6_tag_7() -> None:
    rig = Rig().logged_on()
    rig.feed(rig.venue.message(MsgType.RESEND_REQUEST, [(b"7", b"x"), (b"16", b"0")]))
    (reject,) = rig.take()
    assert (reject.msg_type, reject.get(b"373"), reject.get(b"371")) == (MsgType.REJECT, b"6", b"7")


def test_fill_when_last_qty_zero_then_session_reject_reason_5_and_no_event() -> None:
    rig = AdapterRig().up()
    rig.adapter.send_new(make_order(7))
    rig.adapter.flush()
    rig.wire.take()
    rig.feed(rig.peer.execution_report(b"Q6rj7", b"1", ord_status=b"1", extra=[(b"32", b"0"), (b"31", b"150.25")]))
    assert not [e for e in rig.events() if isinstance(e, VenueExecuted)]
    (reject,) = rig.wire.take()
    assert (reject.msg_type, reject.get(b"45"), reject.get(b"373"), reject.get(b"371")) == (
        MsgType.REJECT,
        b"2",
        b"5",
        b"32",
    )

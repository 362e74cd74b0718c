"""The FIX session state machine, sans-IO, with a fake clock and a scripted venue."""

from __future__ import annotations

import logging

import pytest

from model.clock import FakeClock
from venues.fix.codec import FixMessage, UtcTimestamps, build_message
from venues.fix.fields import MsgType
from venues.fix.session import FixSession, FixSessionState, ReconnectBackoff, SessionConfig, SessionSchedule
from venues.fix.store import MemoryStore

from .helpers import WALL_OFFSET_NS, VenuePeer, decode_all

SECOND = 1_000_000_000


class Handler:
    """Record what the session reports."""

    def __init__(self) -> None:
        self.app: list[FixMessage] = []
        self.states: list[tuple[FixSessionState, str]] = []
        self.rejects: list[FixMessage] = []
        self.resets: list[int] = []
        self.gap_fills: list[tuple[int, int, int]] = []
        self.not_replayed: list[bytes] = []

    def on_app_message(self, message: FixMessage) -> None:
        self.app.append(message)

    def on_state(self, state: FixSessionState, reason: str) -> None:
        self.states.append((state, reason))

    def on_session_reject(self, message: FixMessage) -> None:
        self.rejects.append(message)

    def on_not_replayed(self, raw: bytes) -> None:
        self.not_replayed.append(raw)

    def may_replay(self, raw: bytes) -> bool:
        del raw
        return True

    def on_numbering_reset(self, creation_time_ns: int) -> None:
        self.resets.append(creation_time_ns)

    def on_gap_filled(self, first: int, new_seq: int, unseen: int) -> None:
        self.gap_fills.append((first, new_seq, unseen))


def _config(**overrides: object) -> SessionConfig:
    base: dict[str, object] = {
        "begin_string": b"FIX.4.2",
        "sender_comp_id": b"GATEWAY",
        "target_comp_id": b"EQX",
        "heartbeat_interval_s": 30,
    }
    base.update(overrides)
    return SessionConfig(**base)  # type: ignore[arg-type]


class Rig:
    """A session, its store, handler, clock and the scripted venue."""

    def __init__(self, **overrides: object) -> None:
        self.clock = FakeClock()
        self.store = MemoryStore()
        self.handler = Handler()
        self.session = FixSession(_config(**overrides), self.store, self.handler, wall_offset_ns=WALL_OFFSET_NS)
        self.venue = VenuePeer()

    def take(self) -> list[FixMessage]:
        """Return and clear what the session queued for the wire."""
        messages = decode_all(self.session.outbox)
        self.session.outbox.clear()
        return messages

    def feed(self, *raw: bytes) -> None:
        """One read, then what the owner does after it (FixVenue.flush): commit the incoming number."""
        self.session.data_received(b"".join(raw), self.clock())
        self.session.commit_inbound()

    def logged_on(self) -> Rig:
        self.session.connection_made(self.clock())
        self.take()
        self.feed(self.venue.logon())
        assert self.session.state is FixSessionState.ACTIVE
        return self

    def heartbeat(self) -> bytes:
        return self.venue.message(MsgType.HEARTBEAT)


def _types(messages: list[FixMessage]) -> list[bytes]:
    return [m.msg_type for m in messages]


# ---- logon ------------------------------------------------------------------------------------


def test_connection_made_when_fresh_store_then_logon_with_seq_1_and_heartbeat_interval() -> None:
    rig = Rig()
    rig.session.connection_made(rig.clock())
    (logon,) = rig.take()
    assert logon.msg_type == MsgType.LOGON
    assert logon.seq == 1
    assert logon.get(b"108") == b"30"
    assert logon.get(b"98") == b"0"
    assert b"141" not in logon.fields
    assert logon.get(b"52") == b"20240102-10:00:00.000"
    assert rig.session.state is FixSessionState.LOGON_SENT
    assert rig.store.next_sender_seq == 2


def test_logon_when_credentials_and_extra_fields_then_sent_in_logon() -> None:
    rig = Rig(username=b"user1", password=b"secret", logon_fields=((b"9200", b"gw"),), reset_seq_num_on_logon=True)
    rig.store.set_next_sender_seq(40)
    rig.session.connection_made(rig.clock())
    (logon,) = rig.take()
    assert (logon.get(b"553"), logon.get(b"554"), logon.get(b"9200"), logon.get(b"141")) == (
        b"user1",
        b"secret",
        b"gw",
        b"Y",
    )
    assert logon.seq == 1


def test_logon_reply_when_seq_as_expected_then_active_and_target_advanced() -> None:
    rig = Rig().logged_on()
    assert rig.store.next_target_seq == 2
    assert rig.handler.states[-1] == (FixSessionState.ACTIVE, "logged on")


def test_logon_reply_when_seq_too_high_then_resyncing_until_gap_filled() -> None:
    rig = Rig()
    rig.session.connection_made(rig.clock())
    rig.take()
    rig.venue.next_seq = 5
    rig.feed(rig.venue.logon())
    assert rig.handler.states[-1][0] is FixSessionState.RESYNCING
    (resend,) = rig.take()
    assert (resend.msg_type, resend.get(b"7"), resend.get(b"16")) == (MsgType.RESEND_REQUEST, b"1", b"0")
    rig.feed(rig.venue.message(MsgType.SEQUENCE_RESET, [(b"123", b"Y"), (b"36", b"6")], seq=1))
    assert rig.handler.states[-1] == (FixSessionState.ACTIVE, "logged on; gap filled")
    assert rig.store.next_target_seq == 6


def test_logon_reply_when_seq_too_low_then_logout_with_reason_and_close() -> None:
    rig = Rig()
    rig.store.set_next_target_seq(10)
    rig.session.connection_made(rig.clock())
    rig.take()
    rig.feed(rig.venue.logon(seq=3))
    (logout,) = rig.take()
    assert logout.msg_type == MsgType.LOGOUT
    assert logout.get(b"58") == b"MsgSeqNum too low, expecting 10 but received 3"
    assert rig.session.close_reason == "MsgSeqNum too low, expecting 10 but received 3"


def test_poll_when_no_logon_reply_within_timeout_then_close_requested() -> None:
    rig = Rig(logon_timeout_ns=2 * SECOND)
    rig.session.connection_made(rig.clock())
    assert rig.session.poll(rig.clock.advance(SECOND)) > 0
    assert rig.session.close_reason is None
    rig.session.poll(rig.clock.advance(SECOND))
    assert rig.session.close_reason == "no Logon reply within the logon timeout"


def test_first_message_when_not_logon_then_close_requested() -> None:
    rig = Rig()
    rig.session.connection_made(rig.clock())
    rig.feed(rig.heartbeat())
    assert rig.session.close_reason is not None
    assert "not a Logon" in rig.session.close_reason


def test_venue_logon_when_reset_flag_and_we_did_not_ask_then_both_sides_restart_at_1() -> None:
    rig = Rig()
    rig.store.set_next_sender_seq(50)
    rig.store.set_next_target_seq(70)
    rig.session.connection_made(rig.clock())
    rig.take()
    rig.feed(rig.venue.logon(reset=True, seq=1))
    assert rig.session.state is FixSessionState.ACTIVE
    assert (rig.store.next_sender_seq, rig.store.next_target_seq) == (2, 2)


# ---- heartbeats and test requests ---------------------------------------------------------------


def test_poll_when_heartbeat_interval_passes_without_sending_then_heartbeat_sent() -> None:
    rig = Rig().logged_on()
    rig.session.poll(rig.clock.advance(29 * SECOND))
    assert rig.take() == []
    rig.feed(rig.heartbeat())
    rig.session.poll(rig.clock.advance(SECOND))
    assert _types(rig.take()) == [MsgType.HEARTBEAT]


def test_poll_when_venue_silent_past_interval_then_test_request_then_dead_link_closed() -> None:
    rig = Rig().logged_on()
    rig.session.poll(rig.clock.advance(35 * SECOND))
    assert _types(rig.take()) == [MsgType.HEARTBEAT]  # 30 s silence from us; 36 s needed from the venue
    rig.session.poll(rig.clock.advance(SECOND))
    sent = rig.take()
    assert MsgType.TEST_REQUEST in _types(sent)
    test_request = next(m for m in sent if m.msg_type == MsgType.TEST_REQUEST)
    assert test_request.get(b"112") == b"TEST1"
    rig.session.poll(rig.clock.advance(35 * SECOND))
    assert rig.session.close_reason is None
    rig.session.poll(rig.clock.advance(SECOND))
    assert rig.session.close_reason == "no answer to TestRequest: the link is dead"


def test_data_received_when_heartbeat_answers_test_request_then_link_stays_up() -> None:
    rig = Rig().logged_on()
    rig.session.poll(rig.clock.advance(36 * SECOND))
    rig.take()
    rig.feed(rig.venue.message(MsgType.HEARTBEAT, [(b"112", b"TEST1")]))
    rig.session.poll(rig.clock.advance(30 * SECOND))
    assert rig.session.close_reason is None


def test_test_request_when_from_venue_then_heartbeat_echoes_its_id() -> None:
    rig = Rig().logged_on()
    rig.feed(rig.venue.message(MsgType.TEST_REQUEST, [(b"112", b"PING-7")]))
    (heartbeat,) = rig.take()
    assert (heartbeat.msg_type, heartbeat.get(b"112")) == (MsgType.HEARTBEAT, b"PING-7")


def test_poll_when_idle_then_returns_time_until_next_heartbeat_capped_at_100ms() -> None:
    rig = Rig().logged_on()
    assert rig.session.poll(rig.clock.advance(10 * SECOND)) == 100_000_000
    assert rig.session.poll(rig.clock.advance(19_950_000_000)) == 50_000_000


def test_poll_when_waiting_for_logon_then_never_sleeps_past_the_first_heartbeat() -> None:
    # The venue's Logon arrives between polls and starts the heartbeat clock: the poll
    # scheduled while waiting for it must not overshoot the first heartbeat.
    rig = Rig(heartbeat_interval_s=1, logon_timeout_ns=10 * SECOND)
    rig.session.connection_made(rig.clock())
    assert rig.session.poll(rig.clock()) <= 100_000_000


# ---- sequence numbers -----------------------------------------------------------------------------


def test_data_received_when_gap_then_resend_request_and_held_message_processed_after_fill() -> None:
    rig = Rig().logged_on()
    rig.venue.next_seq = 5
    early = rig.venue.execution_report(b"Q7", b"0")
    rig.feed(early)
    (resend,) = rig.take()
    assert (resend.msg_type, resend.get(b"7"), resend.get(b"16")) == (MsgType.RESEND_REQUEST, b"2", b"0")
    assert rig.handler.app == []
    # The venue replays 2..4 (here: one business message and a gap fill) and then 5 as PossDup.
    replay = rig.venue.execution_report(b"Q6", b"0", seq=2, exec_id=b"E-2")
    gap_fill = rig.venue.message(MsgType.SEQUENCE_RESET, [(b"123", b"Y"), (b"36", b"5")], seq=3)
    rig.feed(replay, gap_fill)
    assert [m.seq for m in rig.handler.app] == [2, 5]
    assert rig.store.next_target_seq == 6
    rig.feed(rig.venue.execution_report(b"Q7", b"0", seq=5, extra=[], exec_id=b"E-5"))
    assert [m.seq for m in rig.handler.app] == [2, 5]  # resent copy of 5 is too low now


def test_gap_fill_when_it_skips_business_messages_received_early_then_they_are_still_processed() -> None:
    rig = Rig().logged_on()
    rig.venue.next_seq = 5
    rig.feed(rig.venue.execution_report(b"Q7", b"0"), rig.venue.execution_report(b"Q7", b"2", exec_id=b"E6"))
    rig.take()
    # Like QuickFIX's MemoryStore when the first requested number is missing: one gap fill over everything.
    rig.feed(rig.venue.message(MsgType.SEQUENCE_RESET, [(b"123", b"Y"), (b"36", b"7")], seq=2))
    assert [m.seq for m in rig.handler.app] == [5, 6]
    assert rig.store.next_target_seq == 7
    assert rig.session.counters["held_processed_on_reset"] == 2
    assert rig.session.state is FixSessionState.ACTIVE


def test_test_request_when_received_inside_a_gap_the_venue_then_gap_fills_then_still_answered() -> None:
    # Seen at a venue: 173 (a TestRequest) arrived while 169 was expected; the venue answered our
    # ResendRequest with one gap fill 169 -> 174 over it. The TestRequest is real and waits for its answer.
    rig = Rig().logged_on()
    rig.venue.next_seq = 173
    rig.feed(rig.venue.message(MsgType.TEST_REQUEST, [(b"112", b"PING-173")]))
    assert _types(rig.take()) == [MsgType.RESEND_REQUEST]
    rig.feed(rig.venue.message(MsgType.SEQUENCE_RESET, [(b"123", b"Y"), (b"36", b"174")], seq=2))
    answers = rig.take()
    assert [(m.msg_type, m.get(b"112")) for m in answers] == [(MsgType.HEARTBEAT, b"PING-173")]
    assert rig.store.next_target_seq == 174
    assert rig.session.state is FixSessionState.ACTIVE


def test_heartbeat_when_received_inside_a_gap_then_gap_filled_then_it_still_answers_our_test_request() -> None:
    rig = Rig().logged_on()
    test_req_id = rig.session.send_test_request(rig.clock())
    rig.take()
    rig.venue.next_seq = 6
    rig.feed(rig.venue.message(MsgType.HEARTBEAT, [(b"112", test_req_id)]))
    rig.take()
    rig.feed(rig.venue.message(MsgType.SEQUENCE_RESET, [(b"123", b"Y"), (b"36", b"7")], seq=2))
    assert rig.session._outstanding_test_req_id == b""


def test_data_received_when_second_gap_while_resending_then_no_second_resend_request() -> None:
    rig = Rig().logged_on()
    rig.venue.next_seq = 5
    rig.feed(rig.heartbeat())
    rig.venue.next_seq = 8
    rig.feed(rig.heartbeat())
    assert _types(rig.take()) == [MsgType.RESEND_REQUEST]
    assert rig.session.counters["resend_requests_sent"] == 1


def test_data_received_when_seq_too_low_without_possdup_then_logout_with_reason() -> None:
    rig = Rig().logged_on()
    rig.feed(rig.heartbeat(), rig.heartbeat())
    rig.feed(rig.venue.message(MsgType.HEARTBEAT, seq=2))
    (logout,) = rig.take()
    assert logout.msg_type == MsgType.LOGOUT
    assert logout.get(b"58") == b"MsgSeqNum too low, expecting 4 but received 2"
    assert rig.session.state is FixSessionState.LOGOUT_SENT
    assert rig.session.close_reason is not None


def test_data_received_when_possdup_seq_too_low_then_ignored() -> None:
    rig = Rig().logged_on()
    rig.feed(rig.venue.execution_report(b"Q7", b"0"))
    dup = rig.venue.execution_report(b"Q7", b"0", seq=2, extra=[])
    dup_flagged = build_message(
        b"FIX.4.2",
        MsgType.EXECUTION_REPORT,
        sender=b"EQX",
        target=b"GATEWAY",
        seq=2,
        sending_time=b"20240102-10:00:01.000",
        body_fields=[(b"11", b"Q7"), (b"150", b"0")],
        header_fields=[(b"43", b"Y"), (b"122", b"20240102-10:00:00.000")],
    )
    del dup
    rig.feed(dup_flagged)
    assert len(rig.handler.app) == 1
    assert rig.session.counters["poss_dup_ignored"] == 1
    assert rig.session.close_reason is None


@pytest.mark.parametrize("seq", [1, 2])
def test_data_received_when_possdup_seq_too_low_without_orig_sending_time_then_session_reject_naming_122(
    seq: int, caplog: pytest.LogCaptureFixture
) -> None:
    # QuickFIX rejects such a copy (SessionRejectReason 1, RefTagID 122) instead of ignoring it unseen; the
    # number is not consumed (it was already processed) and the session stays up.
    rig = Rig().logged_on()
    rig.feed(rig.venue.execution_report(b"Q7", b"0"))
    rig.take()
    expected = rig.session.next_target_seq
    dup = build_message(
        b"FIX.4.2",
        MsgType.EXECUTION_REPORT,
        sender=b"EQX",
        target=b"GATEWAY",
        seq=seq,
        sending_time=b"20240102-10:00:01.000",
        body_fields=[(b"11", b"Q7"), (b"150", b"0")],
        header_fields=[(b"43", b"Y")],
    )
    with caplog.at_level(logging.WARNING, logger="venues.fix.session.session"):
        rig.feed(dup, dup)
    rejects = rig.take()
    assert [(m.msg_type, m.get(b"45"), m.get(b"373"), m.get(b"371"), m.get(b"372")) for m in rejects] == [
        (MsgType.REJECT, b"%d" % seq, b"1", b"122", MsgType.EXECUTION_REPORT)
    ] * 2
    assert len(rig.handler.app) == 1
    assert rig.session.counters["poss_dup_rejected"] == 2
    assert rig.session.counters["poss_dup_ignored"] == 0
    assert rig.session.next_target_seq == expected
    assert rig.session.close_reason is None
    assert len([r for r in caplog.records if "without OrigSendingTime" in r.getMessage()]) == 1  # rate-limited


def test_data_received_when_possdup_sequence_reset_too_low_without_orig_sending_time_then_ignored() -> None:
    rig = Rig().logged_on()
    rig.feed(rig.venue.execution_report(b"Q7", b"0"))
    rig.take()
    gap_fill = rig.venue.message(MsgType.SEQUENCE_RESET, [(b"123", b"Y"), (b"36", b"3")], seq=2, header=[(b"43", b"Y")])
    rig.feed(gap_fill)
    assert rig.take() == []
    assert rig.session.counters["poss_dup_ignored"] == 1


def test_sequence_reset_when_reset_mode_then_expected_jumps_regardless_of_seq() -> None:
    rig = Rig().logged_on()
    rig.feed(rig.venue.message(MsgType.SEQUENCE_RESET, [(b"123", b"N"), (b"36", b"100")], seq=77))
    assert rig.store.next_target_seq == 100
    assert rig.take() == []


def test_sequence_reset_when_new_seq_would_lower_expected_then_reject() -> None:
    rig = Rig().logged_on()
    rig.feed(rig.heartbeat(), rig.heartbeat())
    rig.feed(rig.venue.message(MsgType.SEQUENCE_RESET, [(b"123", b"N"), (b"36", b"2")], seq=4))
    (reject,) = rig.take()
    assert (reject.msg_type, reject.get(b"45"), reject.get(b"373"), reject.get(b"371")) == (
        MsgType.REJECT,
        b"4",
        b"5",
        b"36",
    )
    assert rig.store.next_target_seq == 5  # its own number taken (fixfix51; before: 4, a gap at the next message)


# ---- answering the venue's ResendRequest ---------------------------------------------------------


def _sent_order(rig: Rig, cl_ord_id: bytes, stamp: bytes = b"20240102-10:00:00.000") -> int:
    seq = rig.store.next_sender_seq
    raw = build_message(
        b"FIX.4.2",
        MsgType.NEW_ORDER_SINGLE,
        sender=b"GATEWAY",
        target=b"EQX",
        seq=seq,
        sending_time=stamp,
        body_fields=[
            (b"11", cl_ord_id),
            (b"21", b"1"),
            (b"55", b"AAPL"),
            (b"54", b"1"),
            (b"60", stamp),
            (b"40", b"1"),
        ],
    )
    assert rig.session.send_app(seq, raw, rig.clock())
    return seq


def test_resend_request_when_business_stored_then_replayed_with_possdup_and_gap_fills_for_admin() -> None:
    rig = Rig().logged_on()  # our Logon was 1
    first = _sent_order(rig, b"Q1")  # 2
    rig.session.send_test_request(rig.clock())  # 3 (admin)
    second = _sent_order(rig, b"Q2")  # 4
    rig.take()
    rig.clock.advance(SECOND)
    rig.feed(rig.venue.message(MsgType.RESEND_REQUEST, [(b"7", b"1"), (b"16", b"0")]))
    replies = rig.take()
    assert [(m.msg_type, m.seq) for m in replies] == [
        (MsgType.SEQUENCE_RESET, 1),
        (MsgType.NEW_ORDER_SINGLE, first),
        (MsgType.SEQUENCE_RESET, 3),
        (MsgType.NEW_ORDER_SINGLE, second),
    ]
    assert [m.get(b"36") for m in replies if m.msg_type == MsgType.SEQUENCE_RESET] == [b"2", b"4"]
    assert all(m.get(b"123") == b"Y" and m.get(b"43") == b"Y" for m in replies if m.msg_type == b"4")
    order = replies[1]
    assert (order.get(b"43"), order.get(b"122"), order.get(b"52")) == (
        b"Y",
        b"20240102-10:00:00.000",
        b"20240102-10:00:01.000",
    )
    assert order.get(b"11") == b"Q1"
    assert rig.store.next_sender_seq == 5  # a resend does not consume numbers


def test_resend_request_when_business_message_stale_then_gap_filled_and_reported() -> None:
    rig = Rig(stale_after_ns=5 * SECOND).logged_on()
    _sent_order(rig, b"Q1", stamp=b"20240102-09:59:00.000")
    rig.take()
    rig.feed(rig.venue.message(MsgType.RESEND_REQUEST, [(b"7", b"2"), (b"16", b"2")]))
    (gap_fill,) = rig.take()
    assert (gap_fill.msg_type, gap_fill.seq, gap_fill.get(b"36")) == (MsgType.SEQUENCE_RESET, 2, b"3")
    assert len(rig.handler.not_replayed) == 1
    assert b"\x0111=Q1\x01" in rig.handler.not_replayed[0]


def test_resend_request_when_dialect_never_replays_business_then_single_gap_fill() -> None:
    rig = Rig(replay_business=False).logged_on()
    _sent_order(rig, b"Q1")
    _sent_order(rig, b"Q2")
    rig.take()
    rig.feed(rig.venue.message(MsgType.RESEND_REQUEST, [(b"7", b"1"), (b"16", b"0")]))
    (gap_fill,) = rig.take()
    assert (gap_fill.seq, gap_fill.get(b"36")) == (1, b"4")
    assert len(rig.handler.not_replayed) == 2


def test_send_app_when_not_logged_on_then_stored_not_queued() -> None:
    rig = Rig()
    raw = b"8=FIX.4.2\x019=5\x0135=D\x0110=000\x01"
    assert rig.session.send_app(1, raw, rig.clock()) is False
    assert rig.session.outbox == bytearray()
    assert rig.store.get_sent(1, 1) == [(1, raw)]
    assert rig.store.next_sender_seq == 2


# ---- garbled input and rejects ------------------------------------------------------------------


def test_garbled_field_when_in_sequence_then_reject_sent_and_number_consumed() -> None:
    rig = Rig().logged_on()
    garbled = build_message(
        b"FIX.4.2",
        MsgType.EXECUTION_REPORT,
        sender=b"EQX",
        target=b"GATEWAY",
        seq=2,
        sending_time=b"20240102-10:00:00.000",
        body_fields=[(b"11", b"Q7"), (b"x7", b"oops")],
    )
    rig.venue.next_seq = 3
    rig.feed(garbled)
    (reject,) = rig.take()
    assert (reject.msg_type, reject.get(b"45"), reject.get(b"373")) == (MsgType.REJECT, b"2", b"0")
    assert rig.store.next_target_seq == 3
    rig.feed(rig.heartbeat())
    assert rig.store.next_target_seq == 4
    assert rig.session.close_reason is None


def test_data_received_when_bad_checksum_then_ignored_without_consuming_a_number() -> None:
    rig = Rig().logged_on()
    good = rig.heartbeat()
    bad = good[:-4] + b"%03d\x01" % ((int(good[-4:-1]) + 1) % 256)
    rig.feed(bad)
    assert rig.store.next_target_seq == 2
    assert rig.session.counters["garbled"] == 1
    rig.feed(good)
    assert rig.store.next_target_seq == 3
    assert rig.take() == []


def test_data_received_when_comp_ids_wrong_then_reject_and_logout() -> None:
    rig = Rig().logged_on()
    rig.venue.sender = b"OTHER"
    rig.feed(rig.heartbeat())
    sent = rig.take()
    assert _types(sent) == [MsgType.REJECT, MsgType.LOGOUT]
    assert sent[0].get(b"373") == b"9"
    assert rig.session.close_reason is not None


def test_reject_when_from_venue_then_handler_told_and_session_continues() -> None:
    rig = Rig().logged_on()
    rig.feed(rig.venue.message(MsgType.REJECT, [(b"45", b"2"), (b"373", b"1"), (b"58", b"missing tag")]))
    assert len(rig.handler.rejects) == 1
    assert rig.store.next_target_seq == 3


def test_app_message_when_in_sequence_then_handler_sees_it_before_number_committed() -> None:
    rig = Rig().logged_on()
    seen: list[int] = []

    class Peeking(Handler):
        def on_app_message(self, message: FixMessage) -> None:
            seen.append(rig.store.next_target_seq)

    rig.session.handler = Peeking()
    rig.session.data_received(rig.venue.execution_report(b"Q7", b"0"), rig.clock())
    assert seen == [2]
    assert (rig.session.next_target_seq, rig.store.next_target_seq) == (3, 2)  # the owner has not committed
    rig.session.commit_inbound()
    assert rig.store.next_target_seq == 3


def test_app_message_when_handled_but_never_committed_then_next_session_asks_for_it_again() -> None:
    rig = Rig().logged_on()
    rig.session.data_received(rig.venue.execution_report(b"Q7", b"0"), rig.clock())
    assert len(rig.handler.app) == 1
    # the process dies before its owner made the handled message durable: a new session on the store
    again = FixSession(_config(), rig.store, Handler(), wall_offset_ns=WALL_OFFSET_NS)
    again.connection_made(rig.clock())
    again.data_received(rig.venue.logon(), rig.clock())
    resend = [m for m in decode_all(again.outbox) if m.msg_type == MsgType.RESEND_REQUEST]
    assert [(m.get(b"7"), m.get(b"16")) for m in resend] == [(b"2", b"0")]


# ---- logout ---------------------------------------------------------------------------------------


def test_logout_when_requested_then_waits_for_reply_then_closes() -> None:
    rig = Rig().logged_on()
    rig.session.logout("end of day", rig.clock())
    (logout,) = rig.take()
    assert (logout.msg_type, logout.get(b"58")) == (MsgType.LOGOUT, b"end of day")
    assert rig.session.close_reason is None
    rig.feed(rig.venue.message(MsgType.LOGOUT))
    assert rig.session.close_reason == "end of day"


def test_logout_when_venue_never_answers_then_closes_after_timeout() -> None:
    rig = Rig(logout_timeout_ns=2 * SECOND).logged_on()
    rig.session.logout("bye", rig.clock())
    rig.session.poll(rig.clock.advance(SECOND))
    assert rig.session.close_reason is None
    rig.session.poll(rig.clock.advance(SECOND))
    assert rig.session.close_reason == "no Logout reply (bye)"


def test_logout_when_from_venue_then_answered_and_closed_with_its_text() -> None:
    rig = Rig().logged_on()
    rig.feed(rig.venue.message(MsgType.LOGOUT, [(b"58", b"maintenance")]))
    assert _types(rig.take()) == [MsgType.LOGOUT]
    assert rig.session.close_reason == "venue logged out: maintenance"


def test_connection_lost_when_logged_on_then_disconnected_and_numbers_kept() -> None:
    rig = Rig().logged_on()
    rig.session.connection_lost(rig.clock())
    assert rig.session.state is FixSessionState.DISCONNECTED
    assert (rig.store.next_sender_seq, rig.store.next_target_seq) == (2, 2)
    rig.session.connection_made(rig.clock())
    (logon,) = rig.take()
    assert logon.seq == 2


# ---- schedule and backoff -------------------------------------------------------------------------


def test_connection_made_when_outside_schedule_then_ended_and_closed() -> None:
    # FakeClock + WALL_OFFSET_NS reads 10:00 UTC.
    rig = Rig(schedule=SessionSchedule(start_time="13:30", end_time="20:00"))
    rig.session.connection_made(rig.clock())
    assert rig.session.state is FixSessionState.ENDED
    assert rig.take() == []
    assert rig.session.close_reason == "outside the session schedule"


def test_connection_made_when_store_from_previous_session_day_then_numbers_reset() -> None:
    rig = Rig(schedule=SessionSchedule(start_time="08:00", end_time="18:00"))
    rig.store.set_next_sender_seq(500)
    rig.store.set_next_target_seq(400)
    rig.session.connection_made(rig.clock())
    (logon,) = rig.take()
    assert logon.seq == 1
    assert rig.store.next_target_seq == 1


def test_poll_when_schedule_window_closes_then_logout() -> None:
    rig = Rig(schedule=SessionSchedule(start_time="08:00", end_time="10:00:30")).logged_on()
    rig.session.poll(rig.clock.advance(20 * SECOND))
    assert MsgType.LOGOUT not in _types(rig.take())
    rig.session.poll(rig.clock.advance(11 * SECOND))
    assert _types(rig.take()) == [MsgType.LOGOUT]
    assert rig.session.state is FixSessionState.LOGOUT_SENT


def test_schedule_when_window_crosses_midnight_then_open_late_and_early() -> None:
    schedule = SessionSchedule(start_time="22:00", end_time="06:00", timezone="Europe/London")
    stamp = UtcTimestamps()
    base = 1_704_189_600_000_000_000  # 2024-01-02 10:00 UTC (London = UTC in winter)
    assert stamp.format(base) == b"20240102-10:00:00.000"
    assert not schedule.is_open(base)
    assert schedule.is_open(base + 13 * 3600 * SECOND)  # 23:00
    assert schedule.is_open(base + 19 * 3600 * SECOND)  # 05:00 next day
    assert schedule.next_start(base) == base + 12 * 3600 * SECOND


def test_schedule_when_bad_time_zone_then_value_error() -> None:
    with pytest.raises(ValueError, match="unknown time zone"):
        SessionSchedule(start_time="08:00", end_time="17:00", timezone="Mars/Olympus")


def test_backoff_when_attempts_grow_then_doubles_up_to_ceiling_and_stops_at_limit() -> None:
    backoff = ReconnectBackoff(initial_ms=100, maximum_ms=1_000, max_attempts=6)
    delays = [backoff.delay_ns(n) for n in range(1, 8)]
    assert delays == [ms * 1_000_000 for ms in (100, 200, 400, 800, 1_000, 1_000)] + [None]

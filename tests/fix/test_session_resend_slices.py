"""The venue's ResendRequest over many messages is answered a slice per poll, in order (sans-IO, fake clock).

rev58fix F1: a ResendRequest was answered in one call (every stored message of the range re-stamped and judged by
``may_replay`` at once): about 36 us per message compiled, so 3,000 messages held the event loop 105-158 ms and every
other strategy with it (docs/strategy-protocol.md 4.6). Now the first ``resend_slice`` stored messages are answered
at once and each ``poll`` answers the next slice (returning 0: call again at the next turn); what the session numbers
meanwhile waits behind the answer, so the venue gets our numbers in order: the replay, then what came after.
"""

from __future__ import annotations

import logging

import pytest

from venues.fix.codec import FixMessage, build_message
from venues.fix.fields import MsgType
from venues.fix.session import FixSessionState
from venues.fix.session.resend import answer_resend_request
from venues.fix.session.session import RESEND_SLICE

from .test_session import SECOND, Rig

pytestmark = pytest.mark.timeout(30)


def _order(rig: Rig, n: int) -> int:
    """Store and queue a NewOrderSingle; return its MsgSeqNum."""
    session = rig.session
    seq = session.next_sender_seq
    raw = build_message(
        b"FIX.4.2",
        MsgType.NEW_ORDER_SINGLE,
        sender=b"GATEWAY",
        target=b"EQX",
        seq=seq,
        sending_time=session.sending_time(rig.clock()),
        body_fields=[(b"11", b"Q%d" % n), (b"55", b"AAPL"), (b"54", b"1"), (b"38", b"100"), (b"40", b"2")],
    )
    session.send_app(seq, raw, rig.clock())
    return seq


def _day(rig: Rig, count: int) -> int:
    """Send ``count`` orders with a Heartbeat (an admin message, not stored) after every 10th; return the last seq."""
    for n in range(count):
        _order(rig, n)
        if n % 10 == 9:
            rig.session.poll(rig.clock.advance(30 * SECOND))  # a Heartbeat is due
            rig.feed(rig.heartbeat())
    rig.take()
    return rig.session.next_sender_seq - 1


def _resend_request(rig: Rig, begin: int, end: int = 0) -> bytes:
    return rig.venue.message(MsgType.RESEND_REQUEST, [(b"7", b"%d" % begin), (b"16", b"%d" % end)])


def _covered(messages: list[FixMessage]) -> list[int]:
    """The numbers the messages give the venue, in wire order (a gap fill: each number it covers)."""
    out: list[int] = []
    for message in messages:
        if message.msg_type == MsgType.SEQUENCE_RESET:
            out.extend(range(message.seq, int(message.get(b"36"))))
        else:
            out.append(message.seq)
    return out


def _not_every_seventh(raw: bytes) -> bool:
    """The owner's ``may_replay``: every 7th order was answered already (gap-filled)."""
    at = raw.index(b"\x0111=Q") + 5
    return int(raw[at : raw.index(b"\x01", at)]) % 7 != 6


def test_resend_request_over_many_messages_then_a_slice_at_once_and_one_per_poll_the_same_copies_in_order() -> None:
    rig = Rig().logged_on()
    last = _day(rig, 600)
    rig.handler.may_replay = _not_every_seventh  # type: ignore[method-assign]
    whole = answer_resend_request(
        rig.store,
        rig.session.admin,
        1,
        0,
        begin_string=b"FIX.4.2",
        stamp=rig.session.sending_time(rig.clock()),
        wall_now_ns=rig.clock() + rig.session.wall_offset_ns,
        replay_business=True,
        stale_after_ns=0,
        may_replay=_not_every_seventh,
    )
    rig.handler.not_replayed.clear()
    woken: list[int] = []
    rig.session.wake = lambda: woken.append(1)
    rig.feed(_resend_request(rig, 1))
    first = rig.take()
    replays = [m for m in first if m.get(b"43") == b"Y" and m.msg_type == MsgType.NEW_ORDER_SINGLE]
    # the old code: all 515 replays in this one call
    assert 0 < len(replays) <= RESEND_SLICE, len(replays)
    assert woken == [1]
    slices = [first]
    while rig.session.resending:
        wait = rig.session.poll(rig.clock())
        assert wait == 0 or not rig.session.resending  # call again at the next turn (the timers' wait at the end)
        slices.append(rig.take())
    assert len(slices) >= 600 // RESEND_SLICE
    for chunk in slices:
        assert sum(1 for m in chunk if m.msg_type == MsgType.NEW_ORDER_SINGLE) <= RESEND_SLICE
    wire = [m for chunk in slices for m in chunk]
    copies = [m.raw for m in wire if m.msg_type != MsgType.SEQUENCE_RESET]
    assert b"".join(copies) == b"".join(r for r in whole.messages if b"\x0135=4\x01" not in r[:40])  # as one answer
    assert _covered(wire) == list(range(1, last + 1))  # each number once, in order, no gap
    fills = [m for m in wire if m.msg_type == MsgType.SEQUENCE_RESET]
    assert len(fills) <= len(whole.messages) - len(copies) + len(slices)  # a gap fill open at a slice's end ends there
    assert all(chunk and chunk[-1].seq < last + 1 for chunk in slices)  # each slice moves the venue on
    assert len(rig.handler.not_replayed) == len(whole.gap_filled_business) == 600 // 7
    assert rig.session.poll(rig.clock()) > 0  # done: the timers' wait again
    assert rig.take() == []


def test_messages_numbered_while_the_answer_is_sliced_then_sent_after_its_last_slice_in_number_order() -> None:
    rig = Rig().logged_on()
    last = _day(rig, 300)
    rig.feed(_resend_request(rig, 1))
    wire = rig.take()
    new_order = _order(rig, 1000)  # a strategy's order meanwhile
    rig.feed(rig.venue.message(MsgType.TEST_REQUEST, [(b"112", b"T1")]))  # answered with a Heartbeat
    wire += rig.take()
    assert new_order == last + 1 and all(m.seq <= last for m in wire)  # held behind the answer
    while rig.session.resending:
        rig.session.poll(rig.clock.advance(1_000_000))
        wire += rig.take()
    assert _covered(wire) == list(range(1, last + 3))
    tail = wire[-2:]
    assert [(m.msg_type, m.seq, m.get(b"43")) for m in tail] == [
        (MsgType.NEW_ORDER_SINGLE, last + 1, b""),
        (MsgType.HEARTBEAT, last + 2, b""),
    ]
    assert tail[1].get(b"112") == b"T1"
    assert rig.session.queue is rig.session.outbox


def test_second_resend_request_from_a_number_being_answered_then_the_answer_goes_on_each_number_once() -> None:
    rig = Rig().logged_on()
    last = _day(rig, 300)
    rig.feed(_resend_request(rig, 5))
    wire = rig.take()
    rig.session.poll(rig.clock())
    wire += rig.take()
    assert _covered(wire)[-1] > 20  # the answer has passed 20 (docs/venues/fix.md: not answered again)
    rig.feed(_resend_request(rig, 20))  # the venue asks again from what it has (a resend timeout of its own)
    while rig.session.resending:
        rig.session.poll(rig.clock())
        wire += rig.take()
    assert _covered(wire) == list(range(5, last + 1))


def test_second_resend_request_below_the_one_answered_then_answered_again_from_there_up_to_the_same_end() -> None:
    rig = Rig().logged_on()
    last = _day(rig, 300)
    rig.feed(_resend_request(rig, 100))
    rig.take()
    new_order = _order(rig, 1000)  # waits behind the answer: not part of it
    rig.feed(_resend_request(rig, 3, 50))
    wire = rig.take()
    while rig.session.resending:
        rig.session.poll(rig.clock())
        wire += rig.take()
    assert _covered(wire) == [*range(3, last + 1), new_order]


def test_our_logout_while_the_answer_is_sliced_then_the_rest_not_sent_and_what_waited_goes_before_the_logout() -> None:
    rig = Rig().logged_on()
    last = _day(rig, 300)
    rig.feed(_resend_request(rig, 1))
    wire = rig.take()
    sent_to = _covered(wire)[-1]
    new_order = _order(rig, 1000)
    rig.session.logout("operator request", rig.clock())
    assert not rig.session.resending
    tail = rig.take()
    assert [(m.msg_type, m.seq) for m in tail] == [
        (MsgType.NEW_ORDER_SINGLE, new_order),
        (MsgType.LOGOUT, new_order + 1),
    ]
    rig.session.poll(rig.clock())
    assert rig.take() == []
    assert sent_to < last  # the venue asks for the rest at the next logon


def test_connection_lost_while_the_answer_is_sliced_then_forgotten_and_the_next_connection_logs_on() -> None:
    rig = Rig().logged_on()
    _day(rig, 300)
    rig.feed(_resend_request(rig, 1))
    rig.take()
    _order(rig, 1000)
    rig.session.connection_lost(rig.clock())
    assert not rig.session.resending and rig.session.queue is rig.session.outbox
    assert rig.session.behind_resend == bytearray()
    rig.session.connection_made(rig.clock())
    assert [m.msg_type for m in rig.take()] == [MsgType.LOGON]
    rig.session.poll(rig.clock())
    assert rig.take() == []


@pytest.mark.parametrize("cause", ["journal hold", "socket full"])
def test_output_held_while_the_answer_is_sliced_then_no_slice_until_released_and_the_owner_woken(cause: str) -> None:
    rig = Rig().logged_on()
    last = _day(rig, 300)
    woken: list[int] = []
    rig.session.wake = lambda: woken.append(1)
    rig.feed(_resend_request(rig, 1))
    wire = rig.take()
    session = rig.session
    if cause == "journal hold":
        session.hold_output(True, rig.clock())
    else:
        session.write_paused = True
    for _ in range(3):
        assert session.poll(rig.clock()) > 0
        assert rig.take() == []
    if cause == "journal hold":
        session.hold_output(False, rig.clock())
    else:
        session.write_paused = False
        session.wake_for_resend()  # what the adapter does when its socket drains (``set_write_paused``)
    assert woken == [1, 1]
    while session.resending:
        session.poll(rig.clock())
        wire += rig.take()
    assert _covered(wire) == list(range(1, last + 1))


def test_resend_request_within_one_slice_then_answered_at_once_and_the_owner_not_woken() -> None:
    rig = Rig().logged_on()
    last = _day(rig, RESEND_SLICE - 5)
    woken: list[int] = []
    rig.session.wake = lambda: woken.append(1)
    rig.feed(_resend_request(rig, 1))
    assert not rig.session.resending and woken == []
    assert _covered(rig.take()) == list(range(1, last + 1))


def test_gap_of_ours_asked_while_the_answer_is_sliced_then_not_asked_again_until_it_has_left() -> None:
    rig = Rig(resend_timeout_ns=SECOND).logged_on()
    last = _day(rig, 600)
    rig.feed(_resend_request(rig, 1))
    rig.venue.next_seq += 3  # three of the venue's messages lost: our ResendRequest waits behind the answer
    rig.feed(rig.heartbeat())
    wire = rig.take()
    while rig.session.resending:
        rig.session.poll(rig.clock.advance(SECOND // 2))  # the answer takes longer than the resend timeout
        wire += rig.take()
    asks = [m for m in wire if m.msg_type == MsgType.RESEND_REQUEST]
    assert [(m.seq, m.get(b"43")) for m in asks] == [(last + 1, b"")]  # asked once, after the answer
    rig.session.poll(rig.clock.advance(SECOND // 2))
    assert [m.msg_type for m in rig.take()] == []  # timed from when it left


def test_resend_request_over_messages_all_gap_filled_then_every_slice_moves_the_venue_on_with_a_gap_fill() -> None:
    rig = Rig().logged_on()
    last = _day(rig, 300)
    rig.handler.may_replay = lambda raw: False  # type: ignore[method-assign]  # every order answered already
    rig.feed(_resend_request(rig, 1))
    slices = [rig.take()]
    while rig.session.resending:
        rig.session.poll(rig.clock())
        slices.append(rig.take())
    assert len(slices) >= 300 // RESEND_SLICE
    ends = []
    for chunk in slices:
        assert [m.msg_type for m in chunk] == [MsgType.SEQUENCE_RESET]
        ends.append(int(chunk[0].get(b"36")))
    assert ends == sorted(ends) and ends[-1] == last + 1
    assert _covered([m for chunk in slices for m in chunk]) == list(range(1, last + 1))


def test_resend_request_after_our_logout_then_answered_in_slices_before_the_venue_s_logout() -> None:
    """The FIX logout handshake: the venue may ask for a gap before it answers our Logout; the answer goes on."""
    rig = Rig().logged_on()
    last = _day(rig, 300)
    rig.session.logout("operator request", rig.clock())
    (logout,) = rig.take()
    rig.feed(_resend_request(rig, 1))
    wire = rig.take()
    while rig.session.resending:
        assert rig.session.poll(rig.clock()) == 0 or not rig.session.resending
        wire += rig.take()
    assert _covered(wire) == list(range(1, logout.seq + 1))  # our Logout's number gap-filled, as any admin message
    assert logout.seq == last + 1 and rig.session.state is FixSessionState.LOGOUT_SENT


def test_venue_resets_the_numbering_mid_answer_then_nothing_of_the_old_numbering_queued_after_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """rev58merge5 MEDIUM: the venue's Logon 141=Y (MsgSeqNum 1) while its ResendRequest 1..0 is answered in slices.

    Before fixresend58b the reset ended the answer as a Logout does: what waited behind it (a strategy's orders, the
    answer to a TestRequest) was queued in the OLD numbering just ahead of our reset Logon, and the WARNING said the
    venue would ask for the rest again, which it never does after a reset. Now nothing of the old numbering is queued
    after the reset: the unanswered requests are the owner's to ask about under the new numbering
    (``on_numbering_reset``; the adapter's side: tests/fix/test_adapter_resend_slices.py).
    """
    rig = Rig().logged_on()
    last = _day(rig, 300)
    rig.feed(_resend_request(rig, 1))
    rig.take()  # the first slice left
    assert rig.session.queue is rig.session.behind_resend  # the answer goes on
    waiting = [_order(rig, 1000 + n) for n in range(3)]  # a strategy's orders meanwhile
    rig.feed(rig.venue.message(MsgType.TEST_REQUEST, [(b"112", b"T1")]))  # answered behind the answer too
    assert waiting == [last + 1, last + 2, last + 3] and rig.take() == []  # held behind the answer
    rig.venue.next_seq = 1
    with caplog.at_level(logging.WARNING, logger="venues.fix.session.session"):
        rig.feed(rig.venue.logon(reset=True))
    assert not rig.session.resending
    assert rig.session.queue is rig.session.outbox and rig.session.behind_resend == bytearray()
    after = rig.take()
    # the old code: D last + 1..last + 3 and the Heartbeat last + 4 (no PossDupFlag), then (Logon, 1, b'Y')
    assert [(m.msg_type, m.seq, m.get(b"141")) for m in after] == [(MsgType.LOGON, 1, b"Y")]
    assert len(rig.handler.resets) == 1  # the owner asks about what is unanswered (after_replay)
    while rig.session.poll(rig.clock.advance(SECOND)) == 0:  # no slice of the old answer either
        pass
    assert all(m.msg_type == MsgType.HEARTBEAT and m.seq >= 2 for m in rig.take())
    (warning,) = [r.getMessage() for r in caplog.records if "ResendRequest" in r.getMessage()]
    assert "the sequence numbers were reset" in warning and "never asks for the old numbers again" in warning
    assert "4 message(s) numbered behind the answer are not sent" in warning
    assert "asks for the rest again" not in warning
    _order(rig, 2000)  # the new numbering: straight to the wire
    assert [(m.msg_type, m.seq) for m in rig.take()] == [(MsgType.NEW_ORDER_SINGLE, rig.session.next_sender_seq - 1)]


def test_venue_logs_out_mid_answer_then_the_warning_names_the_venue_s_logout_and_ours_as_the_answer(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """rev58merge5 LOW: the venue's Logout mid-answer was logged as "(our Logout)"; ours only answered it."""
    rig = Rig().logged_on()
    _day(rig, 300)
    rig.feed(_resend_request(rig, 1))
    rig.take()
    with caplog.at_level(logging.WARNING, logger="venues.fix.session.session"):
        rig.feed(rig.venue.message(MsgType.LOGOUT, [(b"58", b"end of day")]))
    assert not rig.session.resending
    assert [m.msg_type for m in rig.take()] == [MsgType.LOGOUT]
    (warning,) = [r.getMessage() for r in caplog.records if "ResendRequest" in r.getMessage()]
    # the old code: "... stopped before n (our Logout): the venue asks for the rest again"
    assert "(the venue's Logout (end of day), which ours answers)" in warning, warning


def test_our_logout_mid_answer_then_the_warning_names_ours_and_its_reason(caplog: pytest.LogCaptureFixture) -> None:
    rig = Rig().logged_on()
    _day(rig, 300)
    rig.feed(_resend_request(rig, 1))
    rig.take()
    with caplog.at_level(logging.WARNING, logger="venues.fix.session.session"):
        rig.session.logout("operator request", rig.clock())
    (warning,) = [r.getMessage() for r in caplog.records if "ResendRequest" in r.getMessage()]
    assert "(our Logout: operator request)" in warning, warning

"""Our replays' SendingTime is never earlier than their OrigSendingTime (sans-IO session, fake clock).

rev41fix D: one read from the venue held its Logon and its ResendRequest. The Logon brought the session up, and the
owner's hook run on that (``FixVenue.after_replay``, sending a cancel again) stamped and stored a message with its
own clock, later than the read's time. The ResendRequest, handled next with the read's time, replayed that message
with SendingTime (52) earlier than its OrigSendingTime (122): QuickFIX rejects such a copy (SessionRejectReason 10,
SendingTime accuracy) and logs out (docs/venues/fix.md, conformance s18). SendingTime now never goes back.
"""

from __future__ import annotations

from venues.fix.codec import FixMessage, build_message, parse_utc_timestamp
from venues.fix.fields import MsgType
from venues.fix.session import FixSessionState

from .test_session import SECOND, Handler, Rig

MS = 1_000_000


class _SendsWhenUp(Handler):
    """An owner that sends an order, 50 ms later by its clock, when the session comes up (as ``after_replay``)."""

    def __init__(self) -> None:
        super().__init__()
        self.rig: Rig | None = None
        self.sent: list[int] = []

    def on_state(self, state: FixSessionState, reason: str) -> None:
        super().on_state(state, reason)
        rig = self.rig
        if rig is None or state is not FixSessionState.ACTIVE:
            return
        now = rig.clock.advance(50 * MS)  # the owner's own clock has moved on since the read
        seq = rig.store.next_sender_seq
        raw = build_message(
            b"FIX.4.2",
            MsgType.ORDER_CANCEL_REQUEST,
            sender=b"GATEWAY",
            target=b"EQX",
            seq=seq,
            sending_time=rig.session.sending_time(now),
            body_fields=[(b"41", b"Q1"), (b"11", b"Q1-%d" % seq), (b"55", b"AAPL"), (b"54", b"1")],
        )
        rig.session.send_app(seq, raw, now)
        self.sent.append(seq)


def _times(message: FixMessage) -> tuple[int, int]:
    return parse_utc_timestamp(message.get(b"52")), parse_utc_timestamp(message.get(b"122"))


def test_resend_request_in_the_logon_s_read_when_the_owner_sent_on_logon_then_no_replay_is_stamped_before_it() -> None:
    rig = Rig()
    handler = _SendsWhenUp()
    rig.handler = rig.session.handler = handler
    handler.rig = rig
    rig.logged_on()
    (first,) = handler.sent
    rig.clock.advance(SECOND)
    rig.session.connection_lost(rig.clock())
    rig.session.connection_made(rig.clock())
    rig.take()
    read_at = rig.clock()
    # one read: the venue's Logon, then its ResendRequest over everything since our first order
    rig.feed(rig.venue.logon(), rig.venue.message(MsgType.RESEND_REQUEST, [(b"7", b"%d" % first), (b"16", b"0")]))
    second = handler.sent[1]
    assert rig.clock() == read_at + 50 * MS
    replays = {m.seq: m for m in rig.take() if m.get(b"43") == b"Y" and m.msg_type == MsgType.ORDER_CANCEL_REQUEST}
    assert sorted(replays) == [first, second]
    for message in replays.values():
        sending, orig = _times(message)
        assert sending >= orig, (message.seq, message.get(b"52"), message.get(b"122"))  # old code: 50 ms earlier
    # and every message the session wrote in that read is stamped in order
    assert rig.session.sending_time(read_at) >= replays[second].get(b"122")

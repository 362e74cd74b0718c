"""What the session state machine needs to know (built from the venue config and dialect)."""

from __future__ import annotations

import msgspec

from venues.fix.session.schedule import SessionSchedule


class SessionConfig(msgspec.Struct, frozen=True, kw_only=True):
    """Parameters of one FIX session (initiator side, or acceptor side with ``acceptor``)."""

    begin_string: bytes
    sender_comp_id: bytes
    target_comp_id: bytes
    heartbeat_interval_s: int = 30
    test_request_grace: float = 0.2
    """A TestRequest goes out after ``heartbeat * (1 + grace)`` of silence; the link is
    declared dead after the same time again without an answer."""
    logon_timeout_ns: int = 10_000_000_000
    logout_timeout_ns: int = 2_000_000_000
    reset_seq_num_on_logon: bool = False
    username: bytes = b""
    password: bytes = b""
    logon_fields: tuple[tuple[bytes, bytes], ...] = ()
    replay_business: bool = True
    stale_after_ns: int = 0
    """Gap-fill business messages older than this on a resend (0 = never stale)."""
    resend_timeout_ns: int = 0
    """A sequence gap that makes no progress for this long is asked for again (0 = the heartbeat interval)."""
    max_resend_attempts: int = 5
    """ResendRequests for one gap without progress before the session logs out and reconnects (0 = ask for ever)."""
    max_queued: int = 10_000
    """Out-of-order messages kept while a gap is being filled (the rest are re-sent anyway)."""
    max_body_length: int = 64 * 1024
    """Largest BodyLength taken from the venue: a message above it is skipped (``FixSession._too_large``)."""
    schedule: SessionSchedule | None = None
    acceptor: bool = False
    """Wait for the peer's Logon and answer it (the benchmark's FIX venue) instead of sending the first Logon.
    The acceptor takes the initiator's HeartBtInt and ResetSeqNumFlag and echoes them."""

"""Encoders for session-level (admin) messages; not on the order hot path."""

from __future__ import annotations

from venues.fix import fields as f
from venues.fix.codec import build_message, finish
from venues.fix.fields import MsgType
from venues.fix.session.config import SessionConfig


def clean_text(text: str, limit: int = 200) -> bytes:
    """Return ``text`` as printable ASCII without SOH, cut to ``limit`` bytes (for Text (58))."""
    cleaned = "".join(ch if " " <= ch <= "~" else "?" for ch in text[:limit])
    return cleaned.encode("ascii") or b"-"


class AdminEncoder:
    """Build the admin messages of one session (CompIDs and BeginString fixed)."""

    def __init__(self, config: SessionConfig) -> None:
        self._config = config
        self._begin = config.begin_string
        self._sender = config.sender_comp_id
        self._target = config.target_comp_id

    def _build(
        self,
        msg_type: bytes,
        seq: int,
        stamp: bytes,
        body: list[tuple[bytes, bytes]],
        header: list[tuple[bytes, bytes]] | None = None,
    ) -> bytes:
        return build_message(
            self._begin,
            msg_type,
            sender=self._sender,
            target=self._target,
            seq=seq,
            sending_time=stamp,
            body_fields=body,
            header_fields=header or (),
        )

    def logon(self, seq: int, stamp: bytes, reset: bool, heartbeat_s: int | None = None) -> bytes:
        """Logon (A): EncryptMethod none, HeartBtInt, optional reset flag, credentials, extras.

        ``heartbeat_s`` overrides the configured HeartBtInt (an acceptor echoes the initiator's).
        """
        cfg = self._config
        interval = cfg.heartbeat_interval_s if heartbeat_s is None else heartbeat_s
        body = [(f.ENCRYPT_METHOD, b"0"), (f.HEART_BT_INT, b"%d" % interval)]
        if reset:
            body.append((f.RESET_SEQ_NUM_FLAG, b"Y"))
        if cfg.username:
            body.append((f.USERNAME, cfg.username))
        if cfg.password:
            body.append((f.PASSWORD, cfg.password))
        body.extend(cfg.logon_fields)
        return self._build(MsgType.LOGON, seq, stamp, body)

    def heartbeat(self, seq: int, stamp: bytes, test_req_id: bytes = b"") -> bytes:
        """Heartbeat (0), answering a TestRequest when ``test_req_id`` is given."""
        body = [(f.TEST_REQ_ID, test_req_id)] if test_req_id else []
        return self._build(MsgType.HEARTBEAT, seq, stamp, body)

    def test_request(self, seq: int, stamp: bytes, test_req_id: bytes) -> bytes:
        """TestRequest (1)."""
        return self._build(MsgType.TEST_REQUEST, seq, stamp, [(f.TEST_REQ_ID, test_req_id)])

    def resend_request(self, seq: int, stamp: bytes, begin: int, end: int) -> bytes:
        """ResendRequest (2) for ``begin..end`` (end 0 = everything after ``begin``)."""
        return self._build(
            MsgType.RESEND_REQUEST, seq, stamp, [(f.BEGIN_SEQ_NO, b"%d" % begin), (f.END_SEQ_NO, b"%d" % end)]
        )

    def gap_fill(self, seq: int, stamp: bytes, new_seq: int) -> bytes:
        """SequenceReset-GapFill (4, 123=Y, PossDupFlag=Y) in place of messages ``seq..new_seq-1``."""
        body = b"35=4\x0149=%b\x0156=%b\x0134=%d\x0143=Y\x0152=%b\x01122=%b\x01123=Y\x0136=%d\x01" % (
            self._sender,
            self._target,
            seq,
            stamp,
            stamp,
            new_seq,
        )
        return finish(self._begin, body)

    def sequence_reset(self, seq: int, stamp: bytes, new_seq: int) -> bytes:
        """SequenceReset-Reset (4, 123=N): force the peer's expected number to ``new_seq``."""
        return self._build(
            MsgType.SEQUENCE_RESET, seq, stamp, [(f.GAP_FILL_FLAG, b"N"), (f.NEW_SEQ_NO, b"%d" % new_seq)]
        )

    def reject(
        self,
        seq: int,
        stamp: bytes,
        ref_seq: int,
        reason: int,
        text: str,
        *,
        ref_tag: int = 0,
        ref_msg_type: bytes = b"",
    ) -> bytes:
        """Reject (3) of the peer's message ``ref_seq`` with SessionRejectReason ``reason``."""
        body = [(f.REF_SEQ_NUM, b"%d" % ref_seq)]
        if ref_tag:
            body.append((f.REF_TAG_ID, b"%d" % ref_tag))
        if ref_msg_type:
            body.append((f.REF_MSG_TYPE, ref_msg_type))
        if reason >= 0:
            body.append((f.SESSION_REJECT_REASON, b"%d" % reason))
        body.append((f.TEXT, clean_text(text)))
        return self._build(MsgType.REJECT, seq, stamp, body)

    def business_reject(
        self, seq: int, stamp: bytes, ref_seq: int, *, ref_msg_type: bytes, reason: int, text: str
    ) -> bytes:
        """BusinessMessageReject (j) of the peer's application message ``ref_seq``."""
        body = [
            (f.REF_SEQ_NUM, b"%d" % ref_seq),
            (f.REF_MSG_TYPE, ref_msg_type or b"?"),
            (f.BUSINESS_REJECT_REASON, b"%d" % reason),
            (f.TEXT, clean_text(text)),
        ]
        return self._build(MsgType.BUSINESS_MESSAGE_REJECT, seq, stamp, body)

    def logout(self, seq: int, stamp: bytes, text: str = "") -> bytes:
        """Logout (5), with the reason in Text when given."""
        body = [(f.TEXT, clean_text(text))] if text else []
        return self._build(MsgType.LOGOUT, seq, stamp, body)

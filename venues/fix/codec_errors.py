"""What the FIX frame decoder reports for bytes it cannot decode (``venues.fix.codec`` re-exports both).

A msgspec Struct and an enum: they live here, interpreted, because ``venues.fix.codec`` is compiled
with mypyc (docs/development.md, "Compiled hot modules").
"""

from __future__ import annotations

import enum

import msgspec


class DecodeErrorKind(enum.StrEnum):
    """What was wrong with bytes from the peer."""

    GARBAGE = "GARBAGE"
    """Bytes that do not start a FIX message (skipped up to the next ``8=FIX``)."""
    BAD_BODY_LENGTH = "BAD_BODY_LENGTH"
    TOO_LARGE = "TOO_LARGE"
    """BodyLength above the decoder's limit (the venue setting ``max_body_length``): the message is skipped whole,
    ``seq`` its MsgSeqNum when the header could be read (fixfix51)."""
    BAD_CHECKSUM = "BAD_CHECKSUM"
    GARBLED_FIELD = "GARBLED_FIELD"
    """The frame is intact but a field is not ``digits=value``: answered with a Reject."""
    BAD_HEADER = "BAD_HEADER"
    """MsgType is not the third field: the message is garbled and ignored."""
    BAD_SEQ_NUM = "BAD_SEQ_NUM"
    """MsgSeqNum is missing or not a number: the spec ends the session with a Logout."""


class DecodeError(msgspec.Struct, frozen=True):
    """A message (or run of bytes) that could not be decoded, and why."""

    kind: DecodeErrorKind
    text: str
    raw: bytes
    seq: int = 0
    """MsgSeqNum when it could be read, else 0."""
    msg_type: bytes = b""
    ref_tag: int = 0
    reject_reason: int = -1
    """SessionRejectReason for the Reject the session must send, or -1 when it must ignore."""

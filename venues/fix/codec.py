"""FIX tag=value codec (sans-IO): framing, checksum, field parsing and exact number formats.

Decoding: ``FrameDecoder.feed(bytes)`` returns, in stream order, a ``FixMessage`` for
every well-formed message and a ``DecodeError`` for everything else. Framing errors
(garbage between messages, a bad BeginString/BodyLength/CheckSum) mean the message is
*garbled*: the FIX spec says to ignore it without consuming a sequence number. A frame
whose BodyLength and CheckSum are right but whose fields are broken (a non-numeric
tag, a tag without ``=``, an empty value) carries ``reject_reason``: the session answers
it with a Reject (3).

Encoding of admin messages goes through ``build_message`` (not on the hot path); the
order messages use the precompiled templates in ``venues.fix.templates``.

Prices are the gateway's fixed-point ints with 4 implied decimals; they are formatted
and parsed with integer arithmetic only.
"""

from __future__ import annotations

import calendar
import re
import time
from collections.abc import Iterable
from typing import Final
from zlib import adler32

from venues.fix import fields as f
from venues.fix.codec_errors import DecodeError as DecodeError  # noqa: PLC0414 - re-exported: lives interpreted
from venues.fix.codec_errors import DecodeErrorKind as DecodeErrorKind  # noqa: PLC0414 - re-exported
from venues.fix.fields import SessionRejectReason

PRICE_DECIMALS: Final = 4
PRICE_SCALE: Final = 10**PRICE_DECIMALS
MAX_BODY_LENGTH: Final = 64 * 1024
"""Largest BodyLength accepted by default (the venue setting ``max_body_length``); a message claiming more is
skipped whole and reported ``TOO_LARGE`` (bounds buffering)."""

_TRAILER_LEN: Final = 7  # b"10=NNN\x01"
_ADLER_ANY: Final = 256  # 256 * 255 + 1 < 65521
_ADLER_ASCII: Final = 515  # 515 * 127 + 1 < 65521
_BEGIN_MARK: Final = b"8=FIX"
_TOO_LARGE_HEAD: Final = 256
"""Bytes of a message above ``max_body_length`` kept for its error (its header); read for its MsgSeqNum."""
_adler32: Final = adler32
_BEGIN_STRING_RE: Final = re.compile(rb"FIXT?\.\d\.\d\Z")
_COMPILED: Final = __file__.endswith(".so")
"""This module runs compiled (mypyc): the decoder scans fields byte by byte (``_scan_fields``)."""
_SOH_BYTE: Final = 1
_EQUALS_BYTE: Final = 0x3D
_DIGIT_0: Final = 0x30
_DIGIT_9: Final = 0x39
_BEGIN_STRING_TAG: Final = f.BEGIN_STRING
_MSG_TYPE_TAG: Final = f.MSG_TYPE
_MSG_SEQ_NUM_TAG: Final = f.MSG_SEQ_NUM


def checksum_prefix(data: bytes, end: int) -> int:
    """Return the FIX CheckSum of ``data[:end]``: the byte sum modulo 256.

    The low half of Adler-32 is ``(1 + byte sum) mod 65521``; while the sum cannot reach
    65520 that is the exact sum, computed in C. That holds for up to 256 arbitrary bytes,
    or up to 515 ASCII bytes (every FIX message we encode, most we receive); anything
    longer is summed in Python.
    """
    if end <= _ADLER_ANY or (end <= _ADLER_ASCII and data.isascii()):
        return ((_adler32(data if end == len(data) else memoryview(data)[:end]) & 0xFFFF) - 1) & 0xFF
    return sum(memoryview(data)[:end]) & 0xFF


def checksum(data: bytes) -> int:
    """Return the FIX CheckSum of ``data``: the byte sum modulo 256."""
    return checksum_prefix(data, len(data))


def finish(begin_string: bytes, body: bytes) -> bytes:
    """Wrap ``body`` (from ``35=`` to the last SOH) with BeginString, BodyLength and CheckSum."""
    head = b"8=%b\x019=%d\x01" % (begin_string, len(body))
    msg = head + body
    return msg + b"10=%03d\x01" % checksum_prefix(msg, len(msg))


def build_message(
    begin_string: bytes,
    msg_type: bytes,
    *,
    sender: bytes,
    target: bytes,
    seq: int,
    sending_time: bytes,
    body_fields: Iterable[tuple[bytes, bytes]] = (),
    header_fields: Iterable[tuple[bytes, bytes]] = (),
) -> bytes:
    """Encode one message field by field (admin messages and tests; not the order hot path)."""
    parts = [b"35=%b\x0149=%b\x0156=%b\x0134=%d\x01" % (msg_type, sender, target, seq)]
    parts.extend(b"%b=%b\x01" % (tag, value) for tag, value in header_fields)
    parts.append(b"52=%b\x01" % sending_time)
    parts.extend(b"%b=%b\x01" % (tag, value) for tag, value in body_fields)
    return finish(begin_string, b"".join(parts))


# ---- numbers ------------------------------------------------------------------------------


def format_price(price: int) -> bytes:
    """Format a fixed-point price (4 implied decimals) exactly, without trailing zeros."""
    sign = b""
    if price < 0:
        sign, price = b"-", -price
    units, frac = divmod(price, PRICE_SCALE)
    if frac == 0:
        return b"%b%d" % (sign, units)
    return (b"%b%d.%04d" % (sign, units, frac)).rstrip(b"0")


def parse_price(value: bytes) -> int:
    """Parse a FIX Price into fixed-point (4 decimals); more decimals round half away from zero.

    Raises ``ValueError`` when ``value`` is not a decimal number.
    """
    negative = value[:1] == b"-"
    digits = value[1:] if negative else value
    units, _, frac = digits.partition(b".")
    if (not units and not frac) or (units and not units.isdigit()) or (frac and not frac.isdigit()):
        raise ValueError(f"not a price: {value!r}")
    result = int(units or b"0") * PRICE_SCALE
    if frac:
        head = frac[:PRICE_DECIMALS].ljust(PRICE_DECIMALS, b"0")
        result += int(head)
        if len(frac) > PRICE_DECIMALS and frac[PRICE_DECIMALS] >= 0x35:  # b"5"
            result += 1
    return -result if negative else result


def parse_qty(value: bytes) -> int:
    """Parse a FIX Qty that must be a whole number (``100`` or ``100.0``); else ``ValueError``."""
    if value.isdigit():
        return int(value)
    units, dot, frac = value.partition(b".")
    if dot and units.isdigit() and (not frac or (frac.isdigit() and not frac.strip(b"0"))):
        return int(units)
    raise ValueError(f"not a whole quantity: {value!r}")


MAX_SEQ_NUMBER: Final = 2**64 - 1
"""The largest number a venue's sequence number field (or another count of the session's) may hold: what the message
store's unsigned 64-bit record takes, 20 digits. Python's ``int()`` refuses a string of more than 4,300 digits
(ValueError): a longer or larger value is refused as a value, never converted (fixresend59b; 20 digits, not 18,
since fixresend59c: a ResendRequest's EndSeqNo of 2**63-1 or 2**64-1 means "to the end")."""
MAX_NEXT_SEQ: Final = 2**63 - 1
"""The largest number the session counts on from (a SequenceReset's NewSeqNo, a Logout's NextExpectedMsgSeqNum): the
numbers after it still fit the store's record (2**63 of them), so no message after it fails to be stored."""
_MAX_DIGITS: Final = 20


def small_number(value: bytes, limit: int = MAX_SEQ_NUMBER) -> int:
    """Return the number ``value`` writes in decimal digits (leading zeros allowed), or -1: not digits only, empty,
    or above ``limit`` (at most ``MAX_SEQ_NUMBER``). Cold paths (session-level fields, error texts)."""
    if not value.isdigit():
        return -1
    if len(value) > _MAX_DIGITS:
        value = value.lstrip(b"0") or b"0"
        if len(value) > _MAX_DIGITS:
            return -1
    number = int(value)
    return number if number <= limit else -1


def parse_seq(value: bytes) -> int:
    """Parse a sequence number (positive decimal digits only); else ``ValueError``."""
    if not value.isdigit():
        raise ValueError(f"not a sequence number: {value!r}")
    return int(value)


# ---- UTC timestamps -----------------------------------------------------------------------


class UtcTimestamps:
    """Format wall-clock ns as FIX UTCTimestamp with milliseconds, caching the seconds part."""

    __slots__ = ("_prefix", "_second")

    def __init__(self) -> None:
        self._second = -1
        self._prefix = b""

    def format(self, wall_ns: int) -> bytes:
        """Return ``YYYYMMDD-HH:MM:SS.sss`` for ``wall_ns`` (ns since the Unix epoch, UTC)."""
        second, rest = divmod(wall_ns, 1_000_000_000)
        if second != self._second:
            self._second = second
            self._prefix = time.strftime("%Y%m%d-%H:%M:%S", time.gmtime(second)).encode()
        return b"%b.%03d" % (self._prefix, rest // 1_000_000)


def parse_utc_timestamp(value: bytes) -> int:
    """Parse a FIX UTCTimestamp (seconds, optional fraction) into ns since the epoch."""
    text = value.decode("ascii")
    stamp, _, frac = text.partition(".")
    parsed = time.strptime(stamp, "%Y%m%d-%H:%M:%S")
    ns = calendar.timegm(parsed) * 1_000_000_000
    if frac:
        if not frac.isdigit() or len(frac) > 9:
            raise ValueError(f"bad fraction in timestamp {text!r}")
        ns += int(frac.ljust(9, "0"))
    return ns


# ---- decoding -----------------------------------------------------------------------------


class FixMessage:
    """One decoded message: the raw bytes and a tag -> value dict (raw bytes both sides).

    Repeated tags (repeating groups) keep the last value; the order-level mapping only
    reads non-repeating fields.
    """

    __slots__ = ("fields", "msg_type", "raw", "seq")

    def __init__(self, raw: bytes, fields: dict[bytes, bytes], msg_type: bytes, seq: int) -> None:
        self.raw = raw
        self.fields = fields
        self.msg_type = msg_type
        self.seq = seq

    def get(self, tag: bytes, default: bytes = b"") -> bytes:
        """Return the value of ``tag`` or ``default``."""
        return self.fields.get(tag, default)

    @property
    def poss_dup(self) -> bool:
        """Return True when PossDupFlag (43) is Y."""
        return self.fields.get(f.POSS_DUP_FLAG) == b"Y"

    def __repr__(self) -> str:
        return f"FixMessage({printable(self.raw)!r})"


def printable(raw: bytes) -> bytes:
    """Return ``raw`` with SOH shown as ``|`` (for logs and reprs)."""
    return raw.replace(b"\x01", b"|")


def parse_fields(raw: bytes, body_start: int, body_end: int) -> FixMessage | DecodeError:
    """Split the body of a framed message into fields and read MsgType and MsgSeqNum."""
    if _COMPILED:
        scanned = _scan_fields(raw, body_start, body_end)
        split = _split_fields(raw, body_start, body_end) if scanned is None else scanned  # None: which field is broken
        if isinstance(split, DecodeError):
            return split
        fields = split
    else:  # interpreted, one split and a partition per field is the cheaper way (and no call more per message)
        fields = {}
        for part in raw[body_start : body_end - 1].split(b"\x01") if body_end > body_start else (b"",):
            tag, eq, value = part.partition(b"=")
            if not eq or not tag.isdigit() or not value:
                return _garbled_field(raw, fields, part, tag, eq)
            fields[tag] = value
    fields[_BEGIN_STRING_TAG] = raw[2 : raw.index(b"\x01")]
    msg_type = fields.get(_MSG_TYPE_TAG)
    if msg_type is None or raw[body_start : body_start + 3] != b"35=":
        return DecodeError(DecodeErrorKind.BAD_HEADER, "MsgType (35) is not the third field", raw)
    seq_bytes = fields.get(_MSG_SEQ_NUM_TAG, b"")
    if not seq_bytes.isdigit():
        return DecodeError(
            DecodeErrorKind.BAD_SEQ_NUM,
            f"MsgSeqNum (34) missing or not a number: {seq_bytes[:40]!r}",
            raw,
            msg_type=msg_type,
        )
    try:
        seq = int(seq_bytes)
    except ValueError:  # more than 4,300 digits: Python's int() refuses them (fixresend59b; nothing per message)
        return DecodeError(
            DecodeErrorKind.BAD_SEQ_NUM,
            f"MsgSeqNum (34) has {len(seq_bytes):,} digits: not a sequence number",
            raw,
            msg_type=msg_type,
        )
    if len(seq_bytes) >= _MAX_DIGITS and seq > MAX_SEQ_NUMBER:  # the length first: no long compare per message
        # above the store's 64 bits (rev60fix): refused as a value, never taken for a gap no GapFill could close
        return DecodeError(
            DecodeErrorKind.BAD_SEQ_NUM,
            f"MsgSeqNum (34) {seq_bytes[:24].decode()}{'...' if len(seq_bytes) > 24 else ''} is above 2**64-1:"
            " not a sequence number",
            raw,
            msg_type=msg_type,
        )
    return FixMessage(raw, fields, msg_type, seq)


def _scan_fields(raw: bytes, start: int, end: int) -> dict[bytes, bytes] | None:
    """Return the fields of ``raw[start:end]`` (it ends with SOH) in one pass over its bytes, or None if one is broken.

    Byte by byte: compiled, each step is a C index and compare, no method call and no object but
    the tag and value of each field (interpreted it would be slower than ``_split_fields``, which
    runs instead). The fields are the same as ``_split_fields`` gives: ``<digits>=<value>``, the
    value everything up to the next SOH (``=`` included), non-empty; a repeated tag keeps its last value.
    """
    if end <= start or raw[end - 1] != _SOH_BYTE:
        return None
    fields: dict[bytes, bytes] = {}
    i = start
    while i < end:
        tag_start = i
        c = raw[i]
        while _DIGIT_0 <= c <= _DIGIT_9:
            i += 1
            c = raw[i]
        if c != _EQUALS_BYTE or i == tag_start:
            return None
        tag_end = i
        i += 1
        while raw[i] != _SOH_BYTE:  # stops at the SOH that ends the body at the latest
            i += 1
        if i == tag_end + 1:
            return None
        fields[raw[tag_start:tag_end]] = raw[tag_end + 1 : i]
        i += 1
    return fields


def _split_fields(raw: bytes, body_start: int, body_end: int) -> dict[bytes, bytes] | DecodeError:
    """Split the body field by field: the fields, or the ``DecodeError`` that names the broken one."""
    fields: dict[bytes, bytes] = {}
    # an empty body (BodyLength 0) is one empty, broken field; compiled, a slice that ends before it
    # starts raises SystemError (mypyc's CPyBytes_GetSlice) instead of giving b""
    body = raw[body_start : body_end - 1] if body_end > body_start else b""
    for part in body.split(b"\x01"):
        tag, eq, value = part.partition(b"=")
        if not eq or not tag.isdigit() or not value:
            return _garbled_field(raw, fields, part, tag, eq)
        fields[tag] = value
    return fields


def _garbled_field(raw: bytes, fields: dict[bytes, bytes], part: bytes, tag: bytes, eq: bytes) -> DecodeError:
    """Describe a broken field inside an intact frame (the session answers with a Reject)."""
    seq = _scan_seq(raw, fields)
    msg_type = fields.get(f.MSG_TYPE, b"")
    if eq and tag.isdigit():
        number = small_number(tag)  # a tag of 5,000 digits: int() would raise (fixresend59b)
        return DecodeError(
            DecodeErrorKind.GARBLED_FIELD,
            f"tag {number} has no value" if number >= 0 else f"a tag of {len(tag):,} digits has no value",
            raw,
            seq=seq,
            msg_type=msg_type,
            ref_tag=max(number, 0),
            reject_reason=SessionRejectReason.TAG_WITHOUT_VALUE,
        )
    return DecodeError(
        DecodeErrorKind.GARBLED_FIELD,
        f"garbled field {part[:32]!r}: expected <digits>=<value>",
        raw,
        seq=seq,
        msg_type=msg_type,
        reject_reason=SessionRejectReason.INVALID_TAG_NUMBER,
    )


def _scan_seq(raw: bytes, fields: dict[bytes, bytes]) -> int:
    """Find MsgSeqNum in ``fields`` or, failing that, anywhere in the raw message."""
    value = fields.get(f.MSG_SEQ_NUM)
    if value is None:
        at = raw.find(b"\x0134=")
        if at >= 0:
            end = raw.find(b"\x01", at + 4)
            value = raw[at + 4 : end] if end > 0 else b""
    return max(small_number(value), 0) if value else 0


class FrameDecoder:
    """Split a FIX byte stream into messages and decode errors (sans-IO, one per connection)."""

    __slots__ = ("_buf", "_skipping", "max_body_length")

    def __init__(self, max_body_length: int = MAX_BODY_LENGTH) -> None:
        self._buf = bytearray()
        self._skipping = False
        """The bytes of a message above ``max_body_length`` are being dropped up to the next ``8=FIX``."""
        self.max_body_length = max_body_length

    @property
    def buffered(self) -> int:
        """Return how many bytes wait for the rest of a message."""
        return len(self._buf)

    def clear(self) -> None:
        """Drop buffered bytes (on a new connection)."""
        self._buf.clear()
        self._skipping = False

    def feed(self, data: bytes | bytearray | memoryview) -> list[FixMessage | DecodeError]:
        """Consume ``data``; return every message (or error) it completes, in order."""
        pending = self._buf
        if pending:
            pending += data
            buf = bytes(pending)
            pending.clear()
        else:
            buf = data if isinstance(data, bytes) else bytes(data)
        out: list[FixMessage | DecodeError] = []
        pos = 0
        size = len(buf)
        find = buf.find
        while pos < size:
            start = find(_BEGIN_MARK, pos)
            if start < 0:
                keep = max(pos, size - (len(_BEGIN_MARK) - 1))
                if buf[keep:size] != _BEGIN_MARK[: size - keep]:
                    keep = size
                if keep > pos and not self._skipping:
                    out.append(DecodeError(DecodeErrorKind.GARBAGE, "bytes outside a message", buf[pos:keep]))
                pos = keep
                break
            if start > pos and not self._skipping:
                out.append(DecodeError(DecodeErrorKind.GARBAGE, "bytes outside a message", buf[pos:start]))
            pos = start
            self._skipping = False
            begin_end = find(b"\x01", start)
            if begin_end < 0:
                if size - start > 32:
                    out.append(_error(buf, DecodeErrorKind.BAD_HEADER, "BeginString not terminated", start))
                    pos = start + 1
                    continue
                break
            if not _BEGIN_STRING_RE.match(buf, start + 2, begin_end):
                out.append(_error(buf, DecodeErrorKind.BAD_HEADER, "not a FIX BeginString", start))
                pos = start + 1
                continue
            if buf[begin_end + 1 : begin_end + 3] != b"9=":
                if size - begin_end < 3:
                    break
                out.append(
                    _error(buf, DecodeErrorKind.BAD_BODY_LENGTH, "BodyLength (9) is not the second field", start)
                )
                pos = start + 1
                continue
            length_end = find(b"\x01", begin_end + 3)
            if length_end < 0:
                if size - begin_end > 12:
                    out.append(_error(buf, DecodeErrorKind.BAD_BODY_LENGTH, "BodyLength not terminated", start))
                    pos = start + 1
                    continue
                break
            length_bytes = buf[begin_end + 3 : length_end]
            if not length_bytes.isdigit():
                out.append(_error(buf, DecodeErrorKind.BAD_BODY_LENGTH, f"bad BodyLength {length_bytes!r}", start))
                pos = start + 1
                continue
            if int(length_bytes) > self.max_body_length:  # skipped whole: its bytes up to the next 8=FIX
                head_end = min(size, start + _TOO_LARGE_HEAD)
                if head_end - start < _TOO_LARGE_HEAD:
                    # a read that ends inside the header: wait for the rest of it (up to _TOO_LARGE_HEAD bytes)
                    # until MsgSeqNum can be read, else the skipped message has no number (fixfix52)
                    seq_at = find(b"\x0134=", length_end, head_end)
                    if seq_at < 0 or find(b"\x01", seq_at + 4, head_end) < 0:
                        break
                head = buf[start:head_end]
                text = f"BodyLength {int(length_bytes)} above the limit of {self.max_body_length} (max_body_length)"
                out.append(DecodeError(DecodeErrorKind.TOO_LARGE, text, head, seq=_scan_seq(head, {})))
                self._skipping = True
                pos = start + 1
                continue
            body_start = length_end + 1
            body_end = body_start + int(length_bytes)
            total_end = body_end + _TRAILER_LEN
            if total_end > size:
                # Waiting for more bytes; but a new message starting inside the claimed body
                # means the BodyLength was wrong (too long): resynchronise there.
                restart = find(b"\x01" + _BEGIN_MARK, body_start, size)
                if restart >= 0:
                    out.append(
                        _error(
                            buf,
                            DecodeErrorKind.BAD_BODY_LENGTH,
                            "BodyLength runs into the next message",
                            start,
                        )
                    )
                    pos = restart + 1
                    continue
                break
            if (
                buf[body_end : body_end + 3] != b"10="
                or buf[total_end - 1] != 1
                or buf[body_end - 1] != 1
                or not buf[body_end + 3 : total_end - 1].isdigit()
            ):
                out.append(
                    _error(buf, DecodeErrorKind.BAD_BODY_LENGTH, "CheckSum (10) not where BodyLength says", start)
                )
                pos = start + 1
                continue
            raw = buf[start:total_end]
            expected = checksum_prefix(raw, body_end - start)
            received = int(buf[body_end + 3 : total_end - 1])
            pos = total_end
            if expected != received:
                out.append(
                    DecodeError(
                        DecodeErrorKind.BAD_CHECKSUM,
                        f"CheckSum {received:03d} but the bytes sum to {expected:03d}",
                        raw,
                        seq=_scan_seq(raw, {}),
                    )
                )
                continue
            out.append(parse_fields(raw, body_start - start, body_end - start))
        if pos < size:
            pending += buf[pos:]
        return out


def _error(buf: bytes, kind: DecodeErrorKind, text: str, start: int) -> DecodeError:
    return DecodeError(kind, text, buf[start : start + 64])


def resend_copy(raw: bytes, begin_string: bytes, sending_time: bytes) -> tuple[bytes, bytes]:
    """Return (``raw`` re-stamped for a resend, its original SendingTime).

    The copy keeps MsgSeqNum and the body, sets PossDupFlag=Y, moves the original
    SendingTime to OrigSendingTime and stamps a new SendingTime; BodyLength and
    CheckSum are recomputed.
    """
    first = raw.index(b"\x01", raw.index(b"\x019=") + 1) + 1
    body = raw[first : raw.rindex(b"10=", first)]
    fields = body[:-1].split(b"\x01")
    header: list[bytes] = []
    rest: list[bytes] = []
    orig_time = b""
    for field in fields:
        tag = field[: field.index(b"=")]
        if tag == f.SENDING_TIME:
            orig_time = field[3:]
        elif tag in (f.POSS_DUP_FLAG, f.ORIG_SENDING_TIME, f.POSS_RESEND):
            continue
        elif tag in f.HEADER_TAGS:
            header.append(field)
        else:
            rest.append(field)
    header.append(b"43=Y")
    header.append(b"52=" + sending_time)
    header.append(b"122=" + orig_time)
    return finish(begin_string, b"\x01".join(header + rest) + b"\x01"), orig_time

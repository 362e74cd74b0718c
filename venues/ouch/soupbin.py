"""SoupBinTCP 3.00 / 4.10 packets: stream splitting and packet codecs (sans-IO).

A packet is a 2-byte big-endian Packet Length (counting the type byte and the
payload), one ASCII type byte and the payload. ``SoupSplitter`` cuts a byte stream
into packets; the ``encode_*`` functions build whole packets (length included); and
``decode_server_packet`` / ``decode_client_packet`` turn one packet into a struct
or a ``DecodeError``. Sequenced and Unsequenced Data carry exactly one OUCH message.
"""

from __future__ import annotations

import struct
from typing import Final

import msgspec

from venues.ouch.errors import BAD_LENGTH, BAD_NUMBER, TRUNCATED, UNKNOWN_TYPE, DecodeError

LENGTH: Final = struct.Struct(">H")
HEADER_SIZE: Final = 3
"""Bytes before a packet's payload: 2 length + 1 type."""
MAX_PAYLOAD: Final = 65534

# Packet type bytes (as ints, compared against ``packet[0]``).
DEBUG: Final = 0x2B  # '+'
LOGIN_ACCEPTED: Final = 0x41  # 'A'
LOGIN_REJECTED: Final = 0x4A  # 'J'
SEQUENCED_DATA: Final = 0x53  # 'S'
UNSEQUENCED_DATA: Final = 0x55  # 'U'
SERVER_HEARTBEAT: Final = 0x48  # 'H'
END_OF_SESSION: Final = 0x5A  # 'Z'
LOGIN_REQUEST: Final = 0x4C  # 'L'
CLIENT_HEARTBEAT: Final = 0x52  # 'R'
LOGOUT_REQUEST: Final = 0x4F  # 'O'

SERVER_HEARTBEAT_PACKET: Final = b"\x00\x01H"
END_OF_SESSION_PACKET: Final = b"\x00\x01Z"
CLIENT_HEARTBEAT_PACKET: Final = b"\x00\x01R"
LOGOUT_REQUEST_PACKET: Final = b"\x00\x01O"

VERSION_3_00: Final = "3.00"
VERSION_4_10: Final = "4.10"

REJECT_NOT_AUTHORIZED: Final = "A"
REJECT_SESSION_NOT_AVAILABLE: Final = "S"
LOGIN_REJECT_TEXT: Final = {
    REJECT_NOT_AUTHORIZED: "not authorized",
    REJECT_SESSION_NOT_AVAILABLE: "session not available",
}

_LOGIN_ACCEPTED = struct.Struct(">Hc10s20s")
_LOGIN_REJECTED = struct.Struct(">Hcc")
_LOGIN_REQUEST_300 = struct.Struct(">Hc6s10s10s20s")
_LOGIN_REQUEST_410 = struct.Struct(">Hc6s10s10s20s5s")
LOGIN_ACCEPTED_PAYLOAD: Final = 30
LOGIN_REQUEST_300_PAYLOAD: Final = 46
LOGIN_REQUEST_410_PAYLOAD: Final = 51


# --------------------------------------------------------------------------------------
# Packet structs
# --------------------------------------------------------------------------------------


class Debug(msgspec.Struct, frozen=True, gc=False):
    """Free text for humans; software ignores it."""

    text: bytes


class LoginAccepted(msgspec.Struct, frozen=True, gc=False):
    """Login succeeded: the session now joined and the next sequence number it will send."""

    session: str
    sequence: int


class LoginRejected(msgspec.Struct, frozen=True, gc=False):
    """Login failed: ``A`` not authorized, ``S`` session not available."""

    reason: str


class SequencedData(msgspec.Struct, frozen=True, gc=False):
    """One server message; its sequence number is implicit (the previous one plus 1)."""

    message: bytes


class UnsequencedData(msgspec.Struct, frozen=True, gc=False):
    """One message outside the sequence (client to server; also server to client in 4.x)."""

    message: bytes


class ServerHeartbeat(msgspec.Struct, frozen=True, gc=False):
    """The server is alive."""


class EndOfSession(msgspec.Struct, frozen=True, gc=False):
    """The session is over for good; the server closes the connection."""


class LoginRequest(msgspec.Struct, frozen=True, gc=False):
    """Client login; ``heartbeat_timeout_ms`` is set only in the 4.10 layout."""

    username: str
    password: str
    session: str
    sequence: int
    heartbeat_timeout_ms: int | None = None


class ClientHeartbeat(msgspec.Struct, frozen=True, gc=False):
    """The client is alive."""


class LogoutRequest(msgspec.Struct, frozen=True, gc=False):
    """The client ends the connection (the session itself goes on)."""


ServerPacket = Debug | LoginAccepted | LoginRejected | SequencedData | UnsequencedData | ServerHeartbeat | EndOfSession
ClientPacket = Debug | LoginRequest | UnsequencedData | ClientHeartbeat | LogoutRequest


# --------------------------------------------------------------------------------------
# Field helpers
# --------------------------------------------------------------------------------------


def alpha(value: str, width: int, *, right_justify: bool = False) -> bytes:
    """Encode ASCII ``value`` in a fixed-width space-padded field (raise ValueError if it does not fit)."""
    raw = value.encode("ascii")
    if len(raw) > width:
        raise ValueError(f"{value!r} is longer than {width} characters")
    return raw.rjust(width) if right_justify else raw.ljust(width)


def ascii_number(value: int, width: int) -> bytes:
    """Encode ``value`` as ASCII digits, right-justified and space-padded on the left."""
    if value < 0:
        raise ValueError(f"{value} is negative")
    raw = str(value).encode("ascii")
    if len(raw) > width:
        raise ValueError(f"{value} does not fit in {width} ASCII digits")
    return raw.rjust(width)


def parse_ascii_number(field: bytes | memoryview) -> int | None:
    """Parse an ASCII numeric field leniently (spaces either side, leading zeros); None if not a number.

    An all-space field is 0.
    """
    raw = bytes(field).strip(b" ")
    if not raw:
        return 0
    if not raw.isdigit():
        return None
    return int(raw)


def parse_alpha(field: bytes | memoryview) -> str:
    """Decode an alpha field, dropping padding spaces on both sides."""
    return bytes(field).decode("latin-1").strip(" ")


# --------------------------------------------------------------------------------------
# Encoders (whole packets, length prefix included)
# --------------------------------------------------------------------------------------


def encode_packet(packet_type: bytes, payload: bytes | bytearray | memoryview = b"") -> bytes:
    """Return one packet of ``packet_type`` (1 byte) around ``payload``."""
    if len(payload) > MAX_PAYLOAD:
        raise ValueError(f"payload of {len(payload)} bytes exceeds the SoupBinTCP maximum {MAX_PAYLOAD}")
    return LENGTH.pack(len(payload) + 1) + packet_type + bytes(payload)


def encode_debug(text: bytes) -> bytes:
    """Return a Debug packet."""
    return encode_packet(b"+", text)


def encode_login_accepted(session: str, sequence: int) -> bytes:
    """Return a Login Accepted packet; both fields right-justified as the spec says."""
    return _LOGIN_ACCEPTED.pack(31, b"A", alpha(session, 10, right_justify=True), ascii_number(sequence, 20))


def encode_login_rejected(reason: str) -> bytes:
    """Return a Login Rejected packet (reason ``A`` or ``S``)."""
    return _LOGIN_REJECTED.pack(2, b"J", reason.encode("ascii"))


def encode_sequenced(message: bytes | bytearray | memoryview) -> bytes:
    """Return a Sequenced Data packet carrying one message."""
    return encode_packet(b"S", message)


def encode_unsequenced(message: bytes | bytearray | memoryview) -> bytes:
    """Return an Unsequenced Data packet carrying one message."""
    return encode_packet(b"U", message)


def encode_login_request(
    username: str,
    password: str,
    session: str,
    sequence: int,
    *,
    version: str = VERSION_3_00,
    heartbeat_timeout_ms: int = 0,
    session_right_justified: bool = False,
) -> bytes:
    """Return a Login Request in the 3.00 (46-byte payload) or 4.10 (51-byte, with heartbeat timeout) layout.

    The requested session is an alpha field, left-justified and padded on the right like every
    alpha field; ``session_right_justified`` pads it on the left instead, as the spec's Login
    Accepted carries the session ("left padded with spaces"), for a venue that compares the
    10 bytes with its own. Blank means the current session.
    """
    user = alpha(username, 6)
    pwd = alpha(password, 10)
    sess = alpha(session, 10, right_justify=session_right_justified)
    seq = ascii_number(sequence, 20)
    if version == VERSION_3_00:
        return _LOGIN_REQUEST_300.pack(47, b"L", user, pwd, sess, seq)
    if version == VERSION_4_10:
        return _LOGIN_REQUEST_410.pack(52, b"L", user, pwd, sess, seq, ascii_number(heartbeat_timeout_ms, 5))
    raise ValueError(f"unsupported SoupBinTCP version {version!r} (use 3.00 or 4.10)")


def encode_server_packet(packet: ServerPacket) -> bytes:
    """Encode any server-to-client packet struct (convenience for tests and the simulator)."""
    if isinstance(packet, SequencedData):
        return encode_sequenced(packet.message)
    if isinstance(packet, UnsequencedData):
        return encode_unsequenced(packet.message)
    if isinstance(packet, LoginAccepted):
        return encode_login_accepted(packet.session, packet.sequence)
    if isinstance(packet, LoginRejected):
        return encode_login_rejected(packet.reason)
    if isinstance(packet, ServerHeartbeat):
        return SERVER_HEARTBEAT_PACKET
    if isinstance(packet, EndOfSession):
        return END_OF_SESSION_PACKET
    return encode_debug(packet.text)


def encode_client_packet(packet: ClientPacket, *, version: str = VERSION_3_00) -> bytes:
    """Encode any client-to-server packet struct."""
    if isinstance(packet, UnsequencedData):
        return encode_unsequenced(packet.message)
    if isinstance(packet, LoginRequest):
        if packet.heartbeat_timeout_ms is not None:
            version = VERSION_4_10
        return encode_login_request(
            packet.username,
            packet.password,
            packet.session,
            packet.sequence,
            version=version,
            heartbeat_timeout_ms=packet.heartbeat_timeout_ms or 0,
        )
    if isinstance(packet, ClientHeartbeat):
        return CLIENT_HEARTBEAT_PACKET
    if isinstance(packet, LogoutRequest):
        return LOGOUT_REQUEST_PACKET
    return encode_debug(packet.text)


# --------------------------------------------------------------------------------------
# Decoders (one packet = type byte + payload, as produced by SoupSplitter)
# --------------------------------------------------------------------------------------


def _payload_not_empty(packet: bytes | memoryview) -> DecodeError | None:
    if len(packet) != 1:
        return DecodeError(BAD_LENGTH, f"{chr(packet[0])!r} packet has a {len(packet) - 1}-byte payload")
    return None


_SERVER_HEARTBEAT = ServerHeartbeat()
_END_OF_SESSION = EndOfSession()
_CLIENT_HEARTBEAT = ClientHeartbeat()
_LOGOUT_REQUEST = LogoutRequest()


def decode_login_accepted(packet: bytes | memoryview) -> LoginAccepted | DecodeError:
    """Decode a Login Accepted packet (type byte + 30-byte payload)."""
    if len(packet) != 1 + LOGIN_ACCEPTED_PAYLOAD:
        return DecodeError(BAD_LENGTH, f"Login Accepted payload is {len(packet) - 1} bytes, expected 30")
    sequence = parse_ascii_number(packet[11:31])
    if sequence is None:
        return DecodeError(BAD_NUMBER, f"Login Accepted sequence number {bytes(packet[11:31])!r}")
    return LoginAccepted(parse_alpha(packet[1:11]), sequence)


def decode_login_request(packet: bytes | memoryview) -> LoginRequest | DecodeError:
    """Decode a Login Request in either layout (told apart by its length)."""
    size = len(packet) - 1
    if size not in (LOGIN_REQUEST_300_PAYLOAD, LOGIN_REQUEST_410_PAYLOAD):
        return DecodeError(BAD_LENGTH, f"Login Request payload is {size} bytes, expected 46 or 51")
    sequence = parse_ascii_number(packet[27:47])
    if sequence is None:
        return DecodeError(BAD_NUMBER, f"Login Request sequence number {bytes(packet[27:47])!r}")
    timeout: int | None = None
    if size == LOGIN_REQUEST_410_PAYLOAD:
        timeout = parse_ascii_number(packet[47:52])
        if timeout is None:
            return DecodeError(BAD_NUMBER, f"Login Request heartbeat timeout {bytes(packet[47:52])!r}")
    return LoginRequest(
        parse_alpha(packet[1:7]), parse_alpha(packet[7:17]), parse_alpha(packet[17:27]), sequence, timeout
    )


def decode_server_packet(packet: bytes | memoryview) -> ServerPacket | DecodeError:
    """Decode one server-to-client packet."""
    if len(packet) < 1:
        return DecodeError(TRUNCATED, "empty packet (Packet Length 0)")
    kind = packet[0]
    if kind == SEQUENCED_DATA:
        return SequencedData(bytes(packet[1:]))
    if kind == SERVER_HEARTBEAT:
        return _payload_not_empty(packet) or _SERVER_HEARTBEAT
    if kind == LOGIN_ACCEPTED:
        return decode_login_accepted(packet)
    if kind == LOGIN_REJECTED:
        if len(packet) != 2:
            return DecodeError(BAD_LENGTH, f"Login Rejected payload is {len(packet) - 1} bytes, expected 1")
        return LoginRejected(chr(packet[1]))
    if kind == END_OF_SESSION:
        return _payload_not_empty(packet) or _END_OF_SESSION
    if kind == UNSEQUENCED_DATA:
        return UnsequencedData(bytes(packet[1:]))
    if kind == DEBUG:
        return Debug(bytes(packet[1:]))
    return DecodeError(UNKNOWN_TYPE, f"unknown server packet type 0x{kind:02X}")


def decode_client_packet(packet: bytes | memoryview) -> ClientPacket | DecodeError:
    """Decode one client-to-server packet."""
    if len(packet) < 1:
        return DecodeError(TRUNCATED, "empty packet (Packet Length 0)")
    kind = packet[0]
    if kind == UNSEQUENCED_DATA:
        return UnsequencedData(bytes(packet[1:]))
    if kind == CLIENT_HEARTBEAT:
        return _payload_not_empty(packet) or _CLIENT_HEARTBEAT
    if kind == LOGIN_REQUEST:
        return decode_login_request(packet)
    if kind == LOGOUT_REQUEST:
        return _payload_not_empty(packet) or _LOGOUT_REQUEST
    if kind == DEBUG:
        return Debug(bytes(packet[1:]))
    return DecodeError(UNKNOWN_TYPE, f"unknown client packet type 0x{kind:02X}")


# --------------------------------------------------------------------------------------
# Framing
# --------------------------------------------------------------------------------------


class SoupSplitter:
    """Split a byte stream into SoupBinTCP packets (type byte + payload, length stripped).

    ``feed`` returns memoryviews valid until the next call. A Packet Length of 0 has
    no type byte; it is skipped and counted in ``empty_packets``. Any 16-bit length is
    legal, so the splitter never loses synchronisation on its own.
    """

    __slots__ = ("_pending", "empty_packets")

    def __init__(self) -> None:
        self._pending = bytearray()
        self.empty_packets = 0

    @property
    def buffered(self) -> int:
        """Return the number of bytes held back waiting for the rest of a packet."""
        return len(self._pending)

    def head(self, count: int) -> bytes:
        """Return the first ``count`` bytes held back (the start of the partial packet)."""
        return bytes(self._pending[:count])

    def reset(self) -> None:
        """Drop a partial packet (the connection it came from is gone)."""
        self._pending = bytearray()

    def feed(self, data: bytes | bytearray | memoryview) -> list[memoryview]:
        """Consume ``data`` and return every packet it completes."""
        if self._pending:
            self._pending += data
            buf: bytes | bytearray | memoryview = bytes(self._pending)
            self._pending = bytearray()
        else:
            buf = data
        view = memoryview(buf)
        end = len(view)
        pos = 0
        packets: list[memoryview] = []
        unpack_from = LENGTH.unpack_from
        while end - pos >= 2:
            (length,) = unpack_from(view, pos)
            stop = pos + 2 + length
            if stop > end:
                break
            if length == 0:
                self.empty_packets += 1
            else:
                packets.append(view[pos + 2 : stop])
            pos = stop
        if pos < end:
            self._pending += view[pos:]
        return packets

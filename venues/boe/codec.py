"""BOE v2 codecs: framing, every message both ways, the optional-field engine and the hot paths.

Layout sources are the tables of the reference (/work/shared/specs/cboe-boe2.md, §1 and §4-§6).

* ``BoeSplitter`` cuts a byte stream into whole messages (``BA BA`` + MessageLength).
* ``encode_message`` / ``decode_inbound`` / ``decode_outbound`` handle every message with one
  precompiled ``struct.Struct`` for its fixed part and the table-driven optional-field engine
  (``OptionalTable``) for the bitfields: present fields follow the last bitfield byte in
  bitfield order, lowest bit first (§3.1). The same tables serve encoder and decoder.
* Hot path, member side: ``NewOrderPacker`` / ``CancelPacker`` / ``ModifyPacker`` are compiled
  for one fixed optional-field set (the venue config's) and write a whole message into a
  bytearray with one ``pack_into``. ``ReturnDecoder`` is compiled from the return bitfields
  negotiated at login and decodes Order Acknowledgment, Order Execution and Order Cancelled with
  one ``unpack_from`` when the message carries exactly those bitfields (it falls back to the
  table-driven decoder otherwise); ``ack_core`` / ``execution_core`` / ``cancelled_core`` read
  just the fixed part, which holds everything the gateway needs from those three.

Decoders never raise on bad bytes: they return ``DecodeError``. Encoders raise ValueError for
values that do not fit their field (a caller bug, never the peer's).
"""

from __future__ import annotations

import operator
import struct
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

import msgspec

from venues.boe.errors import (
    BAD_BITFIELD,
    BAD_FRAME,
    BAD_GROUP,
    BAD_LENGTH,
    TRUNCATED,
    UNKNOWN_TYPE,
    DecodeError,
)
from venues.boe.messages import (
    CANCEL_ORDER,
    CANCEL_ORDER_FIELDS,
    CANCEL_REJECTED,
    CLIENT_HEARTBEAT,
    LOGIN_REQUEST,
    LOGIN_RESPONSE,
    LOGOUT,
    LOGOUT_REQUEST,
    MODIFY_ORDER,
    MODIFY_ORDER_FIELDS,
    NEW_ORDER,
    NEW_ORDER_FIELDS,
    NO_RETURN_FIELDS,
    ORDER_ACKNOWLEDGMENT,
    ORDER_CANCELLED,
    ORDER_EXECUTION,
    ORDER_MODIFIED,
    ORDER_REJECTED,
    ORDER_RESTATED,
    PARAM_RETURN_BITFIELDS,
    PARAM_UNIT_SEQUENCES,
    REPLAY_COMPLETE,
    RETURN_FIELDS,
    SERVER_HEARTBEAT,
    TRADE_CANCEL_OR_CORRECT,
    USER_MODIFY_REJECTED,
    CancelOrder,
    CancelOrderFields,
    CancelRejected,
    ClientHeartbeat,
    InboundMessage,
    LoginRequest,
    LoginResponse,
    Logout,
    LogoutRequest,
    Message,
    ModifyOrder,
    ModifyOrderFields,
    NewOrder,
    NewOrderFields,
    OptionalField,
    OrderAcknowledgment,
    OrderCancelled,
    OrderExecution,
    OrderModified,
    OrderRejected,
    OrderRestated,
    OutboundMessage,
    ParamGroup,
    ReplayComplete,
    ReturnBitfields,
    ReturnFields,
    ServerHeartbeat,
    TradeCancelOrCorrect,
    UnitSequences,
    UnknownParamGroup,
    UserModifyRejected,
)

Buffer = bytes | bytearray | memoryview

START: Final = 0xBABA
"""StartOfMessage ``BA BA`` read as a little-endian u16."""
START_BYTES: Final = b"\xba\xba"
HEADER: Final = struct.Struct("<HHBBI")
"""StartOfMessage, MessageLength, MessageType, MatchingUnit, SequenceNumber."""
HEADER_SIZE: Final = 10
MIN_LENGTH: Final = 8
"""Smallest MessageLength: a header-only message."""
MAX_MESSAGE: Final = 0xFFFF + 2
"""MessageLength is a u16, so no message is longer (reference §7.6: no smaller maximum is documented)."""

CLIENT_HEARTBEAT_BYTES: Final = b"\xba\xba\x08\x00\x03\x00\x00\x00\x00\x00"
LOGOUT_REQUEST_BYTES: Final = b"\xba\xba\x08\x00\x02\x00\x00\x00\x00\x00"
SERVER_HEARTBEAT_BYTES: Final = b"\xba\xba\x08\x00\x09\x00\x00\x00\x00\x00"
REPLAY_COMPLETE_BYTES: Final = b"\xba\xba\x08\x00\x13\x00\x00\x00\x00\x00"

_U8: Final = struct.Struct("<B")
_U16: Final = struct.Struct("<H")
_UNIT: Final = struct.Struct("<BI")
_GROUP_HEAD: Final = struct.Struct("<HB")


def _text(value: str, width: int, where: str) -> bytes:
    """Encode ``value`` for a NUL-padded text field of ``width`` bytes (struct pads)."""
    raw = value.encode("latin-1")
    if len(raw) > width:
        raise ValueError(f"{where} {value!r} is longer than {width} bytes")
    return raw


def _untext(raw: bytes) -> str:
    """Decode a NUL-padded text field."""
    return raw.rstrip(b"\x00").decode("latin-1")


def _is_text(fmt: str) -> bool:
    return fmt.endswith("s")


def _width(fmt: str) -> int:
    return struct.calcsize("<" + fmt)


# --------------------------------------------------------------------------------------
# The optional-field engine
# --------------------------------------------------------------------------------------


class OptionalTable:
    """One bitfield table (``messages.*_FIELDS``) and the struct holding its values.

    The encoder derives the bitfield bytes from which values are not None; the decoder walks
    the bitfield bytes and reads each present field. Both go through the table in wire order.
    """

    __slots__ = ("by_byte", "cls", "empty", "fields", "known", "max_byte", "name", "structs")

    def __init__(self, name: str, fields: tuple[OptionalField, ...], cls: type[msgspec.Struct]) -> None:
        self.name = name
        self.fields = fields
        self.cls = cls
        self.empty = cls()
        names = tuple(field.name for field in fields)
        if names != cls.__struct_fields__:
            raise AssertionError(f"{name}: table {names} does not match {cls.__name__}")
        order = [(field.byte, field.bit) for field in fields]
        if order != sorted(order) or len(set(order)) != len(order):
            raise AssertionError(f"{name}: table not in wire order")
        self.by_byte: dict[int, tuple[OptionalField, ...]] = {}
        self.known: dict[int, int] = {}
        for field in fields:
            self.by_byte[field.byte] = (*self.by_byte.get(field.byte, ()), field)
            self.known[field.byte] = self.known.get(field.byte, 0) | field.bit
        self.max_byte = max(self.by_byte)
        self.structs = {field.name: struct.Struct("<" + field.fmt) for field in fields}

    def field(self, name: str) -> OptionalField:
        """Return the table entry named ``name`` (KeyError if there is none)."""
        for field in self.fields:
            if field.name == name:
                return field
        raise KeyError(f"{self.name} has no optional field {name!r}")

    def bitfields_of(self, names: Iterable[str], count: int = 0) -> bytes:
        """Return the bitfield bytes announcing the fields ``names`` (at least ``count`` bytes)."""
        chosen = [self.field(name) for name in names]
        size = max([count, *(field.byte for field in chosen)])
        bits = bytearray(size)
        for field in chosen:
            bits[field.byte - 1] |= field.bit
        return bytes(bits)

    def present(self, bitfields: Buffer) -> list[OptionalField]:
        """Return the table entries whose bits are set in ``bitfields`` (unknown bits are skipped)."""
        found: list[OptionalField] = []
        for index, byte in enumerate(bytes(bitfields), 1):
            if byte:
                found.extend(field for field in self.by_byte.get(index, ()) if byte & field.bit)
        return found

    def unknown_bits(self, bitfields: Buffer) -> list[tuple[int, int]]:
        """Return (bitfield number, bits) set in ``bitfields`` that this table does not define."""
        return [
            (index, byte & ~self.known.get(index, 0) & 0xFF)
            for index, byte in enumerate(bytes(bitfields), 1)
            if byte & ~self.known.get(index, 0) & 0xFF
        ]

    def encode(self, values: msgspec.Struct, count: int, where: str) -> bytes:
        """Return NumberOfBitfields, the bitfield bytes and the present fields, packed."""
        present = [(field, getattr(values, field.name)) for field in self.fields]
        present = [(field, value) for field, value in present if value is not None]
        size = max([count, *(field.byte for field, _ in present)])
        if size > 0xFF:
            raise ValueError(f"{where}: {size} bitfields do not fit the count byte")
        bits = bytearray(size)
        parts = [_U8.pack(size), b""]
        for field, value in present:
            bits[field.byte - 1] |= field.bit
            packer = self.structs[field.name]
            try:
                if _is_text(field.fmt):
                    parts.append(packer.pack(_text(value, packer.size, f"{where}.{field.name}")))
                else:
                    parts.append(packer.pack(value))
            except struct.error as exc:
                raise ValueError(f"{where}.{field.name}: {exc}") from None
        parts[1] = bytes(bits)
        return b"".join(parts)

    def decode(self, buf: Buffer, pos: int, end: int, where: str) -> tuple[Any, int, int] | DecodeError:
        """Read NumberOfBitfields at ``pos`` and what follows; return (values, bitfield count, end position)."""
        if pos >= end:
            return DecodeError(TRUNCATED, f"{where}: no bitfield count")
        count = buf[pos]
        pos += 1
        if pos + count > end:
            return DecodeError(TRUNCATED, f"{where}: {count} bitfields announced, {end - pos} bytes left")
        bits = bytes(buf[pos : pos + count])
        pos += count
        if not any(bits):
            return self.empty, count, pos
        values: dict[str, object] = {}
        known = self.known
        for index, byte in enumerate(bits, 1):
            if not byte:
                continue
            unknown = byte & ~known.get(index, 0) & 0xFF
            if unknown:
                return DecodeError(BAD_BITFIELD, f"{where}: bitfield {index} sets unknown bits 0x{unknown:02X}")
            for field in self.by_byte[index]:
                if byte & field.bit:
                    packer = self.structs[field.name]
                    stop = pos + packer.size
                    if stop > end:
                        return DecodeError(TRUNCATED, f"{where}: optional field {field.name} runs past the end")
                    (value,) = packer.unpack_from(buf, pos)
                    values[field.name] = _untext(value) if _is_text(field.fmt) else value
                    pos = stop
        return self.cls(**values), count, pos


NEW_ORDER_TABLE: Final = OptionalTable("New Order", NEW_ORDER_FIELDS, NewOrderFields)
CANCEL_ORDER_TABLE: Final = OptionalTable("Cancel Order", CANCEL_ORDER_FIELDS, CancelOrderFields)
MODIFY_ORDER_TABLE: Final = OptionalTable("Modify Order", MODIFY_ORDER_FIELDS, ModifyOrderFields)
RETURN_TABLE: Final = OptionalTable("Return", RETURN_FIELDS, ReturnFields)


def select_return_fields(bitfields: Buffer, available: ReturnFields) -> ReturnFields:
    """Return the fields ``bitfields`` asks for: values from ``available``, zero-filled where it has none.

    This is what Cboe does with negotiated return bitfields (reference §3.1 rule 6: a requested
    field that does not apply is still sent, all bytes 0x00). Bits not in the table are ignored.
    """
    values: dict[str, Any] = {}
    for field in RETURN_TABLE.present(bitfields):
        value = getattr(available, field.name)
        values[field.name] = value if value is not None else ("" if _is_text(field.fmt) else 0)
    return ReturnFields(**values)


# --------------------------------------------------------------------------------------
# Application message layouts (fixed part + one optional table)
# --------------------------------------------------------------------------------------


class _Layout:
    """One application message: its fixed fields after the header and its optional table."""

    __slots__ = ("cls", "fields", "fixed", "name", "size", "table", "texts", "type")

    def __init__(
        self,
        message_type: int,
        cls: type[msgspec.Struct],
        name: str,
        fields: list[tuple[str, str]],
        table: OptionalTable,
        reserved: bool,
    ) -> None:
        self.type = message_type
        self.cls = cls
        self.name = name
        self.fields = tuple(fields)
        self.table = table
        body = "".join(fmt for _, fmt in fields) + ("x" if reserved else "")
        self.fixed = struct.Struct("<HHBBI" + body)
        self.size = self.fixed.size
        self.texts = tuple(_is_text(fmt) for _, fmt in fields)
        names = ("matching_unit", "sequence", *(n for n, _ in fields), "optional", "bitfield_count")
        if names != cls.__struct_fields__:
            raise AssertionError(f"layout of {name} does not match {cls.__name__}: {names}")


_TT = ("transaction_time", "Q")
_CLID = ("cl_ord_id", "20s")

INBOUND_LAYOUTS: Final = (
    _Layout(
        NEW_ORDER,
        NewOrder,
        "New Order",
        [_CLID, ("side", "1s"), ("order_qty", "I")],
        NEW_ORDER_TABLE,
        reserved=False,
    ),
    _Layout(CANCEL_ORDER, CancelOrder, "Cancel Order", [("orig_cl_ord_id", "20s")], CANCEL_ORDER_TABLE, False),
    _Layout(
        MODIFY_ORDER,
        ModifyOrder,
        "Modify Order",
        [_CLID, ("orig_cl_ord_id", "20s")],
        MODIFY_ORDER_TABLE,
        reserved=False,
    ),
)

OUTBOUND_LAYOUTS: Final = (
    _Layout(
        ORDER_ACKNOWLEDGMENT,
        OrderAcknowledgment,
        "Order Acknowledgment",
        [_TT, _CLID, ("order_id", "Q")],
        RETURN_TABLE,
        reserved=True,
    ),
    _Layout(
        ORDER_REJECTED,
        OrderRejected,
        "Order Rejected",
        [_TT, _CLID, ("reason", "1s"), ("text", "60s")],
        RETURN_TABLE,
        reserved=True,
    ),
    _Layout(
        ORDER_MODIFIED,
        OrderModified,
        "Order Modified",
        [_TT, _CLID, ("order_id", "Q")],
        RETURN_TABLE,
        reserved=True,
    ),
    _Layout(
        ORDER_RESTATED,
        OrderRestated,
        "Order Restated",
        [_TT, _CLID, ("order_id", "Q"), ("reason", "1s")],
        RETURN_TABLE,
        reserved=True,
    ),
    _Layout(
        USER_MODIFY_REJECTED,
        UserModifyRejected,
        "User Modify Rejected",
        [_TT, _CLID, ("reason", "1s"), ("text", "60s")],
        RETURN_TABLE,
        reserved=True,
    ),
    _Layout(
        ORDER_CANCELLED,
        OrderCancelled,
        "Order Cancelled",
        [_TT, _CLID, ("reason", "1s")],
        RETURN_TABLE,
        reserved=True,
    ),
    _Layout(
        CANCEL_REJECTED,
        CancelRejected,
        "Cancel Rejected",
        [_TT, _CLID, ("reason", "1s"), ("text", "60s")],
        RETURN_TABLE,
        reserved=True,
    ),
    _Layout(
        ORDER_EXECUTION,
        OrderExecution,
        "Order Execution",
        [
            _TT,
            _CLID,
            ("exec_id", "Q"),
            ("last_shares", "I"),
            ("last_px", "q"),
            ("leaves_qty", "I"),
            ("base_liquidity_indicator", "1s"),
            ("sub_liquidity_indicator", "1s"),
            ("contra_broker", "4s"),
        ],
        RETURN_TABLE,
        reserved=True,
    ),
    _Layout(
        TRADE_CANCEL_OR_CORRECT,
        TradeCancelOrCorrect,
        "Trade Cancel or Correct",
        [
            _TT,
            _CLID,
            ("order_id", "Q"),
            ("exec_ref_id", "Q"),
            ("side", "1s"),
            ("base_liquidity_indicator", "1s"),
            ("clearing_firm", "4s"),
            ("clearing_account", "4s"),
            ("last_shares", "I"),
            ("last_px", "q"),
            ("corrected_price", "q"),
            ("orig_time", "Q"),
        ],
        RETURN_TABLE,
        reserved=True,
    ),
)

_BY_CLASS: Final[dict[type, _Layout]] = {layout.cls: layout for layout in INBOUND_LAYOUTS + OUTBOUND_LAYOUTS}
_INBOUND_BY_TYPE: Final = {layout.type: layout for layout in INBOUND_LAYOUTS}
_OUTBOUND_BY_TYPE: Final = {layout.type: layout for layout in OUTBOUND_LAYOUTS}

MESSAGE_NAMES: Final = {
    LOGIN_REQUEST: "Login Request",
    LOGOUT_REQUEST: "Logout Request",
    CLIENT_HEARTBEAT: "Client Heartbeat",
    LOGIN_RESPONSE: "Login Response",
    LOGOUT: "Logout",
    SERVER_HEARTBEAT: "Server Heartbeat",
    REPLAY_COMPLETE: "Replay Complete",
    **{layout.type: layout.name for layout in INBOUND_LAYOUTS + OUTBOUND_LAYOUTS},
}


def fixed_length(message_type: int) -> int:
    """Return the bytes of an application message up to (not including) its bitfield count."""
    layout = _INBOUND_BY_TYPE.get(message_type) or _OUTBOUND_BY_TYPE[message_type]
    return layout.size


def _finish(parts: list[bytes], message_type: int, matching_unit: int, sequence: int) -> bytes:
    """Prefix the header to ``parts`` (the body) and return the whole message."""
    body = b"".join(parts)
    length = HEADER_SIZE - 2 + len(body)
    if length > 0xFFFF:
        raise ValueError(f"{MESSAGE_NAMES.get(message_type, message_type)}: {length + 2} bytes is too long")
    return HEADER.pack(START, length, message_type, matching_unit, sequence) + body


def _encode_application(message: Any, layout: _Layout) -> bytes:
    values: list[object] = [START, 0, layout.type, message.matching_unit, message.sequence]
    for (name, fmt), is_text in zip(layout.fields, layout.texts, strict=True):
        value = getattr(message, name)
        values.append(_text(value, _width(fmt), f"{layout.name}.{name}") if is_text else value)
    optional = layout.table.encode(message.optional, message.bitfield_count, layout.name)
    values[1] = layout.size - 2 + len(optional)
    if values[1] > 0xFFFF:  # type: ignore[operator]
        raise ValueError(f"{layout.name}: message too long")
    try:
        return layout.fixed.pack(*values) + optional
    except struct.error as exc:
        raise ValueError(f"{layout.name}: {exc}") from None


# --------------------------------------------------------------------------------------
# Session messages
# --------------------------------------------------------------------------------------


def encode_param_group(group: ParamGroup) -> bytes:
    """Return one Login Request / Response parameter group, its length prefix included."""
    if isinstance(group, UnitSequences):
        body = _U8.pack(group.no_unspecified_unit_replay) + _U8.pack(len(group.units))
        body += b"".join(_UNIT.pack(unit, sequence) for unit, sequence in group.units)
        group_type = PARAM_UNIT_SEQUENCES
    elif isinstance(group, ReturnBitfields):
        body = _U8.pack(group.message_type) + _U8.pack(len(group.bitfields)) + bytes(group.bitfields)
        group_type = PARAM_RETURN_BITFIELDS
    else:
        body = bytes(group.data)
        group_type = group.group_type
    return _GROUP_HEAD.pack(len(body) + 3, group_type) + body


def _units(units: Sequence[tuple[int, int]]) -> bytes:
    return _U8.pack(len(units)) + b"".join(_UNIT.pack(unit, sequence) for unit, sequence in units)


def _encode_session(message: Any) -> bytes:
    if isinstance(message, LoginRequest):
        parts = [
            _text(message.session_sub_id, 4, "Login Request.session_sub_id").ljust(4, b"\x00"),
            _text(message.username, 4, "Login Request.username").ljust(4, b"\x00"),
            _text(message.password, 10, "Login Request.password").ljust(10, b"\x00"),
            _U8.pack(len(message.param_groups)),
            *(encode_param_group(group) for group in message.param_groups),
        ]
        return _finish(parts, LOGIN_REQUEST, 0, 0)
    if isinstance(message, LoginResponse):
        parts = [
            _text(message.status, 1, "Login Response.status").ljust(1, b"\x00"),
            _text(message.text, 60, "Login Response.text").ljust(60, b"\x00"),
            _U8.pack(message.no_unspecified_unit_replay),
            struct.pack("<I", message.last_received_sequence),
            _units(message.units),
            _U8.pack(len(message.param_groups)),
            *(encode_param_group(group) for group in message.param_groups),
        ]
        return _finish(parts, LOGIN_RESPONSE, 0, 0)
    if isinstance(message, Logout):
        parts = [
            _text(message.reason, 1, "Logout.reason").ljust(1, b"\x00"),
            _text(message.text, 60, "Logout.text").ljust(60, b"\x00"),
            struct.pack("<I", message.last_received_sequence),
            _units(message.units),
        ]
        return _finish(parts, LOGOUT, 0, 0)
    return {
        LogoutRequest: LOGOUT_REQUEST_BYTES,
        ClientHeartbeat: CLIENT_HEARTBEAT_BYTES,
        ServerHeartbeat: SERVER_HEARTBEAT_BYTES,
        ReplayComplete: REPLAY_COMPLETE_BYTES,
    }[type(message)]


def encode_message(message: Message) -> bytes:
    """Encode any BOE message, header included.

    Raises ValueError for values that do not fit their fields (a caller bug).
    """
    layout = _BY_CLASS.get(type(message))
    if layout is not None:
        return _encode_application(message, layout)
    try:
        return _encode_session(message)
    except struct.error as exc:
        raise ValueError(f"{type(message).__name__}: {exc}") from None


def _decode_units(buf: Buffer, pos: int, end: int, where: str) -> tuple[tuple[tuple[int, int], ...], int] | DecodeError:
    if pos >= end:
        return DecodeError(TRUNCATED, f"{where}: no NumberOfUnits")
    count = buf[pos]
    pos += 1
    if pos + 5 * count > end:
        return DecodeError(TRUNCATED, f"{where}: {count} units announced, {end - pos} bytes left")
    units = tuple(_UNIT.unpack_from(buf, pos + 5 * i) for i in range(count))
    return units, pos + 5 * count


def decode_param_groups(buf: Buffer, pos: int, end: int, where: str) -> tuple[ParamGroup, ...] | DecodeError:
    """Decode NumberOfParamGroups at ``pos`` and the groups up to exactly ``end``."""
    if pos >= end:
        return DecodeError(TRUNCATED, f"{where}: no NumberOfParamGroups")
    count = buf[pos]
    pos += 1
    groups: list[ParamGroup] = []
    for index in range(count):
        if pos + 3 > end:
            return DecodeError(TRUNCATED, f"{where}: parameter group {index + 1} of {count} missing")
        length, group_type = _GROUP_HEAD.unpack_from(buf, pos)
        stop = pos + length
        if length < 3 or stop > end:
            return DecodeError(BAD_GROUP, f"{where}: parameter group {index + 1} has ParamGroupLength {length}")
        if group_type == PARAM_UNIT_SEQUENCES:
            if length < 5:
                return DecodeError(BAD_GROUP, f"{where}: Unit Sequences group of {length} bytes")
            units = _decode_units(buf, pos + 4, stop, where)
            if isinstance(units, DecodeError):
                return units
            if units[1] != stop:
                return DecodeError(BAD_GROUP, f"{where}: Unit Sequences group length {length} disagrees with its units")
            groups.append(UnitSequences(buf[pos + 3], units[0]))
        elif group_type == PARAM_RETURN_BITFIELDS:
            if length < 5 or length != 5 + buf[pos + 4]:
                return DecodeError(BAD_GROUP, f"{where}: Return Bitfields group length {length} disagrees")
            groups.append(ReturnBitfields(buf[pos + 3], bytes(buf[pos + 5 : stop])))
        else:
            groups.append(UnknownParamGroup(group_type, bytes(buf[pos + 3 : stop])))
        pos = stop
    if pos != end:
        return DecodeError(BAD_LENGTH, f"{where}: {end - pos} bytes after the last parameter group")
    return tuple(groups)


def _decode_login_request(buf: Buffer, end: int) -> LoginRequest | DecodeError:
    if end < 29:
        return DecodeError(TRUNCATED, f"Login Request: {end} bytes, needs 29")
    groups = decode_param_groups(buf, 28, end, "Login Request")
    if isinstance(groups, DecodeError):
        return groups
    return LoginRequest(_untext(bytes(buf[10:14])), _untext(bytes(buf[14:18])), _untext(bytes(buf[18:28])), groups)


def _decode_login_response(buf: Buffer, end: int) -> LoginResponse | DecodeError:
    if end < 78:
        return DecodeError(TRUNCATED, f"Login Response: {end} bytes, needs 78")
    (last,) = struct.unpack_from("<I", buf, 72)
    units = _decode_units(buf, 76, end, "Login Response")
    if isinstance(units, DecodeError):
        return units
    groups = decode_param_groups(buf, units[1], end, "Login Response")
    if isinstance(groups, DecodeError):
        return groups
    return LoginResponse(_untext(bytes(buf[10:11])), _untext(bytes(buf[11:71])), buf[71], last, units[0], groups)


def _decode_logout(buf: Buffer, end: int) -> Logout | DecodeError:
    if end < 76:
        return DecodeError(TRUNCATED, f"Logout: {end} bytes, needs 76")
    (last,) = struct.unpack_from("<I", buf, 71)
    units = _decode_units(buf, 75, end, "Logout")
    if isinstance(units, DecodeError):
        return units
    if units[1] != end:
        return DecodeError(BAD_LENGTH, f"Logout: {end - units[1]} bytes after the units")
    return Logout(_untext(bytes(buf[10:11])), _untext(bytes(buf[11:71])), last, units[0])


_EMPTY_INBOUND: Final[dict[int, LogoutRequest | ClientHeartbeat]] = {
    LOGOUT_REQUEST: LogoutRequest(),
    CLIENT_HEARTBEAT: ClientHeartbeat(),
}
_EMPTY_OUTBOUND: Final[dict[int, ServerHeartbeat | ReplayComplete]] = {
    SERVER_HEARTBEAT: ServerHeartbeat(),
    REPLAY_COMPLETE: ReplayComplete(),
}

# --------------------------------------------------------------------------------------
# Generic decoders
# --------------------------------------------------------------------------------------


def check_frame(buf: Buffer) -> int | DecodeError:
    """Check the header of one whole message; return its MessageType."""
    size = len(buf)
    if size < HEADER_SIZE:
        return DecodeError(TRUNCATED, f"{size} bytes, a message needs at least {HEADER_SIZE}")
    start, length, message_type, _unit, _sequence = HEADER.unpack_from(buf)
    if start != START:
        return DecodeError(BAD_FRAME, f"StartOfMessage is {bytes(buf[:2]).hex(' ')}, not ba ba")
    if length + 2 != size:
        return DecodeError(BAD_LENGTH, f"MessageLength {length} but {size} bytes (MessageLength + 2 expected)")
    return int(message_type)


def _decode_with_layout(layout: _Layout, buf: Buffer) -> Any:
    end = len(buf)
    if end < layout.size:
        return DecodeError(TRUNCATED, f"{layout.name}: {end} bytes, needs at least {layout.size + 1}")
    raw = layout.fixed.unpack_from(buf)
    optional = layout.table.decode(buf, layout.size, end, layout.name)
    if isinstance(optional, DecodeError):
        return optional
    values, count, pos = optional
    if pos != end:
        return DecodeError(BAD_LENGTH, f"{layout.name}: {end - pos} bytes after the optional fields")
    args: list[object] = [raw[3], raw[4]]
    for value, is_text in zip(raw[5:], layout.texts, strict=True):
        args.append(_untext(value) if is_text else value)
    return layout.cls(*args, values, count)


def decode_inbound(buf: Buffer) -> InboundMessage | DecodeError:
    """Decode one whole member -> Cboe message (``BA BA`` included, as ``BoeSplitter`` yields it)."""
    message_type = check_frame(buf)
    if isinstance(message_type, DecodeError):
        return message_type
    layout = _INBOUND_BY_TYPE.get(message_type)
    if layout is not None:
        return _decode_with_layout(layout, buf)  # type: ignore[no-any-return]
    if message_type == LOGIN_REQUEST:
        return _decode_login_request(buf, len(buf))
    empty = _EMPTY_INBOUND.get(message_type)
    if empty is not None:
        if len(buf) != HEADER_SIZE:
            return DecodeError(BAD_LENGTH, f"{MESSAGE_NAMES[message_type]}: {len(buf)} bytes, expected 10")
        return empty
    return DecodeError(UNKNOWN_TYPE, f"unknown member-to-Cboe message type 0x{message_type:02X}")


def decode_outbound_generic(buf: Buffer) -> OutboundMessage | DecodeError:
    """Decode one whole Cboe -> member message with the table-driven engine only."""
    message_type = check_frame(buf)
    if isinstance(message_type, DecodeError):
        return message_type
    layout = _OUTBOUND_BY_TYPE.get(message_type)
    if layout is not None:
        return _decode_with_layout(layout, buf)  # type: ignore[no-any-return]
    if message_type == LOGIN_RESPONSE:
        return _decode_login_response(buf, len(buf))
    if message_type == LOGOUT:
        return _decode_logout(buf, len(buf))
    empty = _EMPTY_OUTBOUND.get(message_type)
    if empty is not None:
        if len(buf) != HEADER_SIZE:
            return DecodeError(BAD_LENGTH, f"{MESSAGE_NAMES[message_type]}: {len(buf)} bytes, expected 10")
        return empty
    return DecodeError(UNKNOWN_TYPE, f"unknown Cboe-to-member message type 0x{message_type:02X}")


# --------------------------------------------------------------------------------------
# Framing
# --------------------------------------------------------------------------------------


class BoeSplitter:
    """Split a byte stream into whole BOE messages (``BA BA`` and the header included).

    ``feed`` returns memoryviews valid until the next call. BOE has no way to resynchronise:
    a StartOfMessage other than ``BA BA`` or a MessageLength below 8 sets ``error`` and the
    splitter returns nothing more until ``reset`` (the owner drops the connection).
    """

    __slots__ = ("_pending", "error")

    def __init__(self) -> None:
        self._pending = bytearray()
        self.error: DecodeError | None = None

    @property
    def buffered(self) -> int:
        """Return the number of bytes held back waiting for the rest of a message."""
        return len(self._pending)

    def partial(self) -> str:
        """Describe the message held back incomplete: its type, unit and claimed MessageLength ("": none held)."""
        pending = self._pending
        held = len(pending)
        if not held:
            return ""
        if held < 4:
            return f"{held} byte(s) of a message, before its MessageLength"
        (length,) = _U16.unpack_from(pending, 2)
        name, what = "message", ""
        if held > 4:
            name = MESSAGE_NAMES.get(pending[4], name)
            what = f" (message type 0x{pending[4]:02X}{f', matching unit {pending[5]}' if held > 5 else ''})"
        return (
            f"an incomplete {name}{what} claims MessageLength {length}: {held} of its {length + 2} bytes arrived, "
            "every later byte taken as part of it"
        )

    def reset(self) -> None:
        """Drop a partial message and any framing error (the connection it came from is gone)."""
        self._pending = bytearray()
        self.error = None

    def feed(self, data: Buffer) -> list[memoryview]:
        """Consume ``data`` and return every message it completes."""
        if self.error is not None:
            return []
        if self._pending:
            self._pending += data
            buf: Buffer = bytes(self._pending)
            self._pending = bytearray()
        else:
            buf = data
        view = memoryview(buf)
        end = len(view)
        pos = 0
        messages: list[memoryview] = []
        unpack_from = _U16.unpack_from
        while end - pos >= 4:
            if view[pos] != 0xBA or view[pos + 1] != 0xBA:
                self.error = DecodeError(
                    BAD_FRAME, f"StartOfMessage {bytes(view[pos : pos + 2]).hex(' ')} at byte {pos}"
                )
                return messages
            (length,) = unpack_from(view, pos + 2)
            if length < MIN_LENGTH:
                self.error = DecodeError(BAD_FRAME, f"MessageLength {length} below {MIN_LENGTH}")
                return messages
            stop = pos + 2 + length
            if stop > end:
                break
            messages.append(view[pos:stop])
            pos = stop
        if pos < end:
            if view[pos] != 0xBA or (end - pos > 1 and view[pos + 1] != 0xBA):
                self.error = DecodeError(
                    BAD_FRAME, f"StartOfMessage {bytes(view[pos : pos + 2]).hex(' ')} at byte {pos}"
                )
                return messages
            self._pending += view[pos:]
        return messages


# --------------------------------------------------------------------------------------
# Hot path: encoders compiled for one optional-field set
# --------------------------------------------------------------------------------------


class _Packer:
    """A whole application message with a fixed optional-field set, written with one ``pack_into``."""

    __slots__ = ("_blank", "bitfields", "fields", "length", "size", "struct")

    def __init__(self, table: OptionalTable, fixed: str, fields: Sequence[str], bitfield_count: int) -> None:
        chosen = [table.field(name) for name in fields]
        chosen.sort(key=lambda field: (field.byte, field.bit))
        self.fields = tuple(field.name for field in chosen)
        """The optional fields in wire order: the order ``pack`` takes their values in."""
        self.bitfields = table.bitfields_of(self.fields, bitfield_count)
        self.struct = struct.Struct(f"<HHBBI{fixed}B{len(self.bitfields)}s" + "".join(field.fmt for field in chosen))
        self.size = self.struct.size
        self.length = self.size - 2
        self._blank = bytes(self.size)


class NewOrderPacker(_Packer):
    """New Order with one fixed optional-field set (e.g. the venue config's)."""

    __slots__ = ()

    def __init__(self, fields: Sequence[str], bitfield_count: int = 0) -> None:
        super().__init__(NEW_ORDER_TABLE, "20s1sI", fields, bitfield_count)

    def pack(
        self, buf: bytearray, sequence: int, cl_ord_id: bytes, side: bytes, order_qty: int, *values: object
    ) -> None:
        """Append a New Order to ``buf``; ``values`` are the optional fields in ``self.fields`` order.

        Text values are ``bytes`` (struct pads them with NUL and silently cuts longer ones: check
        widths before), one-byte codes 1-byte ``bytes``, numbers ``int``.
        """
        start = len(buf)
        buf += self._blank
        try:  # free until raised
            self.struct.pack_into(
                buf, start, START, self.length, NEW_ORDER, 0, sequence, cl_ord_id, side, order_qty,
                len(self.bitfields), self.bitfields, *values,
            )  # fmt: skip
        except BaseException:  # a value it cannot carry: the message begun is dropped whole, ``buf`` as it was
            del buf[start:]
            raise


class CancelPacker(_Packer):
    """Cancel Order with one fixed optional-field set."""

    __slots__ = ()

    def __init__(self, fields: Sequence[str] = (), bitfield_count: int = 0) -> None:
        super().__init__(CANCEL_ORDER_TABLE, "20s", fields, bitfield_count)

    def pack(self, buf: bytearray, sequence: int, orig_cl_ord_id: bytes, *values: object) -> None:
        """Append a Cancel Order to ``buf``."""
        start = len(buf)
        buf += self._blank
        try:  # free until raised
            self.struct.pack_into(
                buf, start, START, self.length, CANCEL_ORDER, 0, sequence, orig_cl_ord_id,
                len(self.bitfields), self.bitfields, *values,
            )  # fmt: skip
        except BaseException:  # a value it cannot carry: the message begun is dropped whole, ``buf`` as it was
            del buf[start:]
            raise


class ModifyPacker(_Packer):
    """Modify Order with one fixed optional-field set (it must include order_qty and price)."""

    __slots__ = ()

    def __init__(self, fields: Sequence[str], bitfield_count: int = 0) -> None:
        super().__init__(MODIFY_ORDER_TABLE, "20s20s", fields, bitfield_count)

    def pack(self, buf: bytearray, sequence: int, cl_ord_id: bytes, orig_cl_ord_id: bytes, *values: object) -> None:
        """Append a Modify Order to ``buf``."""
        start = len(buf)
        buf += self._blank
        try:  # free until raised
            self.struct.pack_into(
                buf, start, START, self.length, MODIFY_ORDER, 0, sequence, cl_ord_id, orig_cl_ord_id,
                len(self.bitfields), self.bitfields, *values,
            )  # fmt: skip
        except BaseException:  # a value it cannot carry: the message begun is dropped whole, ``buf`` as it was
            del buf[start:]
            raise


# --------------------------------------------------------------------------------------
# Hot path: decoders compiled for the negotiated return bitfields
# --------------------------------------------------------------------------------------

_ACK_CORE: Final = struct.Struct("<5xBIQ20sQxB")
_EXECUTION_CORE: Final = struct.Struct("<5xBIQ20sQIqI1s1s4sxB")
_CANCELLED_CORE: Final = struct.Struct("<5xBIQ20s1sxB")

AckCore = tuple[int, int, bytes, int]
"""(MatchingUnit, SequenceNumber, ClOrdID as sent (NUL-padded 20 bytes), OrderID)."""
ExecutionCore = tuple[int, int, bytes, int, int, int, int, bytes, bytes]
"""(MatchingUnit, SequenceNumber, ClOrdID, ExecID, LastShares, LastPx, LeavesQty, BaseLiquidityIndicator,
SubLiquidityIndicator); the indicators are 1-byte ``bytes``."""
CancelledCore = tuple[int, int, bytes, bytes]
"""(MatchingUnit, SequenceNumber, ClOrdID, CancelReason)."""


def _core_checked(buf: Buffer, core: struct.Struct, message_type: int, name: str) -> tuple[Any, ...] | DecodeError:
    size = len(buf)
    if size < core.size:
        return DecodeError(TRUNCATED, f"{name}: {size} bytes, needs at least {core.size}")
    if buf[0] != 0xBA or buf[1] != 0xBA or buf[4] != message_type or buf[2] | (buf[3] << 8) != size - 2:
        message = decode_outbound_generic(buf)
        if isinstance(message, DecodeError):
            return message
        return DecodeError(UNKNOWN_TYPE, f"{name} expected, got {type(message).__name__}")
    values = core.unpack_from(buf)
    count = values[-1]
    if core.size + count > size:
        return DecodeError(TRUNCATED, f"{name}: {count} bitfields announced, {size - core.size} bytes left")
    return values


def ack_core(buf: Buffer) -> AckCore | DecodeError:
    """Return the fixed part of an Order Acknowledgment (the optional fields are not read or checked)."""
    values = _core_checked(buf, _ACK_CORE, ORDER_ACKNOWLEDGMENT, "Order Acknowledgment")
    if isinstance(values, DecodeError):
        return values
    unit, sequence, _tt, cl_ord_id, order_id, _count = values
    return unit, sequence, cl_ord_id, order_id


def execution_core(buf: Buffer) -> ExecutionCore | DecodeError:
    """Return the fixed part of an Order Execution (the optional fields are not read or checked)."""
    values = _core_checked(buf, _EXECUTION_CORE, ORDER_EXECUTION, "Order Execution")
    if isinstance(values, DecodeError):
        return values
    unit, sequence, _tt, cl_ord_id, exec_id, last_shares, last_px, leaves, base, sub, _contra, _count = values
    return unit, sequence, cl_ord_id, exec_id, last_shares, last_px, leaves, base, sub


def cancelled_core(buf: Buffer) -> CancelledCore | DecodeError:
    """Return the fixed part of an Order Cancelled (the optional fields are not read or checked)."""
    values = _core_checked(buf, _CANCELLED_CORE, ORDER_CANCELLED, "Order Cancelled")
    if isinstance(values, DecodeError):
        return values
    unit, sequence, _tt, cl_ord_id, reason, _count = values
    return unit, sequence, cl_ord_id, reason


HOT_TYPES: Final = (ORDER_ACKNOWLEDGMENT, ORDER_EXECUTION, ORDER_CANCELLED)


ACK_TERMS: Final = ("side", "price", "ord_type", "time_in_force", "symbol", "order_qty", "leaves_qty")
"""The return fields of an Order Acknowledgment checked against the New Order sent (``AckTerms``), in this order."""
_ACK_RB: Final = 47
"""Offset of NumberOfReturnBitfields in an Order Acknowledgment (reference §6.1)."""


class AckTerms:
    """Reads the terms an Order Acknowledgment returns (``ACK_TERMS``) for one return bitfield set, in one unpack.

    ``read(buf)`` gives them in ``ACK_TERMS`` order (``b""`` for a field the set does not carry; text fields as raw
    NUL-padded bytes, a zero-filled one all NULs), or None when the message carries another bitfield set or
    length (then decode it with ``decode_outbound_generic``).
    """

    __slots__ = ("end", "get", "prefix", "size", "struct")

    def __init__(self, bitfields: bytes) -> None:
        self.prefix = bytes([len(bitfields)]) + bitfields
        self.end = _ACK_RB + len(self.prefix)
        present = [] if RETURN_TABLE.unknown_bits(bitfields) else RETURN_TABLE.present(bitfields)
        fmt = f"<{self.end}x"
        wanted: list[str] = []
        for field in present:
            if field.name in ACK_TERMS:
                fmt += field.fmt
                wanted.append(field.name)
            else:
                fmt += f"{_width(field.fmt)}x"
        self.size = struct.calcsize(fmt) if present else -1
        self.struct = struct.Struct(fmt + "0s")  # the trailing b"" stands for a field not carried
        absent = len(wanted)
        slots = [wanted.index(name) if name in wanted else absent for name in ACK_TERMS]
        self.get = operator.itemgetter(*slots)

    def read(self, buf: Buffer) -> tuple[Any, ...] | None:
        """Return the Ack's terms, or None if it is not laid out as this bitfield set says."""
        if len(buf) != self.size or buf[_ACK_RB : self.end] != self.prefix:
            return None
        result: tuple[Any, ...] = self.get(self.struct.unpack_from(buf))
        return result


class _Compiled:
    """One return message type with one bitfield set: the whole message in one struct."""

    __slots__ = ("bitfields", "count_at", "fixed_end", "layout", "optional", "size", "struct", "template", "texts")

    def __init__(self, layout: _Layout, bitfields: bytes) -> None:
        present = RETURN_TABLE.present(bitfields)
        unknown = RETURN_TABLE.unknown_bits(bitfields)
        if unknown:
            raise ValueError(f"{layout.name}: return bitfields {bitfields.hex(' ')} set unknown bits {unknown}")
        self.layout = layout
        self.bitfields = bitfields
        self.count_at = layout.size
        self.struct = struct.Struct(
            layout.fixed.format + f"B{len(bitfields)}s" + "".join(field.fmt for field in present)
        )
        self.size = self.struct.size
        self.fixed_end = 5 + len(layout.fields)
        """Index of NumberOfReturnBitfields in the unpacked tuple."""
        optional_start = self.fixed_end + 2
        self.texts = tuple(
            [5 + i for i, is_text in enumerate(layout.texts) if is_text]
            + [optional_start + i for i, field in enumerate(present) if _is_text(field.fmt)]
        )
        """Indexes of the text fields in the unpacked tuple."""
        positions = {name: index for index, name in enumerate(ReturnFields.__struct_fields__)}
        self.optional = tuple((optional_start + i, positions[field.name]) for i, field in enumerate(present))
        """(index in the unpacked tuple, position in ``ReturnFields``) of each optional field."""
        self.template = [None] * len(positions)

    def decode(self, buf: Buffer) -> Any:
        raw: list[Any] = list(self.struct.unpack_from(buf))
        for index in self.texts:
            raw[index] = raw[index].rstrip(b"\x00").decode("latin-1")
        if self.optional:
            values: list[Any] = self.template.copy()
            for index, position in self.optional:
                values[position] = raw[index]
            fields = ReturnFields(*values)
        else:
            fields = NO_RETURN_FIELDS
        end = self.fixed_end
        return self.layout.cls(raw[3], raw[4], *raw[5:end], fields, raw[end])


class ReturnDecoder:
    """Cboe -> member decoder compiled for the return bitfields negotiated at login.

    Order Acknowledgment, Order Execution and Order Cancelled carrying exactly the negotiated
    bitfields decode with one ``unpack_from``; anything else (another bitfield set, another
    type, bad bytes) goes through ``decode_outbound_generic`` and gives the same result.
    """

    __slots__ = ("_compiled",)

    def __init__(self, return_bitfields: Mapping[int, bytes]) -> None:
        self._compiled: dict[int, _Compiled] = {}
        for message_type in HOT_TYPES:
            bitfields = return_bitfields.get(message_type)
            if bitfields is not None:
                self._compiled[message_type] = _Compiled(_OUTBOUND_BY_TYPE[message_type], bytes(bitfields))

    def decode(self, buf: Buffer) -> OutboundMessage | DecodeError:
        """Decode one whole Cboe -> member message."""
        if len(buf) > 5:
            compiled = self._compiled.get(buf[4])
            if (
                compiled is not None
                and len(buf) == compiled.size
                and buf[0] == 0xBA
                and buf[1] == 0xBA
                and buf[2] | (buf[3] << 8) == compiled.size - 2
                and buf[compiled.count_at] == len(compiled.bitfields)
                and buf[compiled.count_at + 1 : compiled.count_at + 1 + len(compiled.bitfields)] == compiled.bitfields
            ):
                return compiled.decode(buf)  # type: ignore[no-any-return]
        return decode_outbound_generic(buf)


def decode_outbound(buf: Buffer) -> OutboundMessage | DecodeError:
    """Decode one whole Cboe -> member message (no negotiated bitfields: the table-driven path)."""
    return decode_outbound_generic(buf)


def message_header(buf: Buffer) -> tuple[int, int, int] | DecodeError:
    """Return (MessageType, MatchingUnit, SequenceNumber) of one whole message after checking its frame."""
    message_type = check_frame(buf)
    if isinstance(message_type, DecodeError):
        return message_type
    _start, _length, _type, unit, sequence = HEADER.unpack_from(buf)
    return message_type, unit, sequence


def return_bitfields_of(groups: Iterable[ParamGroup]) -> dict[int, bytes]:
    """Return message type -> return bitfields from a login's parameter groups (the last one wins)."""
    return {group.message_type: group.bitfields for group in groups if isinstance(group, ReturnBitfields)}

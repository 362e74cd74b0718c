"""OUCH 5.0 codecs: every message both ways, plus hand-written hot paths.

Layouts come from the message tables of the Nasdaq OUCH 5.0 Order Entry
Specification (rev 1.04). Each layout below lists the fields after the type byte; the
generic encoder/decoder works from that table with one precompiled ``struct.Struct``
per message. The messages on the order path have dedicated functions:

* ``pack_enter_order`` / ``pack_replace_order`` / ``pack_cancel_order`` write a whole
  SoupBinTCP Unsequenced Data packet (length, ``U``, OUCH message) into a bytearray
  with one ``pack_into``.
* ``decode_outbound`` decodes Accepted, Executed, Canceled, Replaced and Rejected with
  one ``unpack_from`` each.

Decoders never raise on bad bytes: they return ``DecodeError``. On the messages whose
Appendage Length is optional in rev 1.04, the message length (the SoupBinTCP packet
length minus one) tells whether the 2-byte field is there.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any, Final, cast

from venues.ouch.errors import BAD_ENUM, BAD_LENGTH, TRUNCATED, UNKNOWN_TYPE, DecodeError
from venues.ouch.messages import (
    CAPACITIES,
    CROSS_TYPES,
    ENTER_DISPLAY,
    ENTER_TIME_IN_FORCE,
    ORDER_STATES,
    REPLACE_TIME_IN_FORCE,
    SIDES,
    SWEEP_ELIGIBILITY,
    SYSTEM_EVENT_CODES,
    AccountQuery,
    AccountQueryResponse,
    AiqCanceled,
    BrokenTrade,
    CancelOrder,
    CancelPending,
    CancelReject,
    DisableOrderEntry,
    DisableOrderEntryResponse,
    EnableOrderEntry,
    EnableOrderEntryResponse,
    EnterOrder,
    InboundMessage,
    MassCancel,
    MassCancelResponse,
    ModifyOrder,
    OrderAccepted,
    OrderCanceled,
    OrderExecuted,
    OrderModified,
    OrderRejected,
    OrderReplaced,
    OrderRestated,
    OutboundMessage,
    PriorityUpdate,
    ReplaceOrder,
    SystemEvent,
)
from venues.ouch.options import NO_OPTIONS, Options, decode_options, encode_options

Buffer = bytes | bytearray | memoryview

NO_APPENDAGE: Final = 0
"""The message has no Appendage Length field (System Event)."""
APPENDAGE: Final = 1
"""Appendage Length (u16) is always present."""
OPTIONAL_APPENDAGE: Final = 2
"""Appendage Length is optional in rev 1.04 (absent unless a non-zero UserRefIdx was used)."""

_CHR: Final = {bytes((i,)): chr(i) for i in range(256)}


class _Layout:
    """One message type: its fields after the type byte and the structs that pack them."""

    __slots__ = ("appendage", "cls", "fields", "fixed", "full", "name", "short", "type_byte", "type_char")

    def __init__(
        self,
        type_char: str,
        cls: type,
        name: str,
        appendage: int,
        fields: list[tuple[str, str, frozenset[str] | None]],
    ) -> None:
        self.type_char = type_char
        self.type_byte = ord(type_char)
        self.cls = cls
        self.name = name
        self.appendage = appendage
        self.fields = tuple(fields)
        body = "".join(f"{kind[1:]}s" if kind[0] == "a" else kind for _, kind, _ in fields)
        self.short = struct.Struct(">c" + body)
        self.full = struct.Struct(">c" + body + ("H" if appendage != NO_APPENDAGE else ""))
        self.fixed = self.full.size
        names = tuple(name for name, _, _ in fields) + (("options",) if appendage != NO_APPENDAGE else ())
        if names != cls.__struct_fields__:  # type: ignore[attr-defined]
            raise AssertionError(f"layout of {name} does not match {cls.__name__}: {names}")


def _f(name: str, kind: str, allowed: frozenset[str] | None = None) -> tuple[str, str, frozenset[str] | None]:
    return (name, kind, allowed)


_TS = _f("timestamp", "Q")
_URN = _f("user_ref_num", "I")

INBOUND_LAYOUTS: Final = (
    _Layout(
        "O",
        EnterOrder,
        "Enter Order",
        APPENDAGE,
        [
            _URN,
            _f("side", "c", SIDES),
            _f("quantity", "I"),
            _f("symbol", "a8"),
            _f("price", "Q"),
            _f("time_in_force", "c", ENTER_TIME_IN_FORCE),
            _f("display", "c", ENTER_DISPLAY),
            _f("capacity", "c", CAPACITIES),
            _f("intermarket_sweep", "c", SWEEP_ELIGIBILITY),
            _f("cross_type", "c", CROSS_TYPES),
            _f("cl_ord_id", "a14"),
        ],
    ),
    _Layout(
        "U",
        ReplaceOrder,
        "Replace Order Request",
        APPENDAGE,
        [
            _f("orig_user_ref_num", "I"),
            _URN,
            _f("quantity", "I"),
            _f("price", "Q"),
            _f("time_in_force", "c", REPLACE_TIME_IN_FORCE),
            _f("display", "c", ENTER_DISPLAY),
            _f("intermarket_sweep", "c", SWEEP_ELIGIBILITY),
            _f("cl_ord_id", "a14"),
        ],
    ),
    _Layout("X", CancelOrder, "Cancel Order Request", OPTIONAL_APPENDAGE, [_URN, _f("quantity", "I")]),
    _Layout(
        "M",
        ModifyOrder,
        "Modify Order Request",
        OPTIONAL_APPENDAGE,
        [_URN, _f("side", "c", SIDES), _f("quantity", "I")],
    ),
    _Layout("C", MassCancel, "Mass Cancel Request", APPENDAGE, [_URN, _f("firm", "a4"), _f("symbol", "a8")]),
    _Layout("D", DisableOrderEntry, "Disable Order Entry Request", APPENDAGE, [_URN, _f("firm", "a4")]),
    _Layout("E", EnableOrderEntry, "Enable Order Entry Request", APPENDAGE, [_URN, _f("firm", "a4")]),
    _Layout("Q", AccountQuery, "Account Query Request", OPTIONAL_APPENDAGE, []),
)

OUTBOUND_LAYOUTS: Final = (
    _Layout("S", SystemEvent, "System Event", NO_APPENDAGE, [_TS, _f("event_code", "c", SYSTEM_EVENT_CODES)]),
    _Layout(
        "A",
        OrderAccepted,
        "Order Accepted",
        APPENDAGE,
        [
            _TS,
            _URN,
            _f("side", "c", SIDES),
            _f("quantity", "I"),
            _f("symbol", "a8"),
            _f("price", "Q"),
            _f("time_in_force", "c"),
            _f("display", "c"),
            _f("order_reference_number", "Q"),
            _f("capacity", "c"),
            _f("intermarket_sweep", "c"),
            _f("cross_type", "c"),
            _f("order_state", "c", ORDER_STATES),
            _f("cl_ord_id", "a14"),
        ],
    ),
    _Layout(
        "U",
        OrderReplaced,
        "Order Replaced",
        APPENDAGE,
        [
            _TS,
            _f("orig_user_ref_num", "I"),
            _URN,
            _f("side", "c", SIDES),
            _f("quantity", "I"),
            _f("symbol", "a8"),
            _f("price", "Q"),
            _f("time_in_force", "c"),
            _f("display", "c"),
            _f("order_reference_number", "Q"),
            _f("capacity", "c"),
            _f("intermarket_sweep", "c"),
            _f("cross_type", "c"),
            _f("order_state", "c", ORDER_STATES),
            _f("cl_ord_id", "a14"),
        ],
    ),
    _Layout(
        "C",
        OrderCanceled,
        "Order Canceled",
        OPTIONAL_APPENDAGE,
        [_TS, _URN, _f("quantity", "I"), _f("reason", "c")],
    ),
    _Layout(
        "D",
        AiqCanceled,
        "AIQ Canceled",
        OPTIONAL_APPENDAGE,
        [
            _TS,
            _URN,
            _f("decrement_shares", "I"),
            _f("reason", "c"),
            _f("quantity_prevented", "I"),
            _f("execution_price", "Q"),
            _f("liquidity_flag", "c"),
            _f("aiq_strategy", "c"),
        ],
    ),
    _Layout(
        "E",
        OrderExecuted,
        "Order Executed",
        APPENDAGE,
        [
            _TS,
            _URN,
            _f("quantity", "I"),
            _f("price", "Q"),
            _f("liquidity_flag", "c"),
            _f("match_number", "Q"),
        ],
    ),
    _Layout(
        "B",
        BrokenTrade,
        "Broken Trade",
        OPTIONAL_APPENDAGE,
        [_TS, _URN, _f("match_number", "Q"), _f("reason", "c"), _f("cl_ord_id", "a14")],
    ),
    _Layout(
        "J",
        OrderRejected,
        "Rejected",
        OPTIONAL_APPENDAGE,
        [_TS, _URN, _f("reason", "H"), _f("cl_ord_id", "a14")],
    ),
    _Layout("P", CancelPending, "Cancel Pending", OPTIONAL_APPENDAGE, [_TS, _URN]),
    _Layout("I", CancelReject, "Cancel Reject", OPTIONAL_APPENDAGE, [_TS, _URN]),
    _Layout(
        "T",
        PriorityUpdate,
        "Order Priority Update",
        OPTIONAL_APPENDAGE,
        [_TS, _URN, _f("price", "Q"), _f("display", "c"), _f("order_reference_number", "Q")],
    ),
    _Layout(
        "M",
        OrderModified,
        "Order Modified",
        OPTIONAL_APPENDAGE,
        [_TS, _URN, _f("side", "c", SIDES), _f("quantity", "I")],
    ),
    _Layout("R", OrderRestated, "Order Restated", APPENDAGE, [_TS, _URN, _f("reason", "c")]),
    _Layout(
        "X",
        MassCancelResponse,
        "Mass Cancel Response",
        APPENDAGE,
        [_TS, _URN, _f("firm", "a4"), _f("symbol", "a8")],
    ),
    _Layout(
        "G",
        DisableOrderEntryResponse,
        "Disable Order Entry Response",
        APPENDAGE,
        [_TS, _URN, _f("firm", "a4")],
    ),
    _Layout(
        "K",
        EnableOrderEntryResponse,
        "Enable Order Entry Response",
        APPENDAGE,
        [_TS, _URN, _f("firm", "a4")],
    ),
    _Layout(
        "Q",
        AccountQueryResponse,
        "Account Query Response",
        OPTIONAL_APPENDAGE,
        [_TS, _f("next_user_ref_num", "I")],
    ),
)

_BY_CLASS: Final[dict[type, _Layout]] = {layout.cls: layout for layout in INBOUND_LAYOUTS + OUTBOUND_LAYOUTS}
_INBOUND_BY_TYPE: Final = {layout.type_byte: layout for layout in INBOUND_LAYOUTS}
_OUTBOUND_BY_TYPE: Final = {layout.type_byte: layout for layout in OUTBOUND_LAYOUTS}


def fixed_length(cls: type) -> int:
    """Return the length of a message type before its appendage, Appendage Length included."""
    return _BY_CLASS[cls].fixed


def has_optional_appendage(cls: type) -> bool:
    """Return True if rev 1.04 lets this message type leave out its Appendage Length."""
    return _BY_CLASS[cls].appendage == OPTIONAL_APPENDAGE


# --------------------------------------------------------------------------------------
# Generic encoder / decoder
# --------------------------------------------------------------------------------------


def encode_message(message: InboundMessage | OutboundMessage, *, short_form: bool = False) -> bytes:
    """Encode one OUCH message (no SoupBinTCP header).

    ``short_form`` leaves out the Appendage Length on the types where rev 1.04 makes it
    optional, when there are no options. Raises ValueError for values that do not fit
    their field (a caller bug).
    """
    layout = _BY_CLASS[type(message)]
    values: list[object] = [layout.type_char.encode("ascii")]
    for name, kind, _ in layout.fields:
        value = getattr(message, name)
        if kind == "c":
            if not isinstance(value, str) or len(value) != 1:
                raise ValueError(f"{layout.name}.{name} needs one character, got {value!r}")
            values.append(value.encode("latin-1"))
        elif kind[0] == "a":
            raw = value.encode("ascii")
            width = int(kind[1:])
            if len(raw) > width:
                raise ValueError(f"{layout.name}.{name} {value!r} is longer than {width}")
            values.append(raw.ljust(width))
        else:
            values.append(value)
    if layout.appendage == NO_APPENDAGE:
        return _pack(layout.full, layout.name, values)
    options: Options = message.options  # type: ignore[union-attr]
    appendage = encode_options(options)
    if short_form and not appendage and layout.appendage == OPTIONAL_APPENDAGE:
        return _pack(layout.short, layout.name, values)
    values.append(len(appendage))
    return _pack(layout.full, layout.name, values) + appendage


def _pack(packer: struct.Struct, name: str, values: list[object]) -> bytes:
    try:
        return packer.pack(*values)
    except struct.error as exc:
        raise ValueError(f"{name}: {exc}") from None


def _decode_with_layout(
    layout: _Layout, buf: Buffer, *, fixed_part_only: bool = False
) -> InboundMessage | OutboundMessage | DecodeError:
    size = len(buf)
    fixed = layout.fixed
    options: Options = NO_OPTIONS
    if fixed_part_only:
        if size < layout.short.size:
            return DecodeError(TRUNCATED, f"{layout.name}: {size} bytes, its fields need {layout.short.size}")
        raw = layout.short.unpack_from(buf)
    elif size < fixed:
        if layout.appendage == OPTIONAL_APPENDAGE and size == fixed - 2:
            raw = layout.short.unpack_from(buf)
        else:
            return DecodeError(TRUNCATED, f"{layout.name}: {size} bytes, needs {fixed}")
    else:
        raw = layout.full.unpack_from(buf)
        if layout.appendage == NO_APPENDAGE:
            if size != fixed:
                return DecodeError(BAD_LENGTH, f"{layout.name}: {size} bytes, expected {fixed}")
        else:
            appendage_length = raw[-1]
            if size != fixed + appendage_length:
                expected = fixed + appendage_length
                return DecodeError(
                    BAD_LENGTH,
                    f"{layout.name}: {size} bytes but Appendage Length {appendage_length} needs {expected}",
                )
            if appendage_length:
                decoded = decode_options(buf, fixed, size)
                if isinstance(decoded, DecodeError):
                    return DecodeError(decoded.kind, f"{layout.name}: {decoded.text}")
                options = decoded
    args: list[object] = []
    for (name, kind, allowed), value in zip(layout.fields, raw[1:], strict=False):
        if kind == "c":
            char = _CHR[value]
            if allowed is not None and char not in allowed:
                return DecodeError(BAD_ENUM, f"{layout.name}: {name} {char!r} is not one of {''.join(sorted(allowed))}")
            args.append(char)
        elif kind[0] == "a":
            args.append(value.decode("latin-1").rstrip(" "))
        else:
            args.append(value)
    if layout.appendage != NO_APPENDAGE:
        args.append(options)
    return layout.cls(*args)  # type: ignore[no-any-return]


def decode_inbound(buf: Buffer) -> InboundMessage | DecodeError:
    """Decode one client -> exchange message (the payload of a SoupBinTCP Unsequenced Data packet)."""
    if not buf:
        return DecodeError(TRUNCATED, "empty message")
    layout = _INBOUND_BY_TYPE.get(buf[0])
    if layout is None:
        return DecodeError(UNKNOWN_TYPE, f"unknown inbound message type 0x{buf[0]:02X}")
    return _decode_with_layout(layout, buf)  # type: ignore[return-value]


def decode_outbound_generic(buf: Buffer) -> OutboundMessage | DecodeError:
    """Decode one exchange -> client message from the layout table only (reference for the hot path)."""
    if not buf:
        return DecodeError(TRUNCATED, "empty message")
    layout = _OUTBOUND_BY_TYPE.get(buf[0])
    if layout is None:
        return DecodeError(UNKNOWN_TYPE, f"unknown outbound message type 0x{buf[0]:02X}")
    return _decode_with_layout(layout, buf)  # type: ignore[return-value]


# --------------------------------------------------------------------------------------
# Hot path: outbound decoders with one unpack_from each
# --------------------------------------------------------------------------------------

_ACCEPTED: Final = struct.Struct(">xQIcI8sQccQcccc14sH")
_ACCEPTED_CORE: Final = struct.Struct(">9xIcI8xQ2xQ3xc14xH")
"""``_ACCEPTED`` without what ``accepted_core`` does not read (pad bytes): 7 values made per message, not 15."""
_REPLACED: Final = struct.Struct(">xQIIcI8sQccQcccc14sH")
_EXECUTED: Final = struct.Struct(">xQIIQcQH")
_CANCELED: Final = struct.Struct(">xQIIcH")
_CANCELED_SHORT: Final = struct.Struct(">xQIIc")
_REJECTED: Final = struct.Struct(">xQIH14sH")
_REJECTED_SHORT: Final = struct.Struct(">xQIH14s")
_SIDE: Final = {bytes((ord(c),)): c for c in SIDES}
_STATE: Final = {bytes((ord(c),)): c for c in ORDER_STATES}


def _native_core() -> Callable[[Buffer], Any] | None:
    """Return ``venues.ouch._accepted.core`` (built with the compiled modules), or None when it is absent."""
    try:
        from venues.ouch._accepted import core  # noqa: PLC0415 - optional: built with the compiled modules
    except ImportError:
        return None
    return cast(Callable[[Buffer], Any], core)


_CORE: Final = _native_core()
"""With the compiled modules, ``core(buf)``: ``accepted_core``'s five fields of a 64-byte Accepted without an
appendage whose side and state bytes are in ``_SIDE`` and ``_STATE``, read and checked in place by one C call (None
for any other message); compiled, the ``struct`` method call, the two dict checks and the tuple made again it
replaces were about 2,300 instructions per Accepted. Else None (pure Python: the ``struct`` path)."""


def _length_error(name: str, size: int, expected: int) -> DecodeError:
    if size < expected:
        return DecodeError(TRUNCATED, f"{name}: {size} bytes, needs {expected}")
    return DecodeError(BAD_LENGTH, f"{name}: {size} bytes but the layout needs {expected}")


def _options(name: str, buf: Buffer, start: int, end: int) -> Options | DecodeError:
    decoded = decode_options(buf, start, end)
    if isinstance(decoded, DecodeError):
        return DecodeError(decoded.kind, f"{name}: {decoded.text}")
    return decoded


def decode_accepted(buf: Buffer) -> OrderAccepted | DecodeError:
    """Decode Order Accepted with one ``unpack_from``."""
    size = len(buf)
    if size < 64:
        return _length_error("Order Accepted", size, 64)
    ts, urn, side, qty, sym, price, tif, disp, orn, cap, ise, cross, state, clid, alen = _ACCEPTED.unpack_from(buf)
    if size != 64 + alen:
        return _length_error("Order Accepted", size, 64 + alen)
    side_char = _SIDE.get(side)
    state_char = _STATE.get(state)
    if side_char is None or state_char is None:
        return DecodeError(BAD_ENUM, f"Order Accepted: side {side!r} / order state {state!r}")
    options = NO_OPTIONS if alen == 0 else _options("Order Accepted", buf, 64, size)
    if isinstance(options, DecodeError):
        return options
    return OrderAccepted(
        ts,
        urn,
        side_char,
        qty,
        sym.decode("latin-1").rstrip(" "),
        price,
        _CHR[tif],
        _CHR[disp],
        orn,
        _CHR[cap],
        _CHR[ise],
        _CHR[cross],
        state_char,
        clid.decode("latin-1").rstrip(" "),
        options,
    )


def accepted_core(buf: Buffer) -> tuple[int, int, int, int, str] | DecodeError:
    """Return (UserRefNum, quantity, price, Order Reference Number, order state) of Order Accepted.

    The gateway adapter's hot path: the same length, side and state checks as
    ``decode_accepted`` without building the message (symbol and ClOrdID stay undecoded).
    Anything but the 64-byte form without options goes through ``decode_accepted``.
    """
    core = _CORE
    if core is not None:  # compiled: the same checks and the same tuple, in one C call
        # (the tuple as C made it: typed as the return's union, compiled it is not unboxed and boxed again)
        fields: tuple[int, int, int, int, str] | DecodeError | None = core(buf)
        if fields is not None:
            return fields
    elif len(buf) == 64:
        urn, side, qty, price, orn, state, alen = _ACCEPTED_CORE.unpack_from(buf)
        try:  # a subscript, no method call; anything unusual goes to decode_accepted below
            state_char = _STATE[state]
        except KeyError:
            state_char = None
        if alen == 0 and state_char is not None and side in _SIDE:
            return urn, qty, price, orn, state_char
    message = decode_accepted(buf)
    if isinstance(message, DecodeError):
        return message
    return (
        message.user_ref_num,
        message.quantity,
        message.price,
        message.order_reference_number,
        message.order_state,
    )


def decode_replaced(buf: Buffer) -> OrderReplaced | DecodeError:
    """Decode Order Replaced with one ``unpack_from``."""
    size = len(buf)
    if size < 68:
        return _length_error("Order Replaced", size, 68)
    (ts, orig, urn, side, qty, sym, price, tif, disp, orn, cap, ise, cross, state, clid, alen) = _REPLACED.unpack_from(
        buf
    )
    if size != 68 + alen:
        return _length_error("Order Replaced", size, 68 + alen)
    side_char = _SIDE.get(side)
    state_char = _STATE.get(state)
    if side_char is None or state_char is None:
        return DecodeError(BAD_ENUM, f"Order Replaced: side {side!r} / order state {state!r}")
    options = NO_OPTIONS if alen == 0 else _options("Order Replaced", buf, 68, size)
    if isinstance(options, DecodeError):
        return options
    return OrderReplaced(
        ts,
        orig,
        urn,
        side_char,
        qty,
        sym.decode("latin-1").rstrip(" "),
        price,
        _CHR[tif],
        _CHR[disp],
        orn,
        _CHR[cap],
        _CHR[ise],
        _CHR[cross],
        state_char,
        clid.decode("latin-1").rstrip(" "),
        options,
    )


def decode_executed(buf: Buffer) -> OrderExecuted | DecodeError:
    """Decode Order Executed with one ``unpack_from``."""
    size = len(buf)
    if size < 36:
        return _length_error("Order Executed", size, 36)
    ts, urn, qty, price, liquidity, match, alen = _EXECUTED.unpack_from(buf)
    if size != 36 + alen:
        return _length_error("Order Executed", size, 36 + alen)
    options = NO_OPTIONS if alen == 0 else _options("Order Executed", buf, 36, size)
    if isinstance(options, DecodeError):
        return options
    return OrderExecuted(ts, urn, qty, price, _CHR[liquidity], match, options)


def decode_canceled(buf: Buffer) -> OrderCanceled | DecodeError:
    """Decode Order Canceled (with or without Appendage Length) with one ``unpack_from``."""
    size = len(buf)
    if size == 18:
        ts, urn, qty, reason = _CANCELED_SHORT.unpack_from(buf)
        return OrderCanceled(ts, urn, qty, _CHR[reason])
    if size < 20:
        return _length_error("Order Canceled", size, 20)
    ts, urn, qty, reason, alen = _CANCELED.unpack_from(buf)
    if size != 20 + alen:
        return _length_error("Order Canceled", size, 20 + alen)
    options = NO_OPTIONS if alen == 0 else _options("Order Canceled", buf, 20, size)
    if isinstance(options, DecodeError):
        return options
    return OrderCanceled(ts, urn, qty, _CHR[reason], options)


def decode_rejected(buf: Buffer) -> OrderRejected | DecodeError:
    """Decode Rejected (with or without Appendage Length) with one ``unpack_from``."""
    size = len(buf)
    if size == 29:
        ts, urn, reason, clid = _REJECTED_SHORT.unpack_from(buf)
        return OrderRejected(ts, urn, reason, clid.decode("latin-1").rstrip(" "))
    if size < 31:
        return _length_error("Rejected", size, 31)
    ts, urn, reason, clid, alen = _REJECTED.unpack_from(buf)
    if size != 31 + alen:
        return _length_error("Rejected", size, 31 + alen)
    options = NO_OPTIONS if alen == 0 else _options("Rejected", buf, 31, size)
    if isinstance(options, DecodeError):
        return options
    return OrderRejected(ts, urn, reason, clid.decode("latin-1").rstrip(" "), options)


def decode_fixed_part(buf: Buffer) -> OutboundMessage | DecodeError:
    """Decode the fields of an outbound message before its Appendage Length, passing over the rest.

    For a message that failed to decode only because of its appendage (an Appendage Length that does not
    match the message's length, a malformed TagValue, a cut Appendage Length): its fields are where the
    layout puts them, so what they say (a fill's quantity and price) is not lost. A message shorter than
    its fields, with a code field outside its enumeration, or of a type without an appendage stays a
    ``DecodeError``. The message has no options.
    """
    if not buf:
        return DecodeError(TRUNCATED, "empty message")
    layout = _OUTBOUND_BY_TYPE.get(buf[0])
    if layout is None:
        return DecodeError(UNKNOWN_TYPE, f"unknown outbound message type 0x{buf[0]:02X}")
    if layout.appendage == NO_APPENDAGE:
        return DecodeError(BAD_LENGTH, f"{layout.name} has no appendage")
    return _decode_with_layout(layout, buf, fixed_part_only=True)  # type: ignore[return-value]


def outbound_name(type_byte: int) -> str:
    """Return the name of an outbound message type ("" for a type OUCH 5.0 does not define)."""
    layout = _OUTBOUND_BY_TYPE.get(type_byte)
    return layout.name if layout is not None else ""


def _generic(layout: _Layout) -> Callable[[Buffer], OutboundMessage | DecodeError]:
    def decode(buf: Buffer) -> OutboundMessage | DecodeError:
        return _decode_with_layout(layout, buf)  # type: ignore[return-value]

    return decode


OUTBOUND_DECODERS: Final[dict[int, Callable[[Buffer], OutboundMessage | DecodeError]]] = {
    layout.type_byte: _generic(layout) for layout in OUTBOUND_LAYOUTS
}
OUTBOUND_DECODERS.update(
    {
        ord("A"): decode_accepted,
        ord("U"): decode_replaced,
        ord("E"): decode_executed,
        ord("C"): decode_canceled,
        ord("J"): decode_rejected,
    }
)


def decode_outbound(buf: Buffer) -> OutboundMessage | DecodeError:
    """Decode one exchange -> client message (the payload of a SoupBinTCP Sequenced Data packet)."""
    if not buf:
        return DecodeError(TRUNCATED, "empty message")
    decoder = OUTBOUND_DECODERS.get(buf[0])
    if decoder is None:
        return DecodeError(UNKNOWN_TYPE, f"unknown outbound message type 0x{buf[0]:02X}")
    return decoder(buf)


# --------------------------------------------------------------------------------------
# Hot path: inbound encoders writing whole SoupBinTCP packets
# --------------------------------------------------------------------------------------

ENTER_ORDER_PACKET: Final = struct.Struct(">HccIcI8sQccccc14sH")
"""SoupBinTCP header + Enter Order fixed part (3 + 47 bytes)."""
REPLACE_ORDER_PACKET: Final = struct.Struct(">HccIIIQccc14sH")
"""SoupBinTCP header + Replace Order fixed part (3 + 40 bytes)."""
_REPLACE_TERMS: Final = struct.Struct(">IQ")
"""Quantity and Price of a Replace Order packet (``REPLACE_ORDER_PACKET``), at byte 12."""
CANCEL_ORDER_PACKET: Final = struct.Struct(">HccIIH")
"""SoupBinTCP header + Cancel Order with Appendage Length (3 + 11 bytes)."""

_ENTER_BLANK: Final = bytes(ENTER_ORDER_PACKET.size)
_REPLACE_BLANK: Final = bytes(REPLACE_ORDER_PACKET.size)
_CANCEL_BLANK: Final = bytes(CANCEL_ORDER_PACKET.size)
_U: Final = b"U"


def pack_enter_order(
    buf: bytearray,
    user_ref_num: int,
    side: bytes,
    quantity: int,
    symbol: bytes,
    price: int,
    time_in_force: bytes,
    display: bytes,
    capacity: bytes,
    intermarket_sweep: bytes,
    cross_type: bytes,
    cl_ord_id: bytes,
    appendage: bytes = b"",
) -> int:
    """Append an Unsequenced Data packet carrying an Enter Order to ``buf``; return the offset it starts at.

    A value out of range raises ``struct.error`` and leaves ``buf`` as it was.

    ``symbol`` (8) and ``cl_ord_id`` (14) must already be space-padded to full width;
    one-byte codes are 1-byte ``bytes``; ``appendage`` is pre-encoded TagValue bytes.
    """
    start = len(buf)
    buf += _ENTER_BLANK
    try:  # free until raised: a value out of range leaves ``buf`` as it was (no zeroed packet on the wire)
        appendage_size = len(appendage) if appendage else 0  # no call for the common order without options
        ENTER_ORDER_PACKET.pack_into(
            buf,
            start,
            48 + appendage_size,
            _U,
            b"O",
            user_ref_num,
            side,
            quantity,
            symbol,
            price,
            time_in_force,
            display,
            capacity,
            intermarket_sweep,
            cross_type,
            cl_ord_id,
            appendage_size,
        )
        if appendage:
            buf += appendage
    except BaseException:
        del buf[start:]
        raise
    return start


def pack_replace_order(
    buf: bytearray,
    orig_user_ref_num: int,
    user_ref_num: int,
    quantity: int,
    price: int,
    time_in_force: bytes,
    display: bytes,
    intermarket_sweep: bytes,
    cl_ord_id: bytes,
    appendage: bytes = b"",
) -> None:
    """Append an Unsequenced Data packet carrying a Replace Order Request to ``buf``."""
    start = len(buf)
    buf += _REPLACE_BLANK
    try:  # a value out of range leaves ``buf`` as it was (no zeroed packet on the wire)
        REPLACE_ORDER_PACKET.pack_into(
            buf,
            start,
            41 + len(appendage),
            _U,
            b"U",
            orig_user_ref_num,
            user_ref_num,
            quantity,
            price,
            time_in_force,
            display,
            intermarket_sweep,
            cl_ord_id,
            len(appendage),
        )
        if appendage:
            buf += appendage
    except BaseException:
        del buf[start:]
        raise


def replace_packet_terms(packet: bytes | bytearray) -> tuple[int, int]:
    """Return the (Quantity, Price) a Replace Order packet built by ``pack_replace_order`` asked for.

    Quantity is the order's new total (shares executed included: the venue leaves Quantity less what executed
    open), Price its new limit.
    """
    quantity, price = _REPLACE_TERMS.unpack_from(packet, 12)
    return quantity, price


def pack_cancel_order(buf: bytearray, user_ref_num: int, quantity: int) -> None:
    """Append an Unsequenced Data packet carrying a Cancel Order Request (no appendage) to ``buf``."""
    start = len(buf)
    buf += _CANCEL_BLANK
    try:  # a value out of range leaves ``buf`` as it was (no zeroed packet on the wire)
        CANCEL_ORDER_PACKET.pack_into(buf, start, 12, _U, b"X", user_ref_num, quantity, 0)
    except BaseException:
        del buf[start:]
        raise

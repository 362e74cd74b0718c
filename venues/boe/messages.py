"""Cboe US Equities BOE v2 messages (reference: /work/shared/specs/cboe-boe2.md, "the reference").

Every message starts with the 10-byte header ``BA BA | MessageLength u16 | MessageType |
MatchingUnit | SequenceNumber u32``, little-endian throughout (reference §1). Application messages
end with optional fields whose presence is given by bitfield bytes (§3); which fields exist in
which bitfield bit is the table-driven part: ``NEW_ORDER_FIELDS``, ``CANCEL_ORDER_FIELDS``,
``MODIFY_ORDER_FIELDS`` and ``RETURN_FIELDS`` list ``(bitfield byte, bit, field name, struct
format)`` in wire order, and the codec derives everything else from them.

Field conventions: prices are signed integers with 4 implied decimals (the gateway's own
``PRICE_SCALE``); DateTime is nanoseconds since the Unix epoch (UTC); text fields are ``str``
without their NUL padding; one-byte codes are 1-character ``str``, and ``""`` stands for the
byte 0x00 (a requested return field that does not apply, reference §3.1 rule 6).

Optional fields are held in one struct per table (``NewOrderFields`` ...): ``None`` means "not
present". ``bitfield_count`` is the number of bitfield bytes on the wire; the encoder sends at
least as many as the present fields need, more (trailing zero bytes, as real clients do) when
``bitfield_count`` says so.
"""

from __future__ import annotations

from typing import Final, NamedTuple

import msgspec

# --------------------------------------------------------------------------------------
# Message types (reference §2)
# --------------------------------------------------------------------------------------

LOGIN_REQUEST: Final = 0x37
LOGOUT_REQUEST: Final = 0x02
CLIENT_HEARTBEAT: Final = 0x03
NEW_ORDER: Final = 0x38
CANCEL_ORDER: Final = 0x39
MODIFY_ORDER: Final = 0x3A

LOGIN_RESPONSE: Final = 0x24
LOGOUT: Final = 0x08
SERVER_HEARTBEAT: Final = 0x09
REPLAY_COMPLETE: Final = 0x13
ORDER_ACKNOWLEDGMENT: Final = 0x25
ORDER_REJECTED: Final = 0x26
ORDER_MODIFIED: Final = 0x27
ORDER_RESTATED: Final = 0x28
USER_MODIFY_REJECTED: Final = 0x29
ORDER_CANCELLED: Final = 0x2A
CANCEL_REJECTED: Final = 0x2B
ORDER_EXECUTION: Final = 0x2C
TRADE_CANCEL_OR_CORRECT: Final = 0x2D

SESSION_TYPES_FROM_CBOE: Final = frozenset({LOGIN_RESPONSE, LOGOUT, SERVER_HEARTBEAT, REPLAY_COMPLETE})
RETURN_TYPES: Final = (
    ORDER_ACKNOWLEDGMENT,
    ORDER_REJECTED,
    ORDER_MODIFIED,
    ORDER_RESTATED,
    USER_MODIFY_REJECTED,
    ORDER_CANCELLED,
    CANCEL_REJECTED,
    ORDER_EXECUTION,
    TRADE_CANCEL_OR_CORRECT,
)
"""Cboe -> member application messages: sequenced per matching unit, carrying return bitfields."""

PARAM_UNIT_SEQUENCES: Final = 0x80
PARAM_RETURN_BITFIELDS: Final = 0x81

# --------------------------------------------------------------------------------------
# Enumerations (reference §4.2, §4.4, §8, §9)
# --------------------------------------------------------------------------------------

LOGIN_ACCEPTED: Final = "A"
LOGIN_NOT_AUTHORIZED: Final = "N"
LOGIN_SESSION_DISABLED: Final = "D"
LOGIN_SEQUENCE_AHEAD: Final = "Q"
LOGIN_INVALID_UNIT: Final = "I"
LOGIN_UNITS_AUTHORITATIVE: Final = frozenset({LOGIN_ACCEPTED, LOGIN_SEQUENCE_AHEAD})
"""LoginResponseStatus codes whose unit list is Cboe's word on each unit's highest sequence (a unit below our mark
was renumbered); any other refusal's list (``B`` in use, ...) says nothing about the units and changes none."""
LOGIN_AUTHORIZATION_REFUSALS: Final = frozenset({LOGIN_NOT_AUTHORIZED, LOGIN_SESSION_DISABLED})
"""LoginResponseStatus codes that refuse the credentials themselves: retrying cannot help (and may lock the
account)."""
LOGIN_CONFIG_REFUSALS: Final = frozenset({"S", "F", "M"})
"""LoginResponseStatus codes that refuse what the venue config makes of the Login Request (``S`` invalid session,
``F`` invalid return bitfield, ``M`` structurally invalid): the same login gets the same answer, so retrying cannot
help either."""
LOGIN_LASTING_REFUSALS: Final = LOGIN_AUTHORIZATION_REFUSALS | LOGIN_CONFIG_REFUSALS
"""Refusals no retry cures: counted towards ``max_login_refusals`` (then LOGIN_REFUSED). So is an ``I`` (invalid
unit) the session cannot correct by dropping units. ``B`` (session in use: the other connection goes) and ``Q``
(sequence ahead: corrected when Cboe lists the units, else Cboe may catch up) keep the usual backoff."""
_RESTART: Final = (
    "correct the venue config and restart the gateway (the config is read at start: `gateway venue reconnect` would "
    "log in with the same one, and Cboe counts each refused login)"
)
LOGIN_REFUSAL_FIX: Final = {
    "N": f"if username, password or session_sub_id in the venue config is wrong, {_RESTART}; if they are right, ask "
    "Cboe to unlock the account, then run `gateway venue reconnect {venue}`",
    "D": "if Cboe's trading day is over (Cboe refuses logins after its end of day; the reference gives D only as "
    f"'session disabled'), nothing until the next trading day's start; if session_sub_id in the venue config is "
    f"wrong (it names the session), {_RESTART}; otherwise ask Cboe to enable the session, then run "
    "`gateway venue reconnect {venue}`",
    "S": "if session_sub_id (the SessionSubID Cboe assigned to this port) or host/port in the venue config is wrong, "
    f"{_RESTART}; if they are right, ask Cboe to open the session, then run `gateway venue reconnect {{venue}}`",
    "F": "check return_fields in the venue config: Cboe refuses a return bitfield it asks for (its text may name it); "
    f"{_RESTART}",
    "M": "if session_sub_id, username or password in the venue config is not what Cboe assigned, "
    f"{_RESTART}; if they are right, the gateway built a Login Request Cboe cannot read: report it",
    "I": f"check matching_units in the venue config: the login lists a matching unit Cboe does not have; {_RESTART}",
}
"""What an operator does about each lasting refusal (the ERROR line and ``gateway status`` say it, the venue's name
for ``{venue}``): a wrong venue config needs a restart, ``gateway venue reconnect`` only helps once Cboe fixed its side
(lows57: the advice was to fix the config, then reconnect, which spent ``max_login_refusals`` more refused logins)."""
LOGIN_STATUS: Final = {
    "A": "login accepted",
    "N": "not authorized (bad username or password)",
    "D": "session disabled",
    "B": "session already in use",
    "S": "invalid session",
    "Q": "sequence ahead: a unit sequence is above what Cboe has sent",
    "I": "invalid unit in the login",
    "F": "invalid return bitfield in the login",
    "M": "Login Request structurally invalid",
}
"""LoginResponseStatus codes (reference §4.2)."""

LOGOUT_USER_REQUESTED: Final = "U"
LOGOUT_END_OF_DAY: Final = "E"
LOGOUT_ADMINISTRATIVE: Final = "A"
LOGOUT_PROTOCOL_VIOLATION: Final = "!"
LOGOUT_REASONS: Final = {
    "U": "member asked to log out",
    "E": "end of day",
    "A": "administrative",
    "!": "protocol violation",
}

REASON_CODES: Final = {
    "A": "administrative",
    "C": "capacity undefined",
    "D": "duplicate identifier",
    "E": "size cut because of an SWP restatement",
    "F": "failed to quote",
    "H": "halted",
    "I": "wrong data center",
    "J": "too late to cancel",
    "K": "order-rate threshold exceeded",
    "L": "would lock or cross the NBBO",
    "M": "order size too large",
    "N": "no liquidity left to trade against",
    "O": "ClOrdID does not match any known order",
    "P": "order has a fill pending and cannot be changed",
    "Q": "waiting for first trade",
    "R": "routing unavailable",
    "S": "short-sale price violation",
    "T": "fill would trade through the NBBO",
    "U": "user requested",
    "V": "would wash (self-trade)",
    "W": "add-liquidity-only order would remove",
    "X": "order expired",
    "Y": "symbol not supported",
    "Z": "unforeseen reason",
    "f": "risk management (MPID, custom or risk group level)",
    "m": "market-access risk limit exceeded",
    "o": "too many open orders",
    "r": "reserve reload",
    "s": "risk management (risk root or symbol level)",
    "u": "limit up-limit down",
    "w": "would remove on unslide",
    "x": "crossed market",
    "y": "received while a replay was in progress",
}
"""The shared reason list of Order Rejected, Order Cancelled, Cancel Rejected and User Modify Rejected (§8)."""

RESTATEMENT_REASONS: Final = {
    "C": "Cboe Market Close",
    "L": "reload (reserve)",
    "P": "peg or price-sliding reprice",
    "Q": "liquidity updated",
    "R": "reroute",
    "S": "quantity cut due to SWP",
    "W": "wash, or MTP decrement",
}

SIDES: Final = frozenset("1256")
"""1 buy, 2 sell, 5 sell short, 6 sell short exempt."""
ORD_TYPES: Final = frozenset("1234P")
"""1 market, 2 limit, 3 stop, 4 stop limit, P pegged."""
TIME_IN_FORCES: Final = frozenset("01234567RETXP")
CAPACITIES: Final = frozenset("APR")

SIDE_BUY: Final = "1"
SIDE_SELL: Final = "2"
SIDE_SELL_SHORT: Final = "5"
SIDE_SELL_SHORT_EXEMPT: Final = "6"
ORD_TYPE_MARKET: Final = "1"
ORD_TYPE_LIMIT: Final = "2"
TIF_DAY: Final = "0"
TIF_GTC: Final = "1"
TIF_IOC: Final = "3"
TIF_FOK: Final = "4"

MAX_CL_ORD_ID: Final = 20

# --------------------------------------------------------------------------------------
# Optional-field tables (reference §5.1, §5.2, §5.3, §6.2)
# --------------------------------------------------------------------------------------


class OptionalField(NamedTuple):
    """One optional field: where its presence bit is and how it is packed."""

    byte: int
    """Bitfield number, 1-based."""
    bit: int
    """Bit value inside the bitfield byte (0x01 = first field of the byte)."""
    name: str
    """Attribute name in the fields struct."""
    fmt: str
    """``struct`` format, little-endian: B H I Q (unsigned), q (signed price), ``Ns`` (NUL-padded text)."""


def _f(byte: int, bit: int, name: str, fmt: str) -> OptionalField:
    return OptionalField(byte, bit, name, fmt)


NEW_ORDER_FIELDS: Final = (
    _f(1, 0x01, "clearing_firm", "4s"),
    _f(1, 0x02, "clearing_account", "4s"),
    _f(1, 0x04, "price", "q"),
    _f(1, 0x08, "exec_inst", "1s"),
    _f(1, 0x10, "ord_type", "1s"),
    _f(1, 0x20, "time_in_force", "1s"),
    _f(1, 0x40, "min_qty", "I"),
    _f(1, 0x80, "max_floor", "I"),
    _f(2, 0x01, "symbol", "8s"),
    _f(2, 0x02, "symbol_sfx", "8s"),
    _f(2, 0x40, "capacity", "1s"),
    _f(2, 0x80, "routing_inst", "4s"),
    _f(3, 0x01, "account", "16s"),
    _f(3, 0x02, "display_indicator", "1s"),
    _f(3, 0x04, "max_remove_pct", "B"),
    _f(3, 0x08, "discretion_amount", "H"),
    _f(3, 0x10, "peg_difference", "q"),
    _f(3, 0x20, "prevent_match", "3s"),
    _f(3, 0x40, "locate_reqd", "1s"),
    _f(3, 0x80, "expire_time", "Q"),
    _f(4, 0x08, "risk_reset", "8s"),
    _f(5, 0x02, "attributed_quote", "1s"),
    _f(5, 0x08, "ext_exec_inst", "1s"),
    _f(6, 0x01, "display_range", "I"),
    _f(6, 0x02, "stop_px", "q"),
    _f(6, 0x04, "rout_strategy", "6s"),
    _f(6, 0x08, "route_delivery_method", "3s"),
    _f(6, 0x10, "ex_destination", "1s"),
    _f(6, 0x20, "echo_text", "64s"),
    _f(7, 0x02, "custom_group_id", "H"),
)
"""New Order bitfields 1-7 (2.3 layouts, [O23][I01][CAP]). 2.4.x additions have no verified bit and are absent."""

CANCEL_ORDER_FIELDS: Final = (_f(1, 0x01, "clearing_firm", "4s"),)
"""Cancel Order: only ClearingFirm in 2.3; the 2.4.57 mass-cancel bits are unverified and absent."""

MODIFY_ORDER_FIELDS: Final = (
    _f(1, 0x01, "clearing_firm", "4s"),
    _f(1, 0x04, "order_qty", "I"),
    _f(1, 0x08, "price", "q"),
    _f(1, 0x10, "ord_type", "1s"),
    _f(1, 0x20, "cancel_orig_on_reject", "1s"),
    _f(1, 0x40, "exec_inst", "1s"),
    _f(1, 0x80, "side", "1s"),
    _f(2, 0x01, "max_floor", "I"),
    _f(2, 0x02, "stop_px", "q"),
)
"""Modify Order bitfields ([O23][I01][CAP]; OrderQty and Price are required on every Modify)."""

RETURN_FIELDS: Final = (
    _f(1, 0x01, "side", "1s"),
    _f(1, 0x02, "peg_difference", "q"),
    _f(1, 0x04, "price", "q"),
    _f(1, 0x08, "exec_inst", "1s"),
    _f(1, 0x10, "ord_type", "1s"),
    _f(1, 0x20, "time_in_force", "1s"),
    _f(1, 0x40, "min_qty", "I"),
    _f(1, 0x80, "max_remove_pct", "B"),
    _f(2, 0x01, "symbol", "8s"),
    _f(2, 0x02, "symbol_sfx", "8s"),
    _f(2, 0x40, "capacity", "1s"),
    _f(3, 0x01, "account", "16s"),
    _f(3, 0x02, "clearing_firm", "4s"),
    _f(3, 0x04, "clearing_account", "4s"),
    _f(3, 0x08, "display_indicator", "1s"),
    _f(3, 0x10, "max_floor", "I"),
    _f(3, 0x20, "discretion_amount", "H"),
    _f(3, 0x40, "order_qty", "I"),
    _f(3, 0x80, "prevent_match", "3s"),
    _f(5, 0x01, "orig_cl_ord_id", "20s"),
    _f(5, 0x02, "leaves_qty", "I"),
    _f(5, 0x04, "last_shares", "I"),
    _f(5, 0x08, "last_px", "q"),
    _f(5, 0x10, "display_price", "q"),
    _f(5, 0x20, "working_price", "q"),
    _f(5, 0x40, "base_liquidity_indicator", "1s"),
    _f(5, 0x80, "expire_time", "Q"),
    _f(6, 0x01, "secondary_order_id", "Q"),
    _f(6, 0x04, "contra_capacity", "1s"),
    _f(6, 0x08, "attributed_quote", "1s"),
    _f(6, 0x10, "ext_exec_inst", "1s"),
    _f(7, 0x01, "sub_liquidity_indicator", "1s"),
    _f(8, 0x01, "fee_code", "2s"),
    _f(8, 0x02, "echo_text", "64s"),
    _f(8, 0x04, "stop_px", "q"),
    _f(8, 0x08, "routing_inst", "4s"),
    _f(8, 0x10, "rout_strategy", "6s"),
    _f(8, 0x20, "route_delivery_method", "3s"),
    _f(8, 0x40, "ex_destination", "1s"),
    _f(15, 0x08, "mass_cancel_id", "20s"),
)
"""Return bitfields 1-15 (reference §6.2; RBF1 0x80 MaxRemovePct and RBF6 0x04 ContraCapacity from [CAP])."""


def _bits(*spec: tuple[int, int]) -> dict[int, int]:
    allowed: dict[int, int] = {}
    for byte, mask in spec:
        allowed[byte] = allowed.get(byte, 0) | mask
    return allowed


_ALL = 0xFF
RETURN_ALLOWED: Final[dict[int, dict[int, int]]] = {
    ORDER_ACKNOWLEDGMENT: _bits(
        (1, _ALL), (2, 0x43), (3, _ALL), (5, _ALL), (6, 0x19), (7, 0x01), (8, 0x7F), (15, 0x08)
    ),
    ORDER_REJECTED: _bits((1, _ALL), (2, 0x43), (3, _ALL), (6, 0x19), (8, 0x7E)),
    ORDER_MODIFIED: _bits((1, _ALL), (2, 0x43), (3, _ALL), (5, _ALL), (6, 0x19), (7, 0x01), (8, 0x7E), (15, 0x08)),
    ORDER_RESTATED: _bits((1, _ALL), (2, 0x43), (3, _ALL), (5, _ALL), (6, 0x19), (7, 0x01), (8, 0x7E), (15, 0x08)),
    USER_MODIFY_REJECTED: _bits((7, 0x01)),
    ORDER_CANCELLED: _bits((1, _ALL), (2, 0x43), (3, _ALL), (5, _ALL), (6, 0x19), (7, 0x01), (8, 0x7E), (15, 0x08)),
    CANCEL_REJECTED: _bits((1, _ALL), (2, 0x43), (8, 0x16)),
    ORDER_EXECUTION: _bits((1, _ALL), (2, 0x43), (3, _ALL), (6, 0x1C), (7, 0x01), (8, 0x7F)),
    TRADE_CANCEL_OR_CORRECT: _bits((2, 0x43), (7, 0x01)),
}
"""Return bits each message type may request (reference §6.2 table, from [O23]), widened by what the
2014 captures requested and were granted: RBF1 0x80 (MaxRemovePct, all types with RBF1), RBF7 0x01 on
Modified/Restated/Cancelled, RBF6 0x04 (ContraCapacity) on Execution. The simulator answers any other
bit with LoginResponseStatus F; the gateway's own config is checked against it too."""

# --------------------------------------------------------------------------------------
# Structs
# --------------------------------------------------------------------------------------


class _Message(msgspec.Struct, frozen=True, gc=False):
    """Base for BOE messages."""


class NewOrderFields(msgspec.Struct, frozen=True, gc=False):
    """Optional fields of New Order, in bit order; ``None`` = absent."""

    clearing_firm: str | None = None
    clearing_account: str | None = None
    price: int | None = None
    exec_inst: str | None = None
    ord_type: str | None = None
    time_in_force: str | None = None
    min_qty: int | None = None
    max_floor: int | None = None
    symbol: str | None = None
    symbol_sfx: str | None = None
    capacity: str | None = None
    routing_inst: str | None = None
    account: str | None = None
    display_indicator: str | None = None
    max_remove_pct: int | None = None
    discretion_amount: int | None = None
    peg_difference: int | None = None
    prevent_match: str | None = None
    locate_reqd: str | None = None
    expire_time: int | None = None
    risk_reset: str | None = None
    attributed_quote: str | None = None
    ext_exec_inst: str | None = None
    display_range: int | None = None
    stop_px: int | None = None
    rout_strategy: str | None = None
    route_delivery_method: str | None = None
    ex_destination: str | None = None
    echo_text: str | None = None
    custom_group_id: int | None = None


class CancelOrderFields(msgspec.Struct, frozen=True, gc=False):
    """Optional fields of Cancel Order."""

    clearing_firm: str | None = None


class ModifyOrderFields(msgspec.Struct, frozen=True, gc=False):
    """Optional fields of Modify Order (OrderQty and Price are required by Cboe)."""

    clearing_firm: str | None = None
    order_qty: int | None = None
    price: int | None = None
    ord_type: str | None = None
    cancel_orig_on_reject: str | None = None
    exec_inst: str | None = None
    side: str | None = None
    max_floor: int | None = None
    stop_px: int | None = None


class ReturnFields(msgspec.Struct, frozen=True, gc=False):
    """Optional fields of Cboe -> member application messages (return bitfields), in bit order."""

    side: str | None = None
    peg_difference: int | None = None
    price: int | None = None
    exec_inst: str | None = None
    ord_type: str | None = None
    time_in_force: str | None = None
    min_qty: int | None = None
    max_remove_pct: int | None = None
    symbol: str | None = None
    symbol_sfx: str | None = None
    capacity: str | None = None
    account: str | None = None
    clearing_firm: str | None = None
    clearing_account: str | None = None
    display_indicator: str | None = None
    max_floor: int | None = None
    discretion_amount: int | None = None
    order_qty: int | None = None
    prevent_match: str | None = None
    orig_cl_ord_id: str | None = None
    leaves_qty: int | None = None
    last_shares: int | None = None
    last_px: int | None = None
    display_price: int | None = None
    working_price: int | None = None
    base_liquidity_indicator: str | None = None
    expire_time: int | None = None
    secondary_order_id: int | None = None
    contra_capacity: str | None = None
    attributed_quote: str | None = None
    ext_exec_inst: str | None = None
    sub_liquidity_indicator: str | None = None
    fee_code: str | None = None
    echo_text: str | None = None
    stop_px: int | None = None
    routing_inst: str | None = None
    rout_strategy: str | None = None
    route_delivery_method: str | None = None
    ex_destination: str | None = None
    mass_cancel_id: str | None = None


NO_NEW_ORDER_FIELDS: Final = NewOrderFields()
NO_CANCEL_FIELDS: Final = CancelOrderFields()
NO_MODIFY_FIELDS: Final = ModifyOrderFields()
NO_RETURN_FIELDS: Final = ReturnFields()

# ---- session: parameter groups ---------------------------------------------------------


class UnitSequences(_Message, frozen=True):
    """Login parameter group 0x80: the last sequence received per matching unit (reference §4.1.1)."""

    no_unspecified_unit_replay: int
    """0 = also replay units not listed; 1 = do not."""
    units: tuple[tuple[int, int], ...] = ()
    """(unit number, last received sequence) pairs."""


class ReturnBitfields(_Message, frozen=True):
    """Login parameter group 0x81: which optional fields Cboe returns on ``message_type`` (§4.1.2)."""

    message_type: int
    bitfields: bytes


class UnknownParamGroup(_Message, frozen=True):
    """A parameter group of a type we do not know (kept raw: Cboe may add groups without notice)."""

    group_type: int
    data: bytes
    """The bytes after ParamGroupLength and ParamGroupType."""


ParamGroup = UnitSequences | ReturnBitfields | UnknownParamGroup

# ---- session messages ------------------------------------------------------------------


class LoginRequest(_Message, frozen=True):
    """0x37: the first message on a connection."""

    session_sub_id: str
    username: str
    password: str
    param_groups: tuple[ParamGroup, ...] = ()


class LoginResponse(_Message, frozen=True):
    """0x24: accepted (``A``) or why not; the highest sequence per unit; the login's groups echoed."""

    status: str
    text: str
    no_unspecified_unit_replay: int
    last_received_sequence: int
    """Last member -> Cboe sequence number Cboe processed."""
    units: tuple[tuple[int, int], ...] = ()
    """(unit, highest sequence Cboe has on it) for every unit."""
    param_groups: tuple[ParamGroup, ...] = ()


class LogoutRequest(_Message, frozen=True):
    """0x02: ask Cboe to end the session (it flushes, answers Logout U and closes)."""


class Logout(_Message, frozen=True):
    """0x08: the session is over (U requested, E end of day, A administrative, ! protocol violation)."""

    reason: str
    text: str
    last_received_sequence: int
    units: tuple[tuple[int, int], ...] = ()


class ClientHeartbeat(_Message, frozen=True):
    """0x03: the member is alive."""


class ServerHeartbeat(_Message, frozen=True):
    """0x09: Cboe is alive."""


class ReplayComplete(_Message, frozen=True):
    """0x13: every replayed message has been sent; orders are accepted from now on."""


# ---- member -> Cboe application messages -------------------------------------------------


class NewOrder(_Message, frozen=True):
    """0x38: a new order."""

    matching_unit: int
    sequence: int
    cl_ord_id: str
    side: str
    order_qty: int
    optional: NewOrderFields = NO_NEW_ORDER_FIELDS
    bitfield_count: int = 0


class CancelOrder(_Message, frozen=True):
    """0x39: cancel the order ``orig_cl_ord_id``."""

    matching_unit: int
    sequence: int
    orig_cl_ord_id: str
    optional: CancelOrderFields = NO_CANCEL_FIELDS
    bitfield_count: int = 0


class ModifyOrder(_Message, frozen=True):
    """0x3A: modify ``orig_cl_ord_id``; the order is known by ``cl_ord_id`` afterwards."""

    matching_unit: int
    sequence: int
    cl_ord_id: str
    orig_cl_ord_id: str
    optional: ModifyOrderFields = NO_MODIFY_FIELDS
    bitfield_count: int = 0


# ---- Cboe -> member application messages -------------------------------------------------


class OrderAcknowledgment(_Message, frozen=True):
    """0x25: the order is accepted; ``order_id`` is Cboe's id for it."""

    matching_unit: int
    sequence: int
    transaction_time: int
    cl_ord_id: str
    order_id: int
    optional: ReturnFields = NO_RETURN_FIELDS
    bitfield_count: int = 0


class OrderRejected(_Message, frozen=True):
    """0x26: a New Order was refused (MatchingUnit 0 / sequence 0 when the order handler refused it)."""

    matching_unit: int
    sequence: int
    transaction_time: int
    cl_ord_id: str
    reason: str
    text: str
    optional: ReturnFields = NO_RETURN_FIELDS
    bitfield_count: int = 0


class OrderModified(_Message, frozen=True):
    """0x27: a Modify took effect; ``cl_ord_id`` is the new ClOrdID."""

    matching_unit: int
    sequence: int
    transaction_time: int
    cl_ord_id: str
    order_id: int
    optional: ReturnFields = NO_RETURN_FIELDS
    bitfield_count: int = 0


class OrderRestated(_Message, frozen=True):
    """0x28: Cboe changed the order on its own (``reason`` from ``RESTATEMENT_REASONS``)."""

    matching_unit: int
    sequence: int
    transaction_time: int
    cl_ord_id: str
    order_id: int
    reason: str
    optional: ReturnFields = NO_RETURN_FIELDS
    bitfield_count: int = 0


class UserModifyRejected(_Message, frozen=True):
    """0x29: a Modify Order was refused; the order is unchanged."""

    matching_unit: int
    sequence: int
    transaction_time: int
    cl_ord_id: str
    reason: str
    text: str
    optional: ReturnFields = NO_RETURN_FIELDS
    bitfield_count: int = 0


class OrderCancelled(_Message, frozen=True):
    """0x2A: the order is gone (all of what was open)."""

    matching_unit: int
    sequence: int
    transaction_time: int
    cl_ord_id: str
    reason: str
    optional: ReturnFields = NO_RETURN_FIELDS
    bitfield_count: int = 0


class CancelRejected(_Message, frozen=True):
    """0x2B: a Cancel Order was refused."""

    matching_unit: int
    sequence: int
    transaction_time: int
    cl_ord_id: str
    reason: str
    text: str
    optional: ReturnFields = NO_RETURN_FIELDS
    bitfield_count: int = 0


class OrderExecution(_Message, frozen=True):
    """0x2C: ``last_shares`` executed at ``last_px``; ``leaves_qty`` still open."""

    matching_unit: int
    sequence: int
    transaction_time: int
    cl_ord_id: str
    exec_id: int
    last_shares: int
    last_px: int
    leaves_qty: int
    base_liquidity_indicator: str
    sub_liquidity_indicator: str
    contra_broker: str
    optional: ReturnFields = NO_RETURN_FIELDS
    bitfield_count: int = 0


class TradeCancelOrCorrect(_Message, frozen=True):
    """0x2D: the execution ``exec_ref_id`` was busted (``corrected_price`` 0) or its price corrected."""

    matching_unit: int
    sequence: int
    transaction_time: int
    cl_ord_id: str
    order_id: int
    exec_ref_id: int
    side: str
    base_liquidity_indicator: str
    clearing_firm: str
    clearing_account: str
    last_shares: int
    last_px: int
    corrected_price: int
    orig_time: int
    optional: ReturnFields = NO_RETURN_FIELDS
    bitfield_count: int = 0


InboundMessage = LoginRequest | LogoutRequest | ClientHeartbeat | NewOrder | CancelOrder | ModifyOrder
"""Member -> Cboe."""
OutboundMessage = (
    LoginResponse
    | Logout
    | ServerHeartbeat
    | ReplayComplete
    | OrderAcknowledgment
    | OrderRejected
    | OrderModified
    | OrderRestated
    | UserModifyRejected
    | OrderCancelled
    | CancelRejected
    | OrderExecution
    | TradeCancelOrCorrect
)
"""Cboe -> member."""
ReturnMessage = (
    OrderAcknowledgment
    | OrderRejected
    | OrderModified
    | OrderRestated
    | UserModifyRejected
    | OrderCancelled
    | CancelRejected
    | OrderExecution
    | TradeCancelOrCorrect
)
Message = InboundMessage | OutboundMessage


def reason_text(code: str) -> str:
    """Return the meaning of a reject / cancel reason code (a generic text for unknown codes)."""
    return REASON_CODES.get(code, f"unknown reason {code!r}")


def login_status_text(status: str) -> str:
    """Return the meaning of a LoginResponseStatus."""
    return LOGIN_STATUS.get(status, f"unknown login status {status!r}")


def login_refusal_fix(status: str, venue: str) -> str:
    """Return what an operator does after Cboe refused the login of ``venue`` with ``status`` for good."""
    fix = LOGIN_REFUSAL_FIX.get(
        status,
        "ask Cboe why it refuses the login: if the venue config is wrong, {restart}; once Cboe fixed its side, run "
        "`gateway venue reconnect {venue}`",
    )
    return fix.replace("{restart}", _RESTART).replace("{venue}", venue)

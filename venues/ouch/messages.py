"""OUCH 5.0 messages (Nasdaq OUCH 5.0 Order Entry Specification rev 1.04, sections 2 and 3).

Inbound messages travel client -> exchange in SoupBinTCP Unsequenced Data packets;
outbound messages travel exchange -> client in Sequenced Data packets and all start
with an 8-byte timestamp (nanoseconds since midnight). Several type letters exist in
both directions with different layouts, so code always decodes by direction.

Field conventions: prices are integers with 4 implied decimals (the gateway's own
``PRICE_SCALE``); alpha fields are ``str`` without their padding; one-byte codes are
1-character ``str``.
"""

from __future__ import annotations

from typing import Final

import msgspec

from venues.ouch.options import NO_OPTIONS, Options

MAX_PRICE: Final = 1_999_999_900
"""$199,999.9900, the highest limit price OUCH 5.0 accepts."""
MARKET_PRICE: Final = 0x7FFFFFFF
"""$214,748.3647: a market order in a cross."""
MAX_QUANTITY: Final = 999_999
"""Orders need 0 < quantity < 1,000,000; no replace chain may execute more."""

SIDES: Final = frozenset("BSTE")
ENTER_TIME_IN_FORCE: Final = frozenset("0356E")
REPLACE_TIME_IN_FORCE: Final = frozenset("0356")
ENTER_DISPLAY: Final = frozenset("YNA")
CAPACITIES: Final = frozenset("APRO")
SWEEP_ELIGIBILITY: Final = frozenset("YN")
CROSS_TYPES: Final = frozenset("NOCHSREA")
ORDER_STATES: Final = frozenset("LD")
SYSTEM_EVENT_CODES: Final = frozenset("SE")
BROKEN_TRADE_REASONS: Final = frozenset("ECSX")
RESTATED_REASONS: Final = frozenset("RP")

TIME_IN_FORCE_DAY: Final = "0"
TIME_IN_FORCE_IOC: Final = "3"
ORDER_STATE_LIVE: Final = "L"
ORDER_STATE_DEAD: Final = "D"

CANCEL_REASONS: Final = {
    "D": "regulatory restriction",
    "E": "closed",
    "F": "post only cancel (would be price-slid for NMS)",
    "G": "post only cancel (would be price-slid against a displayed order)",
    "H": "halted",
    "I": "immediate or cancel",
    "K": "market collars",
    "Q": "self match prevention",
    "S": "supervisory",
    "T": "timeout",
    "U": "user requested",
    "X": "open protection",
    "Z": "system cancel",
    "e": "direct listing capital raise: exceeds allowable shares",
}
"""OUCH 5.0 Appendix B "Order Cancel Reasons"."""

REJECT_REASONS: Final = {
    0x0001: "Quote Unavailable",
    0x0002: "Destination Closed",
    0x0003: "Invalid Display",
    0x0004: "Invalid Max Floor",
    0x0005: "Invalid Peg Type",
    0x0006: "Fat Finger",
    0x0007: "Halted",
    0x0008: "ISO Not Allowed",
    0x0009: "Invalid Side",
    0x000A: "Processing Error",
    0x000B: "Cancel Pending",
    0x000C: "Firm Not Authorized",
    0x000D: "Invalid Min Quantity",
    0x000E: "No Closing Reference Price",
    0x000F: "Other",
    0x0010: "Cancel Not Allowed",
    0x0011: "Pegging Not Allowed",
    0x0012: "Crossed Market",
    0x0013: "Invalid Quantity",
    0x0014: "Invalid Cross Order",
    0x0015: "Replace Not Allowed",
    0x0016: "Routing Not Allowed",
    0x0017: "Invalid Symbol",
    0x0018: "Test",
    0x0019: "Late LOC Too Aggressive",
    0x001A: "Retail Not Allowed",
    0x001B: "Invalid Midpoint Post Only Price",
    0x001C: "Invalid Destination",
    0x001D: "Invalid Price",
    0x001E: "Shares Exceed Threshold",
    0x001F: "Exceeds Maximum Allowed Notional Value",
    0x0020: "Risk: Aggregate Exposure Exceeded",
    0x0021: "Risk: Market Impact",
    0x0022: "Risk: Restricted Stock",
    0x0023: "Risk: Short Sell Restricted",
    0x0024: "Risk: ISO Not Allowed",
    0x0025: "Risk: Exceeds ADV Limit",
    0x0026: "Risk: Fat Finger",
    0x0027: "Risk: Locate Required",
    0x0028: "Risk: Symbol Message Rate Restriction",
    0x0029: "Risk: Port Message Rate Restriction",
    0x002A: "Risk: Duplicate Message Rate Restriction",
    0x002B: "Risk: Short Sell Not Allowed",
    0x002C: "Risk: Market Order Not Allowed",
    0x002D: "Risk: Pre-Market Not Allowed",
    0x002E: "Risk: Post-Market Not Allowed",
    0x002F: "Risk: Short Sell Exempt Not Allowed",
    0x0030: "Risk: Single Order Notional Exceeded",
    0x0031: "Risk: Max Quantity Exceeded",
    0x0032: "Reg SHO State Not Available",
    0x0033: "Risk: IPO Market Buy Not Allowed",
}
"""OUCH 5.0 Appendix C "Order Reject Reasons" (rev 1.04; unknown codes are generic rejects)."""

REJECT_DESTINATION_CLOSED: Final = 0x0002
REJECT_FAT_FINGER: Final = 0x0006
REJECT_INVALID_SIDE: Final = 0x0009
REJECT_OTHER: Final = 0x000F
REJECT_INVALID_QUANTITY: Final = 0x0013
REJECT_REPLACE_NOT_ALLOWED: Final = 0x0015
REJECT_INVALID_SYMBOL: Final = 0x0017
REJECT_INVALID_PRICE: Final = 0x001D
REJECT_SHARES_EXCEED_THRESHOLD: Final = 0x001E


class _Message(msgspec.Struct, frozen=True, gc=False):
    """Base for OUCH messages."""


# --------------------------------------------------------------------------------------
# Inbound (client -> exchange)
# --------------------------------------------------------------------------------------


class EnterOrder(_Message, frozen=True):
    """``O``: a new order."""

    user_ref_num: int
    side: str
    quantity: int
    symbol: str
    price: int
    time_in_force: str
    display: str
    capacity: str
    intermarket_sweep: str
    cross_type: str
    cl_ord_id: str
    options: Options = NO_OPTIONS


class ReplaceOrder(_Message, frozen=True):
    """``U``: replace an order; ``quantity`` is the total for the whole chain, executions included."""

    orig_user_ref_num: int
    user_ref_num: int
    quantity: int
    price: int
    time_in_force: str
    display: str
    intermarket_sweep: str
    cl_ord_id: str
    options: Options = NO_OPTIONS


class CancelOrder(_Message, frozen=True):
    """``X``: reduce an order to ``quantity`` more executable shares (0 = cancel all)."""

    user_ref_num: int
    quantity: int
    options: Options = NO_OPTIONS


class ModifyOrder(_Message, frozen=True):
    """``M``: change the side between sell variants and/or reduce the size, keeping priority."""

    user_ref_num: int
    side: str
    quantity: int
    options: Options = NO_OPTIONS


class MassCancel(_Message, frozen=True):
    """``C``: cancel every order of ``firm`` (in ``symbol`` unless blank)."""

    user_ref_num: int
    firm: str
    symbol: str
    options: Options = NO_OPTIONS


class DisableOrderEntry(_Message, frozen=True):
    """``D``: block new orders for ``firm`` on this account."""

    user_ref_num: int
    firm: str
    options: Options = NO_OPTIONS


class EnableOrderEntry(_Message, frozen=True):
    """``E``: unblock new orders for ``firm`` on this account."""

    user_ref_num: int
    firm: str
    options: Options = NO_OPTIONS


class AccountQuery(_Message, frozen=True):
    """``Q``: ask for the next usable UserRefNum."""

    options: Options = NO_OPTIONS


InboundMessage = (
    EnterOrder
    | ReplaceOrder
    | CancelOrder
    | ModifyOrder
    | MassCancel
    | DisableOrderEntry
    | EnableOrderEntry
    | AccountQuery
)


# --------------------------------------------------------------------------------------
# Outbound (exchange -> client)
# --------------------------------------------------------------------------------------


class SystemEvent(_Message, frozen=True):
    """``S``: start (``S``) or end (``E``) of the trading day."""

    timestamp: int
    event_code: str


class OrderAccepted(_Message, frozen=True):
    """``A``: the order is on the book (``order_state`` L) or was accepted and at once canceled (D)."""

    timestamp: int
    user_ref_num: int
    side: str
    quantity: int
    symbol: str
    price: int
    time_in_force: str
    display: str
    order_reference_number: int
    capacity: str
    intermarket_sweep: str
    cross_type: str
    order_state: str
    cl_ord_id: str
    options: Options = NO_OPTIONS


class OrderReplaced(_Message, frozen=True):
    """``U``: the replacement is live; ``quantity`` is what is open on the book now."""

    timestamp: int
    orig_user_ref_num: int
    user_ref_num: int
    side: str
    quantity: int
    symbol: str
    price: int
    time_in_force: str
    display: str
    order_reference_number: int
    capacity: str
    intermarket_sweep: str
    cross_type: str
    order_state: str
    cl_ord_id: str
    options: Options = NO_OPTIONS


class OrderCanceled(_Message, frozen=True):
    """``C``: ``quantity`` shares were taken off the order (incremental)."""

    timestamp: int
    user_ref_num: int
    quantity: int
    reason: str
    options: Options = NO_OPTIONS


class AiqCanceled(_Message, frozen=True):
    """``D``: shares canceled by self-match prevention (Anti-Internalization Qualifier)."""

    timestamp: int
    user_ref_num: int
    decrement_shares: int
    reason: str
    quantity_prevented: int
    execution_price: int
    liquidity_flag: str
    aiq_strategy: str
    options: Options = NO_OPTIONS


class OrderExecuted(_Message, frozen=True):
    """``E``: ``quantity`` shares executed (incremental) at ``price``."""

    timestamp: int
    user_ref_num: int
    quantity: int
    price: int
    liquidity_flag: str
    match_number: int
    options: Options = NO_OPTIONS


class BrokenTrade(_Message, frozen=True):
    """``B``: the execution with ``match_number`` was broken and will not clear."""

    timestamp: int
    user_ref_num: int
    match_number: int
    reason: str
    cl_ord_id: str
    options: Options = NO_OPTIONS


class OrderRejected(_Message, frozen=True):
    """``J``: an Enter or Replace was refused; ``reason`` is an Appendix C code."""

    timestamp: int
    user_ref_num: int
    reason: int
    cl_ord_id: str
    options: Options = NO_OPTIONS


class CancelPending(_Message, frozen=True):
    """``P``: a full cancel of a cross order will happen right after the cross."""

    timestamp: int
    user_ref_num: int
    options: Options = NO_OPTIONS


class CancelReject(_Message, frozen=True):
    """``I``: a partial cancel of a cross order in the late period was refused."""

    timestamp: int
    user_ref_num: int
    options: Options = NO_OPTIONS


class PriorityUpdate(_Message, frozen=True):
    """``T``: the order lost or changed priority and got a new Order Reference Number."""

    timestamp: int
    user_ref_num: int
    price: int
    display: str
    order_reference_number: int
    options: Options = NO_OPTIONS


class OrderModified(_Message, frozen=True):
    """``M``: answer to Modify; ``quantity`` is the total still open."""

    timestamp: int
    user_ref_num: int
    side: str
    quantity: int
    options: Options = NO_OPTIONS


class OrderRestated(_Message, frozen=True):
    """``R``: the exchange changed the displayed quantity/price (values in the options)."""

    timestamp: int
    user_ref_num: int
    reason: str
    options: Options = NO_OPTIONS


class MassCancelResponse(_Message, frozen=True):
    """``X``: a Mass Cancel was carried out."""

    timestamp: int
    user_ref_num: int
    firm: str
    symbol: str
    options: Options = NO_OPTIONS


class DisableOrderEntryResponse(_Message, frozen=True):
    """``G``: new orders for ``firm`` are now blocked."""

    timestamp: int
    user_ref_num: int
    firm: str
    options: Options = NO_OPTIONS


class EnableOrderEntryResponse(_Message, frozen=True):
    """``K``: new orders for ``firm`` are allowed again."""

    timestamp: int
    user_ref_num: int
    firm: str
    options: Options = NO_OPTIONS


class AccountQueryResponse(_Message, frozen=True):
    """``Q``: the next UserRefNum this account may use."""

    timestamp: int
    next_user_ref_num: int
    options: Options = NO_OPTIONS


OutboundMessage = (
    SystemEvent
    | OrderAccepted
    | OrderReplaced
    | OrderCanceled
    | AiqCanceled
    | OrderExecuted
    | BrokenTrade
    | OrderRejected
    | CancelPending
    | CancelReject
    | PriorityUpdate
    | OrderModified
    | OrderRestated
    | MassCancelResponse
    | DisableOrderEntryResponse
    | EnableOrderEntryResponse
    | AccountQueryResponse
)


def reject_text(code: int) -> str:
    """Return the Appendix C name of a reject code (a generic text for unknown codes)."""
    return REJECT_REASONS.get(code, f"unknown reject reason 0x{code:04X}")


def cancel_text(reason: str) -> str:
    """Return the Appendix B meaning of a cancel reason (a generic text for unknown codes)."""
    return CANCEL_REASONS.get(reason, f"unknown cancel reason {reason!r}")

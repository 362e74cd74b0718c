"""Exchange core for one OUCH 5.0 account (port): order handling without any I/O.

Inbound OUCH messages go in through ``on_message``; outbound OUCH messages come out
through the ``emit`` callback (the simulator appends them to the SoupBinTCP stream).
Rules follow the OUCH 5.0 spec: UserRefNum strictly increasing per account (per
UserRefIdx channel), lower or repeated numbers silently ignored, Rejected consumes
the number; Replace with the whole-chain quantity and its three failure modes;
full and partial cancels; IOC remainders canceled; Mass Cancel; Account Query.

Matching is the simulators' stand-in for a book (``simulators.matching``): a limit order is
marketable when it is at or through the symbol's reference price, and then executes at that
price with probability ``fill_ratio`` (seeded, so a run is reproducible), fully or - with
``partial_fills`` - for a random part. Every inbound message is written down in
``records`` (and, with ``record_path``, appended as a JSON line) with its outcome.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import IO, Final

import msgspec

from model.clock import NowNs, monotonic_ns
from simulators.matching import ReferenceMatcher
from venues.ouch.codec import decode_inbound, encode_message
from venues.ouch.daytime import NsSinceMidnight
from venues.ouch.errors import DecodeError
from venues.ouch.messages import (
    MAX_PRICE,
    MAX_QUANTITY,
    ORDER_STATE_DEAD,
    ORDER_STATE_LIVE,
    REJECT_DESTINATION_CLOSED,
    REJECT_FAT_FINGER,
    REJECT_INVALID_PRICE,
    REJECT_INVALID_QUANTITY,
    REJECT_INVALID_SYMBOL,
    REJECT_REPLACE_NOT_ALLOWED,
    REJECT_SHARES_EXCEED_THRESHOLD,
    TIME_IN_FORCE_IOC,
    AccountQuery,
    AccountQueryResponse,
    BrokenTrade,
    CancelOrder,
    CancelReject,
    DisableOrderEntry,
    DisableOrderEntryResponse,
    EnableOrderEntry,
    EnableOrderEntryResponse,
    EnterOrder,
    MassCancel,
    MassCancelResponse,
    ModifyOrder,
    OrderAccepted,
    OrderCanceled,
    OrderExecuted,
    OrderModified,
    OrderRejected,
    OrderReplaced,
    OutboundMessage,
    ReplaceOrder,
    SystemEvent,
)
from venues.ouch.options import NO_OPTIONS, Options

SELL_SIDES: Final = frozenset("STE")

_Fields = tuple[int, int, str, str, str, int, int]
_NO_FIELDS: Final[_Fields] = (0, 0, "", "", "", 0, 0)


class ExchangeConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """How the simulated exchange behaves."""

    reference_prices: dict[str, int] = {}
    """Per-symbol reference price (4 implied decimals) that marketable orders execute at."""
    default_reference_price: int | None = None
    """Reference price for symbols not in ``reference_prices``; None = such orders only rest."""
    fill_ratio: float = 1.0
    """Probability (0..1) that a marketable order executes when it arrives."""
    partial_fills: bool = False
    """Execute a random part (1..open) of a marketable order instead of all of it."""
    seed: int = 1
    """Seed of the random generator behind ``fill_ratio`` and ``partial_fills``."""
    reject_symbols: frozenset[str] = frozenset()
    """Symbols whose Enter Orders get Rejected "Invalid Symbol" (0x0017)."""
    max_order_qty: int = MAX_QUANTITY
    """Orders above this quantity get Rejected "Shares Exceed Threshold" (0x001E)."""
    price_band: float | None = None
    """Reject "Fat Finger" (0x0006) when a price is further than this fraction from the reference."""
    reject_replace_symbols: frozenset[str] = frozenset()
    """Replaces of orders in these symbols are refused with Rejected "Replace Not Allowed" (0x0015)."""
    cancel_reject_symbols: frozenset[str] = frozenset()
    """Cancels of orders in these symbols are answered with Cancel Reject (as for a cross order)."""
    firm: str = "SIMU"
    """The account's default firm (orders without a Firm option belong to it)."""
    strict_user_ref_num: bool = False
    """Certification-venue mode: every Enter / Replace / Mass Cancel / Disable / Enable whose UserRefNum is not
    above every number already seen on its channel is a protocol violation (counted in ``violations``, recorded
    with outcome ``violation:user-ref-num-not-increasing``), not only ignored."""
    answer_account_query: bool = True
    """False: a venue that does not answer the Account Query Request (recorded with outcome ``unanswered``): the
    gateway then cannot learn the venue's NextUserRefNum after a login."""
    first_order_reference_number: int = 100_000_001
    first_match_number: int = 500_000_001


class InboundRecord(msgspec.Struct, frozen=True, gc=False):
    """One inbound message as the exchange received it, and what it did with it."""

    index: int
    """Arrival order at the exchange, from 1."""
    t_ns: int
    """The exchange's monotonic clock at receipt."""
    type: str
    """OUCH message type letter ("?" when undecodable)."""
    user_ref_num: int = 0
    orig_user_ref_num: int = 0
    cl_ord_id: str = ""
    symbol: str = ""
    side: str = ""
    qty: int = 0
    price: int = 0
    outcome: str = ""


class SimOrder:
    """A live order chain on the simulated book."""

    __slots__ = (
        "capacity",
        "cl_ord_id",
        "cross_type",
        "display",
        "executed",
        "firm",
        "group_id",
        "intermarket_sweep",
        "open",
        "order_reference_number",
        "price",
        "side",
        "symbol",
        "time_in_force",
        "user_ref_idx",
        "user_ref_num",
    )

    def __init__(self, message: EnterOrder, firm: str, order_reference_number: int) -> None:
        self.user_ref_num = message.user_ref_num
        self.user_ref_idx = message.options.user_ref_idx or 0
        self.cl_ord_id = message.cl_ord_id
        self.symbol = message.symbol
        self.side = message.side
        self.price = message.price
        self.time_in_force = message.time_in_force
        self.display = message.display
        self.capacity = message.capacity
        self.intermarket_sweep = message.intermarket_sweep
        self.cross_type = message.cross_type
        self.firm = message.options.firm or firm
        self.group_id = message.options.group_id or 0
        self.open = message.quantity
        self.executed = 0
        self.order_reference_number = order_reference_number

    @property
    def key(self) -> int:
        """Return the order's key: UserRefNum within its UserRefIdx channel."""
        return _key(self.user_ref_idx, self.user_ref_num)


def _key(user_ref_idx: int, user_ref_num: int) -> int:
    return (user_ref_idx << 32) | user_ref_num


def _echo(user_ref_idx: int) -> Options:
    return Options(user_ref_idx=user_ref_idx) if user_ref_idx else NO_OPTIONS


class Exchange:
    """One OUCH account on a simulated exchange."""

    def __init__(
        self,
        config: ExchangeConfig,
        emit: Callable[[bytes], object],
        *,
        clock: NowNs = monotonic_ns,
        timestamp: Callable[[], int] | None = None,
        record_path: str | Path | None = None,
    ) -> None:
        self.config = config
        self._emit_bytes = emit
        self._clock = clock
        self._timestamp = timestamp or NsSinceMidnight()
        self._matcher = ReferenceMatcher(
            config.reference_prices,
            config.default_reference_price,
            fill_ratio=config.fill_ratio,
            partial_fills=config.partial_fills,
            seed=config.seed,
        )
        self.orders: dict[int, SimOrder] = {}
        """Live orders by key (UserRefNum in its channel)."""
        self.records: list[InboundRecord] = []
        self.executions: dict[int, tuple[int, int, str]] = {}
        """Match Number -> (UserRefNum, UserRefIdx, ClOrdID) of every execution, for Broken Trade."""
        self.entry_enabled = True
        self.malformed = 0
        self.violations: list[InboundRecord] = []
        """Strict mode: every request that reused a UserRefNum (or went below one already seen)."""
        self._last_user_ref_num: dict[int, int] = {}
        self._next_order_reference_number = config.first_order_reference_number
        self._next_match_number = config.first_match_number
        self._record_file: IO[bytes] | None = None
        self._record_encoder = msgspec.json.Encoder()
        if record_path is not None:
            self._record_file = Path(record_path).open("ab")  # noqa: SIM115 (closed in close())

    def close(self) -> None:
        """Close the record file."""
        if self._record_file is not None:
            self._record_file.close()
            self._record_file = None

    def next_user_ref_num(self, user_ref_idx: int = 0) -> int:
        """Return the lowest UserRefNum the exchange would accept next on a channel."""
        return self._last_user_ref_num.get(user_ref_idx, 0) + 1

    # ---- inbound -----------------------------------------------------------------------

    def on_message(self, message: bytes | bytearray | memoryview) -> None:
        """Process one inbound OUCH message."""
        decoded = decode_inbound(message)
        if isinstance(decoded, DecodeError):
            self.malformed += 1
            kind = chr(message[0]) if message else "?"
            self._record(kind, outcome=f"malformed:{decoded.kind}: {decoded.text}")
            return
        if isinstance(decoded, EnterOrder):
            self._enter(decoded)
        elif isinstance(decoded, ReplaceOrder):
            self._replace(decoded)
        elif isinstance(decoded, CancelOrder):
            self._cancel(decoded)
        elif isinstance(decoded, ModifyOrder):
            self._modify(decoded)
        elif isinstance(decoded, MassCancel):
            self._mass_cancel(decoded)
        elif isinstance(decoded, DisableOrderEntry | EnableOrderEntry):
            self._set_entry(decoded)
        elif isinstance(decoded, AccountQuery):
            self._account_query(decoded)

    def _take_user_ref_num(self, user_ref_idx: int, user_ref_num: int) -> bool:
        """Consume ``user_ref_num`` if it is above every number used so far on the channel."""
        if user_ref_num <= self._last_user_ref_num.get(user_ref_idx, 0):
            return False
        self._last_user_ref_num[user_ref_idx] = user_ref_num
        return True

    def _fresh(self, user_ref_idx: int, user_ref_num: int) -> bool:
        return user_ref_num > self._last_user_ref_num.get(user_ref_idx, 0)

    def _check_order(self, symbol: str, side: str, quantity: int, price: int) -> int:
        """Return the reject code for an order's details, or 0 if they are acceptable."""
        del side
        if not symbol or symbol in self.config.reject_symbols:
            return REJECT_INVALID_SYMBOL
        if not 0 < quantity <= MAX_QUANTITY:
            return REJECT_INVALID_QUANTITY
        if quantity > self.config.max_order_qty:
            return REJECT_SHARES_EXCEED_THRESHOLD
        if not 0 < price <= MAX_PRICE:
            return REJECT_INVALID_PRICE
        if self._matcher.outside_band(symbol, price, self.config.price_band):
            return REJECT_FAT_FINGER
        return 0

    def _enter(self, message: EnterOrder) -> None:
        idx = message.options.user_ref_idx or 0
        urn = message.user_ref_num
        fields = (urn, 0, message.cl_ord_id, message.symbol, message.side, message.quantity, message.price)
        if not self._take_user_ref_num(idx, urn):
            self._stale("O", fields)
            return
        code = self._check_order(message.symbol, message.side, message.quantity, message.price)
        if not code and not self.entry_enabled:
            code = REJECT_DESTINATION_CLOSED
        if code:
            self._emit(OrderRejected(self._timestamp(), urn, code, message.cl_ord_id, _echo(idx)))
            self._record("O", fields, outcome=f"rejected:0x{code:04X}")
            return
        order = SimOrder(message, self.config.firm, self._order_reference_number())
        fill_qty, fill_price = self._match(order)
        ioc = order.time_in_force == TIME_IN_FORCE_IOC
        state = ORDER_STATE_DEAD if ioc and fill_qty == 0 else ORDER_STATE_LIVE
        self._emit(
            OrderAccepted(
                self._timestamp(),
                urn,
                order.side,
                message.quantity,
                order.symbol,
                order.price,
                order.time_in_force,
                order.display,
                order.order_reference_number,
                order.capacity,
                order.intermarket_sweep,
                order.cross_type,
                state,
                order.cl_ord_id,
                message.options,
            )
        )
        if state == ORDER_STATE_DEAD:
            self._record("O", fields, outcome="accepted-dead")
            return
        self.orders[order.key] = order
        self._record("O", fields, outcome="accepted")
        self._after_entry(order, fill_qty, fill_price, "R")

    def _after_entry(self, order: SimOrder, fill_qty: int, fill_price: int, liquidity: str) -> None:
        if fill_qty:
            self._execute(order, fill_qty, fill_price, liquidity)
        if order.open and order.time_in_force == TIME_IN_FORCE_IOC:
            self._cancel_open(order, order.open, "I")

    def _replace(self, message: ReplaceOrder) -> None:
        idx = message.options.user_ref_idx or 0
        urn = message.user_ref_num
        orig = self.orders.get(_key(idx, message.orig_user_ref_num))
        fields = (
            urn,
            message.orig_user_ref_num,
            message.cl_ord_id,
            orig.symbol if orig else "",
            orig.side if orig else "",
            message.quantity,
            message.price,
        )
        if not self._fresh(idx, urn):
            self._stale("U", fields)
            return
        if orig is None:
            self._record("U", fields, outcome="ignored:original-not-live")
            return
        if orig.symbol in self.config.reject_replace_symbols:
            self._take_user_ref_num(idx, urn)
            code = REJECT_REPLACE_NOT_ALLOWED
            self._emit(OrderRejected(self._timestamp(), urn, code, message.cl_ord_id, _echo(idx)))
            self._record("U", fields, outcome=f"rejected:0x{code:04X}")
            return
        code = self._check_order(orig.symbol, orig.side, message.quantity, message.price)
        new_open = message.quantity - orig.executed
        if code or new_open <= 0:
            self._cancel_open(orig, orig.open, "U")
            why = f"0x{code:04X}" if code else "quantity-not-above-executed"
            self._record("U", fields, outcome=f"invalid:{why}:original-canceled")
            return
        self._take_user_ref_num(idx, urn)
        del self.orders[orig.key]
        orig.user_ref_num = urn
        orig.price = message.price
        orig.time_in_force = message.time_in_force
        orig.display = message.display
        orig.intermarket_sweep = message.intermarket_sweep
        orig.cl_ord_id = message.cl_ord_id
        orig.open = new_open
        orig.order_reference_number = self._order_reference_number()
        self.orders[orig.key] = orig
        fill_qty, fill_price = self._match(orig)
        self._emit(
            OrderReplaced(
                self._timestamp(),
                message.orig_user_ref_num,
                urn,
                orig.side,
                new_open,
                orig.symbol,
                orig.price,
                orig.time_in_force,
                orig.display,
                orig.order_reference_number,
                orig.capacity,
                orig.intermarket_sweep,
                orig.cross_type,
                ORDER_STATE_LIVE,
                orig.cl_ord_id,
                message.options,
            )
        )
        self._record("U", fields, outcome="replaced")
        self._after_entry(orig, fill_qty, fill_price, "R")

    def _cancel(self, message: CancelOrder) -> None:
        idx = message.options.user_ref_idx or 0
        order = self.orders.get(_key(idx, message.user_ref_num))
        if order is None:
            self._record(
                "X",
                (message.user_ref_num, 0, "", "", "", message.quantity, 0),
                outcome="ignored:order-not-live",
            )
            return
        fields = (message.user_ref_num, 0, order.cl_ord_id, order.symbol, order.side, message.quantity, 0)
        if order.symbol in self.config.cancel_reject_symbols:
            self._emit(CancelReject(self._timestamp(), order.user_ref_num, _echo(idx)))
            self._record("X", fields, outcome="cancel-rejected")
            return
        decrement = order.open - min(message.quantity, order.open)
        if decrement <= 0:
            self._record("X", fields, outcome="ignored:nothing-to-cancel")
            return
        self._cancel_open(order, decrement, "U")
        self._record("X", fields, outcome="canceled" if order.open == 0 else "reduced")

    def _modify(self, message: ModifyOrder) -> None:
        idx = message.options.user_ref_idx or 0
        order = self.orders.get(_key(idx, message.user_ref_num))
        fields = (message.user_ref_num, 0, "", "", message.side, message.quantity, 0)
        if order is None:
            self._record("M", fields, outcome="ignored:order-not-live")
            return
        if message.side != order.side and not (message.side in SELL_SIDES and order.side in SELL_SIDES):
            self._record("M", fields, outcome="ignored:side-change-not-allowed")
            return
        order.side = message.side
        decrement = order.open - min(message.quantity, order.open)
        order.open -= decrement
        if order.open == 0:
            del self.orders[order.key]
        self._emit(OrderModified(self._timestamp(), order.user_ref_num, order.side, order.open, _echo(idx)))
        self._record("M", fields, outcome="modified")

    def _mass_cancel(self, message: MassCancel) -> None:
        idx = message.options.user_ref_idx or 0
        fields = (message.user_ref_num, 0, "", message.symbol, message.options.side or "", 0, 0)
        if not self._take_user_ref_num(idx, message.user_ref_num):
            self._stale("C", fields)
            return
        side = message.options.side
        group = message.options.group_id
        matched = [
            order
            for order in self.orders.values()
            if order.firm == message.firm
            and (not message.symbol or order.symbol == message.symbol)
            and (side is None or order.side == side)
            and (group is None or order.group_id == group)
        ]
        for order in matched:
            self._cancel_open(order, order.open, "U")
        self._emit(
            MassCancelResponse(self._timestamp(), message.user_ref_num, message.firm, message.symbol, message.options)
        )
        self._record("C", fields, outcome=f"mass-canceled:{len(matched)}")

    def _set_entry(self, message: DisableOrderEntry | EnableOrderEntry) -> None:
        idx = message.options.user_ref_idx or 0
        kind = "D" if isinstance(message, DisableOrderEntry) else "E"
        if not self._take_user_ref_num(idx, message.user_ref_num):
            self._stale(kind, (message.user_ref_num, 0, "", "", "", 0, 0))
            return
        ts = self._timestamp()
        if isinstance(message, DisableOrderEntry):
            self.entry_enabled = False
            self._emit(DisableOrderEntryResponse(ts, message.user_ref_num, message.firm, _echo(idx)))
        else:
            self.entry_enabled = True
            self._emit(EnableOrderEntryResponse(ts, message.user_ref_num, message.firm, _echo(idx)))
        self._record(
            kind,
            (message.user_ref_num, 0, "", "", "", 0, 0),
            outcome="disabled" if kind == "D" else "enabled",
        )

    def _account_query(self, message: AccountQuery) -> None:
        idx = message.options.user_ref_idx or 0
        if not self.config.answer_account_query:
            self._record("Q", outcome="unanswered")
            return
        self._emit(AccountQueryResponse(self._timestamp(), self.next_user_ref_num(idx), _echo(idx)))
        self._record("Q", outcome="answered")

    # ---- book actions --------------------------------------------------------------------

    def reference_price(self, symbol: str) -> int | None:
        """Return the reference price marketable orders in ``symbol`` execute at."""
        return self._matcher.reference_price(symbol)

    def set_reference_price(self, symbol: str, price: int) -> None:
        """Move a symbol's reference price; resting orders now marketable execute (adding liquidity)."""
        self._matcher.set_reference_price(symbol, price)
        for order in [o for o in self.orders.values() if o.symbol == symbol]:
            fill_qty, fill_price = self._match(order)
            if fill_qty:
                self._execute(order, fill_qty, fill_price, "A")

    def execute(self, user_ref_num: int, quantity: int, price: int | None = None, *, user_ref_idx: int = 0) -> bool:
        """Execute a resting order now (as if a contra order arrived); False if it is not live."""
        order = self.orders.get(_key(user_ref_idx, user_ref_num))
        if order is None or quantity <= 0:
            return False
        self._execute(order, min(quantity, order.open), order.price if price is None else price, "A")
        return True

    def cancel(self, user_ref_num: int, reason: str = "S", *, user_ref_idx: int = 0, quantity: int = 0) -> bool:
        """Cancel a live order from the exchange side (supervisory by default); False if it is not live.

        ``quantity``: the shares taken off (a partial Order Canceled, the rest stays live); 0 (default) or more than
        is open: all of it.
        """
        order = self.orders.get(_key(user_ref_idx, user_ref_num))
        if order is None:
            return False
        self._cancel_open(order, min(quantity, order.open) if quantity > 0 else order.open, reason)
        return True

    def break_trade(self, match_number: int, reason: str = "E") -> bool:
        """Send Broken Trade for an earlier execution; False if the match number is unknown."""
        found = self.executions.get(match_number)
        if found is None:
            return False
        urn, idx, cl_ord_id = found
        self._emit(BrokenTrade(self._timestamp(), urn, match_number, reason, cl_ord_id, _echo(idx)))
        return True

    def system_event(self, code: str) -> None:
        """Send a System Event (``S`` start of day, ``E`` end of day)."""
        self._emit(SystemEvent(self._timestamp(), code))

    def _match(self, order: SimOrder) -> tuple[int, int]:
        """Return (quantity, price) that ``order`` executes on arrival, (0, 0) if nothing."""
        return self._matcher.match(order.symbol, order.side == "B", order.price, order.open)

    def _execute(self, order: SimOrder, quantity: int, price: int, liquidity: str) -> None:
        match = self._next_match_number
        self._next_match_number += 1
        order.open -= quantity
        order.executed += quantity
        self.executions[match] = (order.user_ref_num, order.user_ref_idx, order.cl_ord_id)
        self._emit(
            OrderExecuted(
                self._timestamp(),
                order.user_ref_num,
                quantity,
                price,
                liquidity,
                match,
                _echo(order.user_ref_idx),
            )
        )
        if order.open == 0:
            self.orders.pop(order.key, None)

    def _cancel_open(self, order: SimOrder, quantity: int, reason: str) -> None:
        order.open -= quantity
        if order.open == 0:
            self.orders.pop(order.key, None)
        self._emit(OrderCanceled(self._timestamp(), order.user_ref_num, quantity, reason, _echo(order.user_ref_idx)))

    def _order_reference_number(self) -> int:
        number = self._next_order_reference_number
        self._next_order_reference_number += 1
        return number

    # ---- output ----------------------------------------------------------------------------

    def _emit(self, message: OutboundMessage) -> None:
        self._emit_bytes(encode_message(message))

    def _stale(self, kind: str, fields: _Fields) -> None:
        """A request under a UserRefNum not above every one seen: ignored (the spec), a violation in strict mode."""
        if self.config.strict_user_ref_num:
            self._record(kind, fields, outcome="violation:user-ref-num-not-increasing")
            self.violations.append(self.records[-1])
        else:
            self._record(kind, fields, outcome="ignored:user-ref-num-not-increasing")

    def _record(self, kind: str, fields: _Fields = _NO_FIELDS, *, outcome: str) -> None:
        """Write down one inbound message (``fields`` in the order of ``InboundRecord``)."""
        record = InboundRecord(len(self.records) + 1, self._clock(), kind, *fields, outcome=outcome)
        self.records.append(record)
        if self._record_file is not None:
            self._record_file.write(self._record_encoder.encode(record) + b"\n")
            self._record_file.flush()


def read_records(path: str | Path) -> list[InboundRecord]:
    """Read a record file written with ``record_path`` (for tests in another process)."""
    decoder = msgspec.json.Decoder(InboundRecord)
    with Path(path).open("rb") as handle:
        # a line without its newline is one the simulator is still appending (read while it writes): not yet a record
        return [decoder.decode(line) for line in handle if line.endswith(b"\n") and line.strip()]

"""Exchange core for one BOE v2 session: order handling without any I/O.

Inbound application messages go in through ``on_message``; answers come out through the
``emit(unit, message)`` callback, where ``unit`` is the matching unit that produced the message
(its per-unit stream numbers it) or 0 for the order handler's unsequenced rejects, which go to
the sending connection only (reference §1.1, §7.1: [CAP] shows an Order Rejected with MU 0 /
Seq 0). Messages carry every return field the exchange knows (``ReturnFields``); each connection
keeps only what its login asked for when it encodes them.

Rules follow the reference (§5, §7.5, §8) and the 2.3.7 text where the reference is silent:
ClOrdID unique among live orders (else reason D), OrderQty and Price required on Modify, a
Modify's OrderQty changes the order's size by the difference (so a modify racing a fill stays
safe; at or below zero the order is cancelled), IOC remainders cancelled. Matching is the
simulators' shared stand-in for a book (``simulators.matching``). Symbols map to matching units
through ``symbol_units`` or, for others, a stable hash over ``units``. Every inbound message is
written down in ``records`` (and, with ``record_path``, appended as a JSON line) with its outcome.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, Final

import msgspec

from model.clock import NowNs, monotonic_ns
from simulators.matching import ReferenceMatcher
from venues.boe.codec import MESSAGE_NAMES, decode_inbound
from venues.boe.errors import DecodeError
from venues.boe.messages import (
    CAPACITIES,
    ORD_TYPE_LIMIT,
    ORD_TYPE_MARKET,
    SIDE_BUY,
    SIDES,
    TIF_DAY,
    TIF_GTC,
    TIF_IOC,
    CancelOrder,
    CancelRejected,
    ModifyOrder,
    NewOrder,
    OrderAcknowledgment,
    OrderCancelled,
    OrderExecution,
    OrderModified,
    OrderRejected,
    OrderRestated,
    ReturnFields,
    ReturnMessage,
    TradeCancelOrCorrect,
    UserModifyRejected,
)

MAX_QUANTITY: Final = 999_999_999
SUPPORTED_TIF: Final = frozenset({TIF_DAY, TIF_GTC, TIF_IOC})
SELL_SIDES: Final = frozenset("256")
IOC_CANCEL_REASON: Final = "N"
"""Reason on the Order Cancelled for an IOC remainder (no verified code; "no liquidity left to trade against")."""
_CL_ORD_ID_FORBIDDEN: Final = frozenset(",;|")


class BoeExchangeConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """How the simulated exchange behaves."""

    units: int = 3
    """Number of matching units (1..units)."""
    symbol_units: dict[str, int] = {}
    """Symbol -> matching unit; other symbols are spread over the units by a stable hash."""
    reference_prices: dict[str, int] = {}
    """Per-symbol reference price (4 implied decimals) that marketable orders execute at."""
    default_reference_price: int | None = None
    """Reference price for symbols not in ``reference_prices``; None = such orders only rest."""
    fill_ratio: float = 1.0
    partial_fills: bool = False
    seed: int = 1
    reject_symbols: frozenset[str] = frozenset()
    """New Orders in these symbols get Order Rejected ``Y`` (symbol not supported)."""
    max_order_qty: int = MAX_QUANTITY
    """Orders above this quantity get Order Rejected ``M`` (order size too large)."""
    price_band: float | None = None
    """Reject ``m`` (market-access risk limit) when a price is further than this fraction from the reference."""
    reject_modify_symbols: frozenset[str] = frozenset()
    """Modifies of orders in these symbols get User Modify Rejected ``A``."""
    cancel_reject_symbols: frozenset[str] = frozenset()
    """Cancels of orders in these symbols get Cancel Rejected ``J`` (too late to cancel)."""
    sequenced_rejects: bool = False
    """Send New Order rejects on the symbol's matching unit (replayable) instead of unsequenced on unit 0."""
    modify_reopens_filled: bool = False
    """A Modify raising the quantity of an order executed in full while the Modify was on its way reopens it with
    the difference ("Cboe applies the difference in OrderQty to the open quantity"); False: refused ``O``."""
    contra_broker: str = "SIMU"
    first_order_id: int = 100_000_001
    first_exec_id: int = 500_000_001


class InboundRecord(msgspec.Struct, frozen=True, gc=False):
    """One inbound application message as the exchange received it, and what it did with it."""

    index: int
    t_ns: int
    type: str
    """Message name ("?" when undecodable)."""
    sequence: int = 0
    cl_ord_id: str = ""
    orig_cl_ord_id: str = ""
    symbol: str = ""
    side: str = ""
    qty: int = 0
    price: int = 0
    outcome: str = ""


class SimOrder:
    """A live order on the simulated book."""

    __slots__ = (
        "account",
        "capacity",
        "cl_ord_id",
        "clearing_account",
        "clearing_firm",
        "executed",
        "leaves",
        "ord_type",
        "order_id",
        "order_qty",
        "price",
        "side",
        "symbol",
        "time_in_force",
        "unit",
    )

    def __init__(self, message: NewOrder, order_id: int, unit: int) -> None:
        fields = message.optional
        self.cl_ord_id = message.cl_ord_id
        self.side = message.side
        self.order_qty = message.order_qty
        self.leaves = message.order_qty
        self.executed = 0
        self.symbol = fields.symbol or ""
        self.price = fields.price or 0
        self.ord_type = fields.ord_type or ORD_TYPE_LIMIT
        self.time_in_force = fields.time_in_force or TIF_DAY
        self.capacity = fields.capacity or ""
        self.clearing_firm = fields.clearing_firm or ""
        self.clearing_account = fields.clearing_account or ""
        self.account = fields.account or ""
        self.order_id = order_id
        self.unit = unit

    def returns(self, **extra: object) -> ReturnFields:
        """Return every return field the exchange knows about this order (plus ``extra``)."""
        values: dict[str, object] = {
            "side": self.side,
            "price": self.price,
            "ord_type": self.ord_type,
            "time_in_force": self.time_in_force,
            "symbol": self.symbol,
            "capacity": self.capacity,
            "account": self.account,
            "clearing_firm": self.clearing_firm,
            "clearing_account": self.clearing_account,
            "order_qty": self.order_qty,
            "leaves_qty": self.leaves,
            "working_price": self.price,
            "display_price": self.price,
        }
        values.update(extra)
        return msgspec.convert(values, ReturnFields)


class BoeExchange:
    """One BOE session's orders on a simulated exchange with several matching units."""

    def __init__(
        self,
        config: BoeExchangeConfig,
        emit: Callable[[int, ReturnMessage], object],
        *,
        clock: NowNs = monotonic_ns,
        wall: Callable[[], int] = time.time_ns,
        record_path: str | Path | None = None,
    ) -> None:
        self.config = config
        self._emit = emit
        self._clock = clock
        self._wall = wall
        self._matcher = ReferenceMatcher(
            config.reference_prices,
            config.default_reference_price,
            fill_ratio=config.fill_ratio,
            partial_fills=config.partial_fills,
            seed=config.seed,
        )
        self.orders: dict[str, SimOrder] = {}
        self.filled: dict[str, SimOrder] = {}
        """Orders executed in full, by ClOrdID (kept only with ``modify_reopens_filled``)."""
        """Live orders by ClOrdID."""
        self.executions: dict[int, tuple[SimOrder, int, int, int]] = {}
        """ExecID -> (order, shares, price, time) of every execution, for Trade Cancel or Correct."""
        self.records: list[InboundRecord] = []
        self.malformed = 0
        self._next_order_id = config.first_order_id
        self._next_exec_id = config.first_exec_id
        self._record_file: IO[bytes] | None = None
        self._record_encoder = msgspec.json.Encoder()
        if record_path is not None:
            self._record_file = Path(record_path).open("ab")  # noqa: SIM115 (closed in close())

    @property
    def violations(self) -> list[str]:
        """Return every request received that this exchange already had (see ``violations``)."""
        return violations(self.records)

    def close(self) -> None:
        """Close the record file."""
        if self._record_file is not None:
            self._record_file.close()
            self._record_file = None

    def unit_of(self, symbol: str) -> int:
        """Return the matching unit trading ``symbol``."""
        unit = self.config.symbol_units.get(symbol)
        if unit is not None:
            return unit
        return zlib.crc32(symbol.encode("latin-1")) % self.config.units + 1

    # ---- inbound ---------------------------------------------------------------------------------

    def on_message(self, message: bytes | bytearray | memoryview) -> None:
        """Process one inbound application message (whole, header included)."""
        decoded = decode_inbound(message)
        if isinstance(decoded, DecodeError):
            self.malformed += 1
            name = MESSAGE_NAMES.get(message[4], "?") if len(message) > 4 else "?"
            self._record(name, outcome=f"malformed:{decoded.kind}: {decoded.text}")
            return
        if isinstance(decoded, NewOrder):
            self._new_order(decoded)
        elif isinstance(decoded, CancelOrder):
            self._cancel(decoded)
        elif isinstance(decoded, ModifyOrder):
            self._modify(decoded)
        else:
            self._record(type(decoded).__name__, outcome="ignored:not-an-application-message")

    def reject_during_replay(self, message: bytes | bytearray | memoryview) -> None:
        """Answer an order or cancel received before Replay Complete with reason ``y`` (reference §7.2)."""
        decoded = decode_inbound(message)
        if isinstance(decoded, NewOrder):
            self._emit(0, OrderRejected(0, 0, self._wall(), decoded.cl_ord_id, "y", "received during replay"))
        elif isinstance(decoded, CancelOrder):
            self._emit(0, CancelRejected(0, 0, self._wall(), decoded.orig_cl_ord_id, "y", "received during replay"))
        elif isinstance(decoded, ModifyOrder):
            self._emit(0, UserModifyRejected(0, 0, self._wall(), decoded.cl_ord_id, "y", "received during replay"))
        self._record(MESSAGE_NAMES.get(message[4], "?"), outcome="rejected:y")

    def refuse_held_duplicate(self, message: bytes | bytearray | memoryview, held: Iterable[bytes]) -> bool:
        """Refuse at once a Modify or Cancel repeating one still held (as Cboe's order handler does ahead of the
        matching engine's answer to the original): Modify ``D`` (duplicate ClOrdID), Cancel ``J``; return True
        if refused. The answer is unsequenced."""
        decoded = decode_inbound(message)
        if isinstance(decoded, ModifyOrder):
            if any(_modify_of(raw) == decoded.cl_ord_id for raw in held):
                self._emit(0, UserModifyRejected(0, 0, self._wall(), decoded.cl_ord_id, "D", "duplicate ClOrdID"))
                self._record("Modify Order", outcome="modify-rejected:D:held-duplicate")
                return True
        elif isinstance(decoded, CancelOrder) and any(_cancel_of(raw) == decoded.orig_cl_ord_id for raw in held):
            self._emit(0, CancelRejected(0, 0, self._wall(), decoded.orig_cl_ord_id, "J", "cancel pending"))
            self._record("Cancel Order", outcome="cancel-rejected:J:held-duplicate")
            return True
        return False

    def _check_new(self, message: NewOrder) -> tuple[str, str] | None:
        """Return (reason, text) refusing a New Order, or None if it is acceptable."""
        fields = message.optional
        config = self.config
        symbol = fields.symbol or ""
        cl_ord_id = message.cl_ord_id
        if (
            not cl_ord_id
            or not cl_ord_id.isascii()
            or not cl_ord_id.isprintable()
            or " " in cl_ord_id
            or _CL_ORD_ID_FORBIDDEN & set(cl_ord_id)
        ):
            return "A", f"invalid ClOrdID {cl_ord_id!r}"
        if cl_ord_id in self.orders:
            return "D", f"duplicate ClOrdID {cl_ord_id}"
        if message.side not in SIDES:
            return "A", f"invalid Side {message.side!r}"
        if message.order_qty <= 0:
            return "A", "OrderQty must be above 0"
        if message.order_qty > config.max_order_qty:
            return "M", f"OrderQty {message.order_qty} above {config.max_order_qty}"
        if not symbol:
            return "A", "Symbol required"
        if symbol in config.reject_symbols:
            return "Y", f"symbol {symbol} not supported"
        if fields.capacity not in CAPACITIES or not fields.capacity:
            return "C", "Capacity must be A, P or R"
        ord_type = fields.ord_type or ORD_TYPE_LIMIT
        if ord_type not in (ORD_TYPE_LIMIT, ORD_TYPE_MARKET):
            return "A", f"OrdType {ord_type!r} not supported by the simulator"
        if (fields.time_in_force or TIF_DAY) not in SUPPORTED_TIF:
            return "A", f"TimeInForce {fields.time_in_force!r} not supported by the simulator"
        price = fields.price or 0
        if ord_type == ORD_TYPE_LIMIT and price <= 0:
            return "A", "Price required on a limit order"
        if ord_type == ORD_TYPE_MARKET and self._matcher.reference_price(symbol) is None:
            return "N", f"no liquidity in {symbol} for a market order"
        if ord_type == ORD_TYPE_LIMIT and self._matcher.outside_band(symbol, price, config.price_band):
            return "m", f"price {price} outside the band around the reference"
        return None

    def _new_order(self, message: NewOrder) -> None:
        fields = message.optional
        symbol = fields.symbol or ""
        record = (
            message.sequence,
            message.cl_ord_id,
            "",
            symbol,
            message.side,
            message.order_qty,
            fields.price or 0,
        )
        refused = self._check_new(message)
        if refused is not None:
            reason, text = refused
            unit = self.unit_of(symbol) if self.config.sequenced_rejects and symbol else 0
            returns = ReturnFields(
                side=message.side,
                price=fields.price,
                ord_type=fields.ord_type,
                time_in_force=fields.time_in_force,
                symbol=fields.symbol,
                capacity=fields.capacity,
                clearing_firm=fields.clearing_firm,
                account=fields.account,
                order_qty=message.order_qty,
            )
            self._emit(unit, OrderRejected(0, 0, self._wall(), message.cl_ord_id, reason, text, returns))
            self._record("New Order", record, outcome=f"rejected:{reason}")
            return
        order = SimOrder(message, self._order_id(), self.unit_of(symbol))
        if order.ord_type == ORD_TYPE_MARKET:
            reference = self._matcher.reference_price(symbol) or 0
            order.price = reference
        self.orders[order.cl_ord_id] = order
        self._emit(
            order.unit, OrderAcknowledgment(0, 0, self._wall(), order.cl_ord_id, order.order_id, order.returns())
        )
        self._record("New Order", record, outcome="acknowledged")
        self._after_entry(order)

    def _after_entry(self, order: SimOrder) -> None:
        fill_qty, fill_price = self._matcher.match(order.symbol, order.side == SIDE_BUY, order.price, order.leaves)
        if fill_qty:
            self._execute(order, fill_qty, fill_price, "R")
        if order.leaves and (order.time_in_force == TIF_IOC or order.ord_type == ORD_TYPE_MARKET):
            self._cancel_order(order, IOC_CANCEL_REASON)

    def _cancel(self, message: CancelOrder) -> None:
        order = self.orders.get(message.orig_cl_ord_id)
        record = (message.sequence, "", message.orig_cl_ord_id, "", "", 0, 0)
        if order is None:
            self._emit(
                0,
                CancelRejected(0, 0, self._wall(), message.orig_cl_ord_id, "O", "ClOrdID does not match a live order"),
            )
            self._record("Cancel Order", record, outcome="cancel-rejected:O")
            return
        record = (message.sequence, "", order.cl_ord_id, order.symbol, order.side, order.leaves, order.price)
        if order.symbol in self.config.cancel_reject_symbols:
            self._emit(
                order.unit,
                CancelRejected(0, 0, self._wall(), order.cl_ord_id, "J", "too late to cancel", order.returns()),
            )
            self._record("Cancel Order", record, outcome="cancel-rejected:J")
            return
        self._cancel_order(order, "U")
        self._record("Cancel Order", record, outcome="cancelled")

    def _modify(self, message: ModifyOrder) -> None:
        fields = message.optional
        order = self.orders.get(message.orig_cl_ord_id)
        if order is None and message.orig_cl_ord_id in self.filled:  # executed in full meanwhile: reopened if raised
            order = self.filled[message.orig_cl_ord_id]
            if fields.order_qty is not None and fields.order_qty > order.order_qty:
                del self.filled[message.orig_cl_ord_id]
                self.orders[order.cl_ord_id] = order
            else:
                order = None
        record = (
            message.sequence,
            message.cl_ord_id,
            message.orig_cl_ord_id,
            order.symbol if order else "",
            fields.side or (order.side if order else ""),
            fields.order_qty or 0,
            fields.price or 0,
        )
        refused: tuple[str, str] | None = None
        if order is None:
            refused = ("O", "OrigClOrdID does not match a live order")
        elif message.cl_ord_id != order.cl_ord_id and message.cl_ord_id in self.orders:
            refused = ("D", f"duplicate ClOrdID {message.cl_ord_id}")
        elif fields.order_qty is None or fields.price is None:
            refused = ("A", "OrderQty and Price are required on Modify Order")
        elif order.symbol in self.config.reject_modify_symbols:
            refused = ("A", "modify not allowed")
        elif fields.side is not None and fields.side != order.side and not {fields.side, order.side} <= SELL_SIDES:
            refused = ("A", f"Side {order.side} cannot become {fields.side}")
        elif fields.order_qty <= 0 or fields.order_qty > self.config.max_order_qty:
            refused = ("M", f"OrderQty {fields.order_qty} not allowed")
        elif fields.price <= 0 or self._matcher.outside_band(order.symbol, fields.price, self.config.price_band):
            refused = ("A", f"Price {fields.price} not allowed")
        if refused is not None:
            reason, text = refused
            if order is not None and not order.leaves and self.orders.get(order.cl_ord_id) is order:  # not reopened
                del self.orders[order.cl_ord_id]
                self.filled[order.cl_ord_id] = order
            unit = order.unit if order is not None and reason not in ("O",) else 0
            returns = order.returns() if order is not None else ReturnFields()
            self._emit(unit, UserModifyRejected(0, 0, self._wall(), message.cl_ord_id, reason, text, returns))
            self._record("Modify Order", record, outcome=f"modify-rejected:{reason}")
            return
        assert order is not None and fields.order_qty is not None and fields.price is not None
        new_leaves = order.leaves + fields.order_qty - order.order_qty
        if new_leaves <= 0:
            self._cancel_order(order, "U")
            self._record("Modify Order", record, outcome="cancelled:leaves-at-or-below-zero")
            return
        orig = order.cl_ord_id
        del self.orders[orig]
        order.cl_ord_id = message.cl_ord_id
        order.order_qty = fields.order_qty
        order.leaves = new_leaves
        order.price = fields.price
        if fields.side is not None:
            order.side = fields.side
        self.orders[order.cl_ord_id] = order
        self._emit(
            order.unit,
            OrderModified(0, 0, self._wall(), order.cl_ord_id, order.order_id, order.returns(orig_cl_ord_id=orig)),
        )
        self._record("Modify Order", record, outcome="modified")
        self._after_entry(order)

    # ---- exchange-side actions -----------------------------------------------------------------------

    def reference_price(self, symbol: str) -> int | None:
        """Return the reference price marketable orders in ``symbol`` execute at."""
        return self._matcher.reference_price(symbol)

    def set_reference_price(self, symbol: str, price: int) -> None:
        """Move a symbol's reference price; resting orders now marketable execute (adding liquidity)."""
        self._matcher.set_reference_price(symbol, price)
        for order in [o for o in self.orders.values() if o.symbol == symbol]:
            fill_qty, fill_price = self._matcher.match(order.symbol, order.side == SIDE_BUY, order.price, order.leaves)
            if fill_qty:
                self._execute(order, fill_qty, fill_price, "A")

    def execute(self, cl_ord_id: str, quantity: int, price: int | None = None) -> bool:
        """Execute a resting order now (as if a contra order arrived); False if it is not live."""
        order = self.orders.get(cl_ord_id)
        if order is None or quantity <= 0:
            return False
        self._execute(order, min(quantity, order.leaves), order.price if price is None else price, "A")
        return True

    def cancel(self, cl_ord_id: str, reason: str = "A") -> bool:
        """Cancel a live order from the exchange side (administrative by default); False if it is not live."""
        order = self.orders.get(cl_ord_id)
        if order is None:
            return False
        self._cancel_order(order, reason)
        return True

    def restate(self, cl_ord_id: str, reason: str = "R", leaves: int | None = None) -> bool:
        """Send Order Restated (optionally with fewer shares open); False if the order is not live."""
        order = self.orders.get(cl_ord_id)
        if order is None:
            return False
        if leaves is not None:
            order.leaves = max(min(leaves, order.leaves), 0)
        self._emit(
            order.unit, OrderRestated(0, 0, self._wall(), order.cl_ord_id, order.order_id, reason, order.returns())
        )
        if order.leaves == 0:
            self.orders.pop(order.cl_ord_id, None)
        return True

    def correct_trade(self, exec_id: int, corrected_price: int = 0) -> bool:
        """Send Trade Cancel or Correct for an execution (``corrected_price`` 0 busts it); False if unknown."""
        found = self.executions.get(exec_id)
        if found is None:
            return False
        order, shares, price, when = found
        self._emit(
            order.unit,
            TradeCancelOrCorrect(
                0,
                0,
                self._wall(),
                order.cl_ord_id,
                order.order_id,
                exec_id,
                order.side,
                "A",
                order.clearing_firm,
                order.clearing_account,
                shares,
                price,
                corrected_price,
                when,
                ReturnFields(symbol=order.symbol, capacity=order.capacity),
            ),
        )
        return True

    # ---- book actions ------------------------------------------------------------------------------

    def _execute(self, order: SimOrder, quantity: int, price: int, liquidity: str) -> None:
        exec_id = self._next_exec_id
        self._next_exec_id += 1
        order.leaves -= quantity
        order.executed += quantity
        now = self._wall()
        self.executions[exec_id] = (order, quantity, price, now)
        self._emit(
            order.unit,
            OrderExecution(
                0,
                0,
                now,
                order.cl_ord_id,
                exec_id,
                quantity,
                price,
                order.leaves,
                liquidity,
                "",
                self.config.contra_broker,
                order.returns(last_shares=quantity, last_px=price, base_liquidity_indicator=liquidity),
            ),
        )
        if order.leaves == 0:
            self.orders.pop(order.cl_ord_id, None)
            if self.config.modify_reopens_filled:
                self.filled[order.cl_ord_id] = order

    def _cancel_order(self, order: SimOrder, reason: str) -> None:
        cancelled = order.leaves
        order.leaves = 0
        self.orders.pop(order.cl_ord_id, None)
        self._emit(
            order.unit,
            OrderCancelled(0, 0, self._wall(), order.cl_ord_id, reason, order.returns(last_shares=cancelled)),
        )

    def _order_id(self) -> int:
        number = self._next_order_id
        self._next_order_id += 1
        return number

    def _record(
        self, kind: str, fields: tuple[int, str, str, str, str, int, int] = (0, "", "", "", "", 0, 0), *, outcome: str
    ) -> None:
        """Write down one inbound message (``fields`` in the order of ``InboundRecord``)."""
        record = InboundRecord(len(self.records) + 1, self._clock(), kind, *fields, outcome=outcome)
        self.records.append(record)
        if self._record_file is not None:
            self._record_file.write(self._record_encoder.encode(record) + b"\n")
            self._record_file.flush()


def _modify_of(raw: bytes) -> str | None:
    """Return the ClOrdID of a Modify Order (None: another message)."""
    decoded = decode_inbound(raw)
    return decoded.cl_ord_id if isinstance(decoded, ModifyOrder) else None


def _cancel_of(raw: bytes) -> str | None:
    """Return the OrigClOrdID of a Cancel Order (None: another message)."""
    decoded = decode_inbound(raw)
    return decoded.orig_cl_ord_id if isinstance(decoded, CancelOrder) else None


def violations(records: Iterable[InboundRecord]) -> list[str]:
    """Return, in order, every request the exchange received although it already had it.

    A client must never send Cboe a request Cboe already has (it would act on it twice, or
    reject it as a duplicate): a New Order or Modify Order under a ClOrdID already received
    today, whatever became of it, or a Cancel Order of an order an earlier Cancel already
    cancelled. Tests assert that the gateway causes none, across cuts, re-logins and restarts.
    """
    seen: set[str] = set()
    cancelled: set[str] = set()
    out: list[str] = []
    for record in records:
        if record.type in ("New Order", "Modify Order") and record.cl_ord_id:
            if record.cl_ord_id in seen:
                out.append(f"#{record.index} {record.type} {record.cl_ord_id} again (seq {record.sequence})")
            seen.add(record.cl_ord_id)
        elif record.type == "Cancel Order":
            if record.orig_cl_ord_id in cancelled:
                out.append(f"#{record.index} Cancel Order of {record.orig_cl_ord_id} again (seq {record.sequence})")
            if record.outcome == "cancelled":
                cancelled.add(record.orig_cl_ord_id)
    return out


def read_records(path: str | Path) -> list[InboundRecord]:
    """Read a record file written with ``record_path`` (for tests in another process)."""
    decoder = msgspec.json.Decoder(InboundRecord)
    with Path(path).open("rb") as handle:
        # a line without its newline is one the simulator is still appending (read while it writes): not yet a record
        return [decoder.decode(line) for line in handle if line.endswith(b"\n") and line.strip()]

"""The FIX venue simulator's order book: accept, fill against a reference price, cancel, replace.

Plain synchronous code (no quickfix): it takes the fields of an incoming NewOrderSingle /
OrderCancelRequest / OrderCancelReplaceRequest and returns the reports to send back, as
(MsgType, fields) pairs the simulator turns into quickfix messages.

Matching is deliberately simple, like the OUCH simulator: a limit buy at or above the
symbol's reference price (a sell at or below it), or a market order, executes
``fill_ratio`` of its quantity at the reference price as soon as it is accepted; the
rest rests until canceled. Orders for a symbol in ``reject_symbols`` are rejected;
market orders for a symbol without a reference price too.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Final

from venues.fix import fields as f
from venues.fix.codec import format_price, parse_price, parse_qty
from venues.fix.dialect import BeginString, Dialect
from venues.fix.fields import ExecType, MsgType

Report = tuple[bytes, list[tuple[bytes, bytes]]]

_BUY_SIDES: Final = frozenset({b"1", b"3"})
_MARKET: Final = b"1"


class SimOrder:
    """One order resting in the simulator."""

    __slots__ = (
        "cl_ord_id",
        "cum_qty",
        "echoed",
        "notional",
        "ord_status",
        "ord_type",
        "order_id",
        "price",
        "qty",
        "side",
        "symbol",
    )

    def __init__(
        self,
        cl_ord_id: bytes,
        order_id: bytes,
        *,
        symbol: bytes,
        side: bytes,
        qty: int,
        price: int,
        ord_type: bytes,
        echoed: list[tuple[bytes, bytes]],
    ) -> None:
        self.cl_ord_id = cl_ord_id
        self.order_id = order_id
        self.symbol = symbol
        self.side = side
        self.qty = qty
        self.price = price
        self.ord_type = ord_type
        self.echoed = echoed
        self.cum_qty = 0
        self.notional = 0
        self.ord_status = b"0"
        """OrdStatus (39) of the last report about the order."""

    @property
    def leaves(self) -> int:
        """Return the open quantity."""
        return self.qty - self.cum_qty


class SimBook:
    """Orders of one simulated venue (all sessions share it; ClOrdIDs are per session)."""

    def __init__(
        self,
        dialect: Dialect,
        *,
        reference_prices: Mapping[str, int] | None = None,
        fill_ratio: float = 1.0,
        reject_symbols: frozenset[str] = frozenset(),
    ) -> None:
        self.dialect = dialect
        self.fix42 = dialect.begin_string is BeginString.FIX42
        self.reference_prices = {k.encode(): v for k, v in (reference_prices or {}).items()}
        self.fill_ratio = fill_ratio
        self.reject_symbols = frozenset(s.encode() for s in reject_symbols)
        self.orders: dict[tuple[str, bytes], SimOrder] = {}
        """(session, current ClOrdID) -> open order."""
        self.known: dict[tuple[str, bytes], SimOrder] = {}
        """(session, ClOrdID) -> the order it named, for every ClOrdID the book acted on (OrderStatusRequest)."""
        self.status_requests = 0
        self.seen: set[tuple[str, bytes]] = set()
        """Every ClOrdID ever received per session (duplicates and replays are detected with it)."""
        self.duplicates = 0
        self._ids = itertools.count(1)
        self._echo_tags = tuple(str(t).encode() for t in dialect.executions.echoed_tags)
        liquidity_tag = dialect.executions.liquidity_tag
        self._liquidity_tag = str(liquidity_tag).encode() if liquidity_tag else b""
        reverse = {v: k.encode() for k, v in dialect.executions.liquidity_values.items()}
        self._removed = reverse.get("R", b"")
        # "Other" reject reasons: FIX 4.2 has no 99, so broker option (0 / 2) stands in.
        self._other = b"0" if self.fix42 else b"99"
        self._cxl_other = b"2" if self.fix42 else b"99"

    # ---- reports -------------------------------------------------------------------------

    def _exec_report(
        self,
        order: SimOrder,
        exec_type: bytes,
        ord_status: bytes,
        *,
        orig_cl_ord_id: bytes = b"",
        last: tuple[int, int] | None = None,
        text: bytes = b"",
        extra: list[tuple[bytes, bytes]] | None = None,
        trans_type: bytes = b"0",
    ) -> Report:
        exec_id = b"X%d" % next(self._ids)
        order.ord_status = ord_status
        leaves = order.leaves if ord_status not in (b"4", b"8", b"C") else 0
        avg = order.notional // order.cum_qty if order.cum_qty else 0
        body: list[tuple[bytes, bytes]] = [(f.ORDER_ID, order.order_id), (f.EXEC_ID, exec_id)]
        if self.fix42:
            body.append((f.EXEC_TRANS_TYPE, trans_type))
        body += [(f.CL_ORD_ID, order.cl_ord_id)]
        if orig_cl_ord_id:
            body.append((f.ORIG_CL_ORD_ID, orig_cl_ord_id))
        body += [
            (f.EXEC_TYPE, exec_type),
            (f.ORD_STATUS, ord_status),
            (f.SYMBOL, order.symbol),
            (f.SIDE, order.side),
            (f.ORDER_QTY, b"%d" % order.qty),
            (f.ORD_TYPE, order.ord_type),
        ]
        if order.ord_type != _MARKET:
            body.append((f.PRICE, format_price(order.price)))
        if last is not None:
            body += [(f.LAST_QTY, b"%d" % last[0]), (f.LAST_PX, format_price(last[1]))]
            if self._liquidity_tag and self._removed:
                body.append((self._liquidity_tag, self._removed))
        body += [
            (f.LEAVES_QTY, b"%d" % leaves),
            (f.CUM_QTY, b"%d" % order.cum_qty),
            (f.AVG_PX, format_price(avg)),
        ]
        if text:
            body.append((f.TEXT, text))
        body += order.echoed
        body += extra or []
        return MsgType.EXECUTION_REPORT, body

    def _reject_new(self, fields: Mapping[bytes, bytes], reason: bytes, text: bytes) -> Report:
        order = SimOrder(
            fields.get(f.CL_ORD_ID, b"?"),
            b"NONE",
            symbol=fields.get(f.SYMBOL, b"?"),
            side=fields.get(f.SIDE, b"1"),
            qty=0,
            price=0,
            ord_type=fields.get(f.ORD_TYPE, b"2"),
            echoed=[(t, fields[t]) for t in self._echo_tags if t in fields],
        )
        return self._exec_report(order, ExecType.REJECTED, b"8", text=text, extra=[(f.ORD_REJ_REASON, reason)])

    def _cancel_reject(self, fields: Mapping[bytes, bytes], response_to: bytes, reason: bytes, text: bytes) -> Report:
        orig = fields.get(f.ORIG_CL_ORD_ID, b"?")
        return MsgType.ORDER_CANCEL_REJECT, [
            (f.ORDER_ID, b"NONE"),
            (f.CL_ORD_ID, fields.get(f.CL_ORD_ID, b"?")),
            (f.ORIG_CL_ORD_ID, orig),
            (f.ORD_STATUS, b"8" if reason == b"1" else b"2"),
            (f.CXL_REJ_RESPONSE_TO, response_to),
            (f.CXL_REJ_REASON, reason),
            (f.TEXT, text),
        ]

    def _fill_reports(self, key: tuple[str, bytes], order: SimOrder) -> list[Report]:
        reference = self.reference_prices.get(order.symbol)
        if reference is None or self.fill_ratio <= 0:
            return []
        buy = order.side in _BUY_SIDES
        marketable = order.ord_type == _MARKET or (order.price >= reference if buy else order.price <= reference)
        if not marketable or order.leaves <= 0:
            return []
        qty = min(max(int(order.leaves * self.fill_ratio), 1), order.leaves)
        order.cum_qty += qty
        order.notional += qty * reference
        done = order.leaves == 0
        fill_type = ExecType.FILL if done else ExecType.PARTIAL_FILL
        exec_type = fill_type if self.fix42 else ExecType.TRADE
        report = self._exec_report(order, exec_type, b"2" if done else b"1", last=(qty, reference))
        if done:
            self.orders.pop(key, None)
        return [report]

    # ---- requests -------------------------------------------------------------------------

    def on_new(self, session: str, fields: Mapping[bytes, bytes], poss_dup: bool = False) -> list[Report]:
        """Handle a NewOrderSingle."""
        cl_ord_id = fields.get(f.CL_ORD_ID, b"")
        key = (session, cl_ord_id)
        if key in self.seen:
            self.duplicates += 1
            if poss_dup:
                return []  # a replay of an order already handled
            return [self._reject_new(fields, b"6", b"duplicate ClOrdID")]
        self.seen.add(key)
        symbol = fields.get(f.SYMBOL, b"")
        if symbol in self.reject_symbols:
            return [self._reject_new(fields, b"1", b"symbol not accepted by the simulator")]
        ord_type = fields.get(f.ORD_TYPE, b"2")
        try:
            qty = parse_qty(fields.get(f.ORDER_QTY, b""))
            price = parse_price(fields[f.PRICE]) if ord_type != _MARKET else 0
        except (KeyError, ValueError):
            return [self._reject_new(fields, self._other, b"bad quantity or price")]
        if qty <= 0:
            return [self._reject_new(fields, self._other, b"quantity must be positive")]
        if ord_type == _MARKET and symbol not in self.reference_prices:
            return [self._reject_new(fields, b"0", b"no reference price for a market order")]
        order = SimOrder(
            cl_ord_id,
            b"OID%d" % next(self._ids),
            symbol=symbol,
            side=fields.get(f.SIDE, b"1"),
            qty=qty,
            price=price,
            ord_type=ord_type,
            echoed=[(t, fields[t]) for t in self._echo_tags if t in fields],
        )
        self.orders[key] = order
        self.known[key] = order
        return [self._exec_report(order, ExecType.NEW, b"0"), *self._fill_reports(key, order)]

    def on_cancel(self, session: str, fields: Mapping[bytes, bytes]) -> list[Report]:
        """Handle an OrderCancelRequest."""
        cl_ord_id = fields.get(f.CL_ORD_ID, b"")
        if (session, cl_ord_id) in self.seen:
            self.duplicates += 1
            return []
        self.seen.add((session, cl_ord_id))
        orig = fields.get(f.ORIG_CL_ORD_ID, b"")
        order = self.orders.pop((session, orig), None)
        if order is None:
            return [self._cancel_reject(fields, b"1", b"1", b"unknown order or already done")]
        order.cl_ord_id = cl_ord_id
        self.known[(session, cl_ord_id)] = order
        return [self._exec_report(order, ExecType.CANCELED, b"4", orig_cl_ord_id=orig)]

    def on_replace(self, session: str, fields: Mapping[bytes, bytes]) -> list[Report]:
        """Handle an OrderCancelReplaceRequest (new total quantity and price)."""
        cl_ord_id = fields.get(f.CL_ORD_ID, b"")
        if (session, cl_ord_id) in self.seen:
            self.duplicates += 1
            return []
        self.seen.add((session, cl_ord_id))
        orig = fields.get(f.ORIG_CL_ORD_ID, b"")
        order = self.orders.get((session, orig))
        if order is None:
            return [self._cancel_reject(fields, b"2", b"1", b"unknown order or already done")]
        try:
            qty = parse_qty(fields.get(f.ORDER_QTY, b""))
            price = parse_price(fields[f.PRICE]) if order.ord_type != _MARKET else 0
        except (KeyError, ValueError):
            return [self._cancel_reject(fields, b"2", self._cxl_other, b"bad quantity or price")]
        if qty <= order.cum_qty:
            return [self._cancel_reject(fields, b"2", self._cxl_other, b"new quantity not above the executed quantity")]
        del self.orders[(session, orig)]
        order.cl_ord_id = cl_ord_id
        order.qty = qty
        order.price = price
        key = (session, cl_ord_id)
        self.orders[key] = order
        self.known[key] = order
        status = b"1" if order.cum_qty else b"0"
        replaced = self._exec_report(order, ExecType.REPLACED, status, orig_cl_ord_id=orig)
        return [replaced, *self._fill_reports(key, order)]

    def on_status(self, session: str, fields: Mapping[bytes, bytes]) -> list[Report]:
        """Handle an OrderStatusRequest: the order's status, or OrdStatus Rejected / Unknown order.

        FIX 4.4 answers with ExecType I (Order Status); FIX 4.2 with ExecTransType 3 (Status) and
        ExecType the order's status. An order the book never had (by this ClOrdID) is reported with
        OrdStatus 8 (Rejected) and OrdRejReason 5 (Unknown order).
        """
        self.status_requests += 1
        cl_ord_id = fields.get(f.CL_ORD_ID, b"")
        order = self.known.get((session, cl_ord_id))
        extra: list[tuple[bytes, bytes]] = []
        if order is None:
            order = SimOrder(
                cl_ord_id,
                b"NONE",
                symbol=fields.get(f.SYMBOL, b"?"),
                side=fields.get(f.SIDE, b"1"),
                qty=0,
                price=0,
                ord_type=b"2",
                echoed=[],
            )
            ord_status = b"8"
            extra.append((f.ORD_REJ_REASON, b"5"))
            text = b"unknown order"
        else:
            ord_status = order.ord_status
            text = b""
        exec_type = ord_status if self.fix42 else ExecType.ORDER_STATUS
        report = self._exec_report(order, exec_type, ord_status, text=text, extra=extra, trans_type=b"3")
        return [report]

    def execute(self, session: str, cl_ord_id: bytes, qty: int, price: int | None = None) -> list[Report]:
        """Execute ``qty`` of the open order known by ``cl_ord_id`` now (a contra order arrived)."""
        key = (session, cl_ord_id)
        order = self.orders.get(key)
        if order is None or qty <= 0:
            return []
        qty = min(qty, order.leaves)
        px = order.price if price is None else price
        order.cum_qty += qty
        order.notional += qty * px
        done = order.leaves == 0
        exec_type = (ExecType.FILL if done else ExecType.PARTIAL_FILL) if self.fix42 else ExecType.TRADE
        report = self._exec_report(order, exec_type, b"2" if done else b"1", last=(qty, px))
        if done:
            self.orders.pop(key, None)
        return [report]

    def cancel_all(self, session: str) -> list[Report]:
        """Cancel every open order of ``session`` (unsolicited, e.g. end of day)."""
        reports = []
        for key in [k for k in self.orders if k[0] == session]:
            order = self.orders.pop(key)
            reports.append(self._exec_report(order, ExecType.CANCELED, b"4", text=b"canceled by the venue"))
        return reports

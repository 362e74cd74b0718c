"""Positions and open exposure, kept from what the venues report.

Each account has counters (open orders, open notional, gross traded notional) and,
per symbol, the filled position and the quantity working on each side. Every order
the engine counts has an ``OrderRecord`` holding exactly what it contributes, so each
update recomputes the order's contribution from the order itself and applies the
difference: a repeated or out-of-order report cannot make the totals drift.

An order counts ``leaves_qty`` at its price while it is open; while a replace is in
flight it counts the larger of the old and the requested quantity and notional (it may
still fill at either).
"""

from __future__ import annotations

from typing import Final

from model.enums import Side
from model.order import Order, OrderState
from risk.exposure_rows import AccountState as AccountState  # noqa: PLC0414 - re-exported
from risk.exposure_rows import PositionState as PositionState  # noqa: PLC0414 - re-exported
from risk.exposure_state import OrderRecord as OrderRecord  # noqa: PLC0414 - re-exported

_FILLED: Final = OrderState.FILLED
_PENDING_NEW: Final = OrderState.PENDING_NEW
# Final, and Final aliases of what is used per order: compiled, a use is a static read instead of a lookup of the
# name in this module's globals dict (which every imported name and non-Final global is)
_OrderRecord: Final = OrderRecord


class ExposureBook:
    """Accounts, positions and per-order contributions."""

    __slots__ = ("accounts", "opened_id", "opened_leaves", "opened_notional", "orders")

    def __init__(self) -> None:
        self.accounts: dict[str, AccountState] = {}
        self.orders: dict[int, OrderRecord] = {}
        self.opened_id = -1
        """The order ``open_new`` counted last, while no other change has recounted any order since (-1: none).

        With ``opened_leaves`` and ``opened_notional`` (what it counted), this lets the risk engine's
        ``on_opened`` of that order see that it is counted as it stands without reading its record
        (compiled, each read of the record, a Struct, is a generic lookup). Every other change of a
        record (``sync``, ``reserve_replace``) resets it.
        """
        self.opened_leaves = 0
        self.opened_notional = 0

    def account(self, name: str) -> AccountState:
        """Return the state of account ``name``, creating it empty."""
        state = self.accounts.get(name)
        if state is None:
            state = self.accounts[name] = AccountState()
        return state

    def position(self, account: AccountState, symbol: str) -> PositionState:
        """Return ``account``'s position in ``symbol``, creating it flat."""
        state = account.positions.get(symbol)
        if state is None:
            state = account.positions[symbol] = PositionState()
        return state

    def counted(self, order: Order) -> OrderRecord | None:
        """Return what ``order`` contributes now, or None if nothing."""
        return self.orders.get(order.order_id)

    def sync(self, order: Order, valuation_price: int = 0) -> None:
        """Recount ``order`` from its current fields (opened, filled, canceled, replaced, rejected)."""
        self.opened_id = -1
        record = self.orders.get(order.order_id)
        if record is None:
            if order.state >= _FILLED:
                return
            record = self._new_record(order, valuation_price)
        elif valuation_price > 0:
            record.valuation_price = valuation_price
        leaves, notional = self._target(order, record)
        self._apply(record, leaves, notional, order.state < _FILLED and leaves > 0)
        if order.state >= _FILLED:
            del self.orders[order.order_id]

    def open_new(
        self,
        order: Order,
        order_id: int,
        leaves: int,
        is_buy: bool,
        price: int,
        account: AccountState,
        position: PositionState,
        valuation_price: int,
    ) -> None:
        """Count a just-approved new order (the hot path: no lookups, one record).

        ``order_id``, ``leaves`` (qty - cum_qty), ``is_buy`` and ``price`` are the order's as the risk
        check read them (passed, not read again: each read of the Struct from compiled code is a lookup).
        """
        if order_id in self.orders:
            self.sync(order, valuation_price)
            return
        if leaves <= 0:
            self.opened_id = -1
            return
        notional = leaves * (price if price > 0 else valuation_price)
        self.orders[order_id] = _OrderRecord(account, position, is_buy, leaves, notional, True, valuation_price)
        self.opened_id = order_id
        self.opened_leaves = leaves
        self.opened_notional = notional
        if is_buy:
            position.open_buy_qty += leaves
        else:
            position.open_sell_qty += leaves
        account.open_notional += notional
        account.open_orders += 1

    def reserve_replace(self, order: Order, qty: int, price: int) -> None:
        """Count an approved replace at once: the larger of the current and the requested exposure."""
        self.opened_id = -1
        record = self.orders.get(order.order_id)
        if record is None:
            record = self._new_record(order, 0)
        leaves, notional = self._target(order, record)
        new_leaves = max(qty - order.cum_qty, 0)
        new_notional = new_leaves * (price if price > 0 else record.valuation_price)
        self._apply(record, max(leaves, new_leaves), max(notional, new_notional), True)

    def fill(self, order: Order, qty: int, price: int) -> None:
        """Apply an execution to the position and the day's traded notional, then recount the order."""
        account = self.account(order.account)
        position = self.position(account, order.symbol)
        if order.side == Side.BUY:
            position.position += qty
        else:
            position.position -= qty
        account.traded_notional += qty * price
        self.sync(order)

    def start_new_day(self) -> None:
        """Reset the gross traded notional of every account (positions and open orders stay)."""
        for account in self.accounts.values():
            account.traded_notional = 0

    def _new_record(self, order: Order, valuation_price: int) -> OrderRecord:
        account = self.account(order.account)
        record = OrderRecord(
            account,
            self.position(account, order.symbol),
            order.side == Side.BUY,
            valuation_price=valuation_price,
        )
        self.orders[order.order_id] = record
        return record

    @staticmethod
    def _target(order: Order, record: OrderRecord) -> tuple[int, int]:
        """Return the (open qty, open notional) ``order`` should contribute now."""
        state = order.state
        if state >= _FILLED:
            return 0, 0
        leaves = order.leaves_qty
        if leaves <= 0 and state <= _PENDING_NEW:
            leaves = order.qty - order.cum_qty
        leaves = max(leaves, 0)
        price = order.price if order.price > 0 else record.valuation_price
        notional = leaves * price
        if order.pending_qty > 0:  # a replace in flight
            pending_leaves = max(order.pending_qty - order.cum_qty, 0)
            pending_price = order.pending_price if order.pending_price > 0 else price
            leaves = max(leaves, pending_leaves)
            notional = max(notional, pending_leaves * pending_price)
        return leaves, notional

    @staticmethod
    def _apply(record: OrderRecord, leaves: int, notional: int, is_open: bool) -> None:
        delta = leaves - record.leaves
        if delta:
            if record.is_buy:
                record.position.open_buy_qty += delta
            else:
                record.position.open_sell_qty += delta
        account = record.account
        account.open_notional += notional - record.notional
        if is_open != record.counted_open:
            account.open_orders += 1 if is_open else -1
        record.leaves = leaves
        record.notional = notional
        record.counted_open = is_open

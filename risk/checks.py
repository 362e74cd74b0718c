"""The pre-trade checks, one small function each, run in a fixed order.

Every check reads one reused ``Request`` (filled once per order by the engine: no
allocation per check) and returns ``None`` when the order passes, or a ``Denial`` with
a stable code (``risk.codes``) and a human text. When ``request.explain`` is set (the
``explain`` tool, never the hot path) a passing check returns a text saying why it
passed, so the explanation comes from the very comparison that decides.

Exposure terms for a request: ``add_qty`` / ``add_notional`` are how much this order
would add to the open quantity (on its side) and open notional: the whole order for a
new order, the increase over what is already counted for a replace (<= 0 when a replace
reduces, and a reducing change is never refused by an exposure limit).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from gateway.protocol.messages import PRICE_SCALE, Side
from risk import codes
from risk.api import Denial
from risk.duplicates import DuplicateFilter, DuplicateKey
from risk.exposure import AccountState, PositionState
from risk.loader import format_scaled
from risk.model import PERCENT_SCALE, TradingState
from risk.reference import MISSING, STALE
from risk.resolve import RESTRICTION_NO_TRADE, RESTRICTION_SELL_ONLY, EffectiveLimits
from risk.throttle import SlidingWindow

NEW: Final = 0
REPLACE: Final = 1
CANCEL: Final = 2

_HALTED: Final = int(TradingState.HALTED)
_REDUCING: Final = int(TradingState.REDUCING)
_SELL: Final = Side.SELL
_SELL_SHORT: Final = Side.SELL_SHORT
_SELL_SHORT_EXEMPT: Final = Side.SELL_SHORT_EXEMPT


def money(value: int) -> str:
    """Render fixed-point money/price for a human."""
    return format_scaled(value, PRICE_SCALE)


class Request:
    """Everything the checks need about one new order, replace or cancel (one instance, reused)."""

    __slots__ = (
        "account",
        "account_state",
        "add_notional",
        "add_qty",
        "cancel_windows",
        "duplicate_key",
        "duplicates",
        "explain",
        "is_buy",
        "is_market",
        "kind",
        "leaves",
        "limits",
        "now_ns",
        "old_leaves",
        "order_windows",
        "position",
        "price",
        "qty",
        "reference",
        "side",
        "state",
        "strategy",
        "symbol",
        "value_price",
    )

    def __init__(
        self,
        order_windows: tuple[dict[str, SlidingWindow], dict[str, SlidingWindow], dict[str, SlidingWindow]],
        cancel_windows: tuple[dict[str, SlidingWindow], dict[str, SlidingWindow], dict[str, SlidingWindow]],
        duplicates: DuplicateFilter,
    ) -> None:
        self.order_windows = order_windows
        """(per strategy, per account, per symbol) new-order counters."""
        self.cancel_windows = cancel_windows
        """(per strategy, per account, per symbol) cancel/replace counters."""
        self.duplicates = duplicates
        self.explain = False
        self.kind = NEW
        self.account = ""
        self.strategy = ""
        self.symbol = ""
        self.side: Side = Side.BUY
        self.is_buy = True
        self.is_market = False
        self.qty = 0
        """Total order quantity (the new total for a replace)."""
        self.leaves = 0
        """Quantity that would be open (qty - cum_qty)."""
        self.old_leaves = 0
        """Quantity this order already has counted as open (0 for a new order)."""
        self.price = 0
        """Limit price (0 for a market order)."""
        self.value_price = 0
        """Price the notional is valued at: the limit price, or the reference for a market order."""
        self.reference = MISSING
        self.add_qty = 0
        self.add_notional = 0
        self.state = 0
        self.now_ns = 0
        self.duplicate_key: DuplicateKey = ("", "", "", 0, 0)
        self.limits: EffectiveLimits | None = None
        self.account_state: AccountState = AccountState()
        self.position: PositionState = PositionState()


Result = Denial | str | None
Check = Callable[[Request], Result]


def _limits(r: Request) -> EffectiveLimits:
    limits = r.limits
    assert limits is not None
    return limits


def check_trading_state(r: Request) -> Result:
    """HALTED refuses all but cancels; REDUCING lets through only orders that cannot grow the position."""
    state = r.state
    if state >= _HALTED:
        return Denial(codes.TRADING_HALTED, f"trading is HALTED for account {r.account} / symbol {r.symbol}")
    if state == _REDUCING and r.add_qty > 0:
        position = r.position
        if r.is_buy:
            worst = position.position + position.open_buy_qty + r.add_qty
            if worst > 0:
                return Denial(
                    codes.REDUCE_ONLY,
                    f"account {r.account} is REDUCING: buying {r.add_qty} {r.symbol} could leave it long "
                    f"{worst} (position {position.position}, open buys {position.open_buy_qty})",
                )
        else:
            worst = position.position - position.open_sell_qty - r.add_qty
            if worst < 0:
                return Denial(
                    codes.REDUCE_ONLY,
                    f"account {r.account} is REDUCING: selling {r.add_qty} {r.symbol} could leave it short "
                    f"{-worst} (position {position.position}, open sells {position.open_sell_qty})",
                )
    if r.explain:
        return f"trading state {TradingState(state).name}"
    return None


def check_order_valid(r: Request) -> Result:
    """Quantity and (limit) price must be positive; a replace must leave something open."""
    if r.qty <= 0:
        return Denial(codes.INVALID_ORDER, f"quantity {r.qty} is not positive")
    if not r.is_market and r.price <= 0:
        return Denial(codes.INVALID_ORDER, f"limit price {money(r.price)} is not positive")
    if r.leaves <= 0:
        return Denial(codes.INVALID_ORDER, f"quantity {r.qty} leaves nothing open: cancel instead")
    if r.explain:
        return f"quantity {r.qty} and price {money(r.price)} are valid"
    return None


def check_restricted(r: Request) -> Result:
    """Restricted list: no_trade refuses every order; sell_only lets only long sales through."""
    restriction = _limits(r).restriction
    if restriction == RESTRICTION_NO_TRADE:
        return Denial(codes.RESTRICTED_SYMBOL, f"{r.symbol} is on the restricted list (no trading)")
    if restriction == RESTRICTION_SELL_ONLY and r.side != _SELL:
        return Denial(
            codes.SELL_ONLY_SYMBOL, f"{r.symbol} is sell-only: only long sales (side S) are allowed"
        )
    if r.explain:
        return "not restricted" if not restriction else f"{r.symbol} is sell-only and this is a long sale"
    return None


def check_market_order(r: Request) -> Result:
    """Market orders need ``allow_market_orders``."""
    if r.is_market and not _limits(r).allow_market_orders:
        return Denial(codes.MARKET_ORDER_NOT_ALLOWED, "market orders are not allowed; send a limit order")
    if r.explain:
        return "market order allowed" if r.is_market else "limit order"
    return None


def check_lot_size(r: Request) -> Result:
    """Quantity must be a whole number of lots."""
    lot = _limits(r).lot_size
    if r.qty % lot:
        return Denial(codes.LOT_SIZE, f"quantity {r.qty} is not a multiple of the lot size {lot}")
    if r.explain:
        return f"quantity {r.qty} is a multiple of lot size {lot}"
    return None


def check_tick_size(r: Request) -> Result:
    """Limit price must be a whole number of ticks."""
    tick = _limits(r).tick_size
    if not r.is_market and r.price % tick:
        return Denial(
            codes.TICK_SIZE, f"price {money(r.price)} is not a multiple of the tick size {money(tick)}"
        )
    if r.explain:
        return (
            "market order: no price" if r.is_market else f"price {money(r.price)} is on a {money(tick)} tick"
        )
    return None


def check_max_qty(r: Request) -> Result:
    """Fat finger: order quantity."""
    limit = _limits(r).max_qty
    if r.qty > limit:
        return Denial(codes.MAX_QTY, f"quantity {r.qty} is above max_qty {limit}")
    if r.explain:
        return f"quantity {r.qty} <= max_qty {limit}"
    return None


def check_price_collar(r: Request) -> Result:
    """Limit price within ``collar_pct`` / ``collar_ticks`` of a fresh reference; market orders need one."""
    limits = _limits(r)
    reference = r.reference
    if reference <= 0:
        if r.is_market or not limits.allow_missing_reference:
            code = codes.REFERENCE_STALE if reference == STALE else codes.REFERENCE_MISSING
            what = "is stale" if reference == STALE else "is known"
            if r.is_market:
                return Denial(code, f"no fresh reference price for {r.symbol} to value a market order")
            return Denial(
                code, f"no reference price for {r.symbol} {what}: the price collar cannot be checked"
            )
        if r.explain:
            return f"no fresh reference for {r.symbol} (in reference_prices.allow_missing): collar skipped"
        return None
    if r.is_market:
        if r.explain:
            return f"market order valued at reference {money(reference)}"
        return None
    deviation = r.price - reference if r.price > reference else reference - r.price
    pct = limits.collar_pct
    if pct and deviation * 100 * PERCENT_SCALE > pct * reference:
        return Denial(
            codes.PRICE_COLLAR,
            f"price {money(r.price)} is {deviation * 100 / reference:.2f}% from reference "
            f"{money(reference)}, more than collar_pct {format_scaled(pct, PERCENT_SCALE)}%",
        )
    ticks = limits.collar_ticks
    if ticks and deviation > ticks * limits.tick_size:
        return Denial(
            codes.PRICE_COLLAR,
            f"price {money(r.price)} is {deviation // limits.tick_size} ticks from reference "
            f"{money(reference)}, more than collar_ticks {ticks}",
        )
    if r.explain:
        bands = []
        if pct:
            bands.append(f"collar_pct {format_scaled(pct, PERCENT_SCALE)}%")
        if ticks:
            bands.append(f"collar_ticks {ticks}")
        return f"price {money(r.price)} within {' and '.join(bands)} of reference {money(reference)}"
    return None


def check_max_notional(r: Request) -> Result:
    """Fat finger: order notional (quantity x price)."""
    limit = _limits(r).max_notional
    notional = r.qty * r.value_price
    if notional > limit:
        return Denial(codes.MAX_NOTIONAL, f"notional {money(notional)} is above max_notional {money(limit)}")
    if r.explain:
        return f"notional {money(notional)} <= max_notional {money(limit)}"
    return None


def check_short_sale(r: Request) -> Result:
    """A sale beyond the long position must be marked short; short sales need the limits' permission."""
    side = r.side
    limits = _limits(r)
    if side == _SELL:
        position = r.position
        available = position.position - (position.open_sell_qty - r.old_leaves)
        if r.leaves > available:
            return Denial(
                codes.SHORT_SALE_NOT_MARKED,
                f"selling {r.leaves} {r.symbol} with only {max(available, 0)} available long "
                f"(position {position.position}, open sells {position.open_sell_qty - r.old_leaves}): "
                "mark it sell short (side T)",
            )
        if r.explain:
            return f"long sale: {r.leaves} <= {available} available"
        return None
    if side == _SELL_SHORT and not limits.allow_short_sales:
        return Denial(
            codes.SHORT_SALE_NOT_ALLOWED, "short sales are not allowed for this account/strategy/symbol"
        )
    if side == _SELL_SHORT_EXEMPT and not limits.allow_short_exempt:
        return Denial(codes.SHORT_EXEMPT_NOT_ALLOWED, "short-exempt sales are not allowed here")
    if r.explain:
        return "buy" if r.is_buy else f"{side.name} allowed"
    return None


def check_open_orders(r: Request) -> Result:
    """Count of open orders per account (new orders only)."""
    limit = _limits(r).max_open_orders
    open_orders = r.account_state.open_orders
    if r.kind == NEW and open_orders >= limit:
        return Denial(
            codes.MAX_OPEN_ORDERS,
            f"account {r.account} has {open_orders} open orders, max_open_orders {limit}",
        )
    if r.explain:
        return f"{open_orders} open orders + this one <= max_open_orders {limit}"
    return None


def check_open_notional(r: Request) -> Result:
    """Working notional per account."""
    limit = _limits(r).max_open_notional
    after = r.account_state.open_notional + r.add_notional
    if r.add_notional > 0 and after > limit:
        return Denial(
            codes.MAX_OPEN_NOTIONAL,
            f"open notional would be {money(after)}, above max_open_notional {money(limit)}",
        )
    if r.explain:
        return f"open notional after {money(after)} <= max_open_notional {money(limit)} (or not increased)"
    return None


def check_credit(r: Request) -> Result:
    """Daily credit: gross traded plus open notional per account (15c3-5 credit threshold)."""
    limit = _limits(r).credit_limit
    account = r.account_state
    after = account.traded_notional + account.open_notional + r.add_notional
    if r.add_notional > 0 and after > limit:
        return Denial(
            codes.CREDIT_LIMIT,
            f"traded {money(account.traded_notional)} + open {money(account.open_notional)} + this order "
            f"{money(r.add_notional)} is above credit_limit {money(limit)}",
        )
    if r.explain:
        return (
            f"traded + open + this order = {money(after)} <= credit_limit {money(limit)} (or not increased)"
        )
    return None


def check_long_position(r: Request) -> Result:
    """Worst-case long: filled position plus every working buy plus this order."""
    limit = _limits(r).max_long_qty
    position = r.position
    worst = position.position + position.open_buy_qty + (r.add_qty if r.is_buy else 0)
    if r.is_buy and r.add_qty > 0 and worst > limit:
        return Denial(
            codes.MAX_LONG_POSITION,
            f"worst-case long {worst} {r.symbol} (position {position.position} + open buys "
            f"{position.open_buy_qty} + {r.add_qty}) is above max_long_qty {limit}",
        )
    if r.explain:
        return f"worst-case long {worst} <= max_long_qty {limit} (or not increased)"
    return None


def check_short_position(r: Request) -> Result:
    """Worst-case short: filled position minus every working sell minus this order."""
    limit = _limits(r).max_short_qty
    position = r.position
    worst = -(position.position - position.open_sell_qty - (0 if r.is_buy else r.add_qty))
    if not r.is_buy and r.add_qty > 0 and worst > limit:
        return Denial(
            codes.MAX_SHORT_POSITION,
            f"worst-case short {worst} {r.symbol} (position {position.position} - open sells "
            f"{position.open_sell_qty} - {r.add_qty}) is above max_short_qty {limit}",
        )
    if r.explain:
        return f"worst-case short {max(worst, 0)} <= max_short_qty {limit} (or not increased)"
    return None


def check_net_position(r: Request) -> Result:
    """Net position if every working order (and this one) filled; an order that shrinks it always passes."""
    limit = _limits(r).max_net_qty
    position = r.position
    before = position.position + position.open_buy_qty - position.open_sell_qty
    after = before + r.add_qty if r.is_buy else before - r.add_qty
    size = after if after >= 0 else -after
    if size > limit and size > (before if before >= 0 else -before):
        return Denial(
            codes.MAX_NET_POSITION,
            f"net {r.symbol} position if all working orders filled would be {after}, "
            f"above max_net_qty {limit}",
        )
    if r.explain:
        return f"net if all working orders filled {after}, |{after}| <= max_net_qty {limit} (or reduced)"
    return None


def check_duplicate(r: Request) -> Result:
    """The same account, symbol, side, quantity and price accepted within ``duplicate_window_ms``."""
    window = _limits(r).duplicate_window_ns
    if r.kind == NEW and window > 0:
        key = (r.account, r.symbol, r.side.value, r.qty, r.price)
        r.duplicate_key = key
        if r.duplicates.is_duplicate(key, r.now_ns, window):
            ago_ms = (r.now_ns - r.duplicates.last_seen(key)) / 1e6
            return Denial(
                codes.DUPLICATE_ORDER,
                f"same order ({r.side.name} {r.qty} {r.symbol} @ {money(r.price)}) accepted {ago_ms:.1f} ms "
                f"ago, within duplicate_window_ms {window // 1_000_000}",
            )
    if r.explain:
        return (
            f"no identical order within {window // 1_000_000} ms" if window else "duplicate check off (0 ms)"
        )
    return None


def _rate(
    r: Request, windows: dict[str, SlidingWindow], key: str, limit: int, *, code: str, what: str
) -> Result:
    window = windows.get(key)
    if not (window.allows(limit, r.now_ns) if window is not None else limit > 0):
        return Denial(code, f"{what} {key} is at its limit of {limit} per second")
    if r.explain:
        seen = window.in_window(r.now_ns) if window is not None else 0
        return f"{what} {key}: {seen} in the last second < {limit}"
    return None


def check_order_rate(r: Request) -> Result:
    """New orders per second per strategy, account and symbol (sliding one-second window)."""
    limits = _limits(r)
    by_strategy, by_account, by_symbol = r.order_windows
    result = _rate(
        r,
        by_strategy,
        r.strategy,
        limits.orders_per_strategy,
        code=codes.ORDER_RATE_STRATEGY,
        what="strategy",
    )
    if result is None or isinstance(result, str):
        second = _rate(
            r, by_account, r.account, limits.orders_per_account, code=codes.ORDER_RATE_ACCOUNT, what="account"
        )
        if second is None or isinstance(second, str):
            third = _rate(
                r, by_symbol, r.symbol, limits.orders_per_symbol, code=codes.ORDER_RATE_SYMBOL, what="symbol"
            )
            if third is None or isinstance(third, str):
                if r.explain:
                    return f"new orders/s: {result}; {second}; {third}"
                return None
            return third
        return second
    return result


def check_cancel_rate(r: Request) -> Result:
    """Cancels and replaces per second per strategy, account and symbol (not while REDUCING or HALTED)."""
    if r.state >= _REDUCING:
        if r.explain:
            return "cancel/replace rate not applied while REDUCING or HALTED"
        return None
    limits = _limits(r)
    by_strategy, by_account, by_symbol = r.cancel_windows
    result = _rate(
        r,
        by_strategy,
        r.strategy,
        limits.cancels_per_strategy,
        code=codes.CANCEL_RATE_STRATEGY,
        what="strategy",
    )
    if result is None or isinstance(result, str):
        second = _rate(
            r,
            by_account,
            r.account,
            limits.cancels_per_account,
            code=codes.CANCEL_RATE_ACCOUNT,
            what="account",
        )
        if second is None or isinstance(second, str):
            third = _rate(
                r,
                by_symbol,
                r.symbol,
                limits.cancels_per_symbol,
                code=codes.CANCEL_RATE_SYMBOL,
                what="symbol",
            )
            if third is None or isinstance(third, str):
                if r.explain:
                    return f"cancels+replaces/s: {result}; {second}; {third}"
                return None
            return third
        return second
    return result


NEW_ORDER_CHECKS: Final[tuple[tuple[str, Check], ...]] = (
    ("trading_state", check_trading_state),
    ("order_valid", check_order_valid),
    ("restricted", check_restricted),
    ("market_order", check_market_order),
    ("lot_size", check_lot_size),
    ("tick_size", check_tick_size),
    ("max_qty", check_max_qty),
    ("price_collar", check_price_collar),
    ("max_notional", check_max_notional),
    ("short_sale", check_short_sale),
    ("max_open_orders", check_open_orders),
    ("max_open_notional", check_open_notional),
    ("credit_limit", check_credit),
    ("max_long_qty", check_long_position),
    ("max_short_qty", check_short_position),
    ("max_net_qty", check_net_position),
    ("duplicate", check_duplicate),
    ("order_rate", check_order_rate),
)
"""Every check a new order passes, in order; the first refusal is the answer."""

REPLACE_CHECKS: Final[tuple[tuple[str, Check], ...]] = (
    ("trading_state", check_trading_state),
    ("order_valid", check_order_valid),
    ("restricted", check_restricted),
    ("lot_size", check_lot_size),
    ("tick_size", check_tick_size),
    ("max_qty", check_max_qty),
    ("price_collar", check_price_collar),
    ("max_notional", check_max_notional),
    ("short_sale", check_short_sale),
    ("max_open_notional", check_open_notional),
    ("credit_limit", check_credit),
    ("max_long_qty", check_long_position),
    ("max_short_qty", check_short_position),
    ("max_net_qty", check_net_position),
    ("cancel_rate", check_cancel_rate),
)
"""Checks for a replace: the new quantity and price as if new, exposure by the increase only."""

CANCEL_CHECKS: Final[tuple[tuple[str, Check], ...]] = (("cancel_rate", check_cancel_rate),)
"""A cancel is only ever refused by the cancel-rate throttle (and never while REDUCING or HALTED)."""

NEW_ORDER_CHAIN: Final = tuple(check for _, check in NEW_ORDER_CHECKS)
REPLACE_CHAIN: Final = tuple(check for _, check in REPLACE_CHECKS)

"""The pre-trade checks, one small function each, run in a fixed order.

Every check reads one reused ``RiskRequest`` (filled once per order by the engine: no
allocation per check) and refuses with a ``Denial``: a stable code (``risk.codes``) and a
human text. Related checks are grouped in one function each (fewer calls on the hot path);
on the hot path (``out`` is None) a group returns the first denial or None. In explain mode
(``out`` is a list, never on the hot path) every check appends its verdict, the denial or
why it passed, so the explanation comes from the very comparison that decides.

Exposure terms for a request: ``add_qty`` / ``add_notional`` are how much this order
would add to the open quantity (on its side) and open notional: the whole order for a
new order, the increase over what is already counted for a replace (<= 0 when a replace
reduces, and a reducing change is never refused by an exposure limit).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from model.denials import Denial
from model.enums import PRICE_SCALE, Side
from risk import codes
from risk.duplicates import DuplicateFilter, DuplicateKey
from risk.exposure import AccountState, PositionState
from risk.loader import format_scaled
from risk.model import PERCENT_SCALE, TradingState
from risk.reference import MISSING, STALE
from risk.resolve import PLACEHOLDER_LIMITS, RESTRICTION_NO_TRADE, RESTRICTION_SELL_ONLY, EffectiveLimits
from risk.throttle import SlidingWindow

_SCOPES: Final = ("strategy", "account", "symbol")
_ORDER_RATE_CODES: Final = (codes.ORDER_RATE_STRATEGY, codes.ORDER_RATE_ACCOUNT, codes.ORDER_RATE_SYMBOL)
_CANCEL_RATE_CODES: Final = (codes.CANCEL_RATE_STRATEGY, codes.CANCEL_RATE_ACCOUNT, codes.CANCEL_RATE_SYMBOL)

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


Windows = tuple[dict[str, SlidingWindow], dict[str, SlidingWindow], dict[str, SlidingWindow]]
"""(per strategy, per account, per symbol) rate counters."""


def _no_scopes(r: RiskRequest, state: int) -> str:
    """Name the scope when no engine supplied a describer (the account, as far as the request knows)."""
    return f"account {r.account}"


StateScopes = Callable[["RiskRequest", int], str]
"""Name every scope that puts the request at ``state`` or stricter (file scope or run time, with who and
why): called only when an order is refused for its trading state, never on the accept path."""


class LimitsRow:
    """The limits ``passes_new`` and the rate windows read per new order, as native fields (compiled).

    ``EffectiveLimits`` is a frozen msgspec Struct: from compiled code each of its fields is a generic
    attribute lookup, about 15 per new order. The risk engine keeps one row per (account, strategy,
    symbol), built from the resolved limits when the key is first seen, and hands it over in
    ``RiskRequest.row``; ``limits`` is the Struct it was copied from.
    """

    __slots__ = (
        "allow_missing_reference",
        "allow_short_exempt",
        "allow_short_sales",
        "collar_pct",
        "collar_ticks",
        "credit_limit",
        "duplicate_window_ns",
        "limits",
        "lot_size",
        "max_long_qty",
        "max_net_qty",
        "max_notional",
        "max_open_notional",
        "max_open_orders",
        "max_qty",
        "max_short_qty",
        "orders_per_account",
        "orders_per_strategy",
        "orders_per_symbol",
        "restriction",
        "tick_size",
    )

    def __init__(self, limits: EffectiveLimits) -> None:
        self.limits = limits
        self.restriction = limits.restriction
        self.lot_size = limits.lot_size
        self.tick_size = limits.tick_size
        self.max_qty = limits.max_qty
        self.max_notional = limits.max_notional
        self.collar_pct = limits.collar_pct
        self.collar_ticks = limits.collar_ticks
        self.allow_missing_reference = limits.allow_missing_reference
        self.allow_short_sales = limits.allow_short_sales
        self.allow_short_exempt = limits.allow_short_exempt
        self.max_open_orders = limits.max_open_orders
        self.max_open_notional = limits.max_open_notional
        self.credit_limit = limits.credit_limit
        self.max_long_qty = limits.max_long_qty
        self.max_short_qty = limits.max_short_qty
        self.max_net_qty = limits.max_net_qty
        self.orders_per_strategy = limits.orders_per_strategy
        self.orders_per_account = limits.orders_per_account
        self.orders_per_symbol = limits.orders_per_symbol
        self.duplicate_window_ns = limits.duplicate_window_ns


class RiskRequest:
    """Everything the checks need about one new order, replace or cancel (one instance, reused)."""

    __slots__ = (
        "account",
        "account_state",
        "add_notional",
        "add_qty",
        "cancel_windows",
        "duplicate_key",
        "duplicates",
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
        "row",
        "side",
        "state",
        "state_scopes",
        "strategy",
        "symbol",
        "value_price",
    )

    def __init__(self, order_windows: Windows, cancel_windows: Windows, duplicates: DuplicateFilter) -> None:
        self.order_windows = order_windows
        """(per strategy, per account, per symbol) new-order counters."""
        self.cancel_windows = cancel_windows
        """(per strategy, per account, per symbol) cancel/replace counters."""
        self.duplicates = duplicates
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
        self.limits: EffectiveLimits = PLACEHOLDER_LIMITS
        self.row = LimitsRow(PLACEHOLDER_LIMITS)
        """``limits`` as native fields (``passes_new`` makes it again when ``limits`` was set without it)."""
        self.account_state: AccountState = AccountState()
        self.position: PositionState = PositionState()
        self.state_scopes: StateScopes = _no_scopes
        """Names the scopes behind ``state`` for a TRADING_HALTED or REDUCE_ONLY text (set by the engine)."""


Verdicts = list[tuple[str, Denial | str]]
"""Explain mode: (check name, the denial or the reason it passed) for every check, in order."""
Check = Callable[[RiskRequest, Verdicts | None], Denial | None]
"""A group of checks: on the hot path (``out`` None) the first denial or None; in explain mode each
check appends its verdict to ``out`` and the group returns None."""


def _percent_over(deviation: int, reference: int, limit: int) -> str:
    """Write ``deviation / reference`` in percent, rounded to the fewest decimals (2 or more) that still
    show it above ``limit`` (percent x PERCENT_SCALE): 5.0024, never 5.00 for a 5 % collar.

    The reject path only.
    """
    digits = 2
    while True:
        shown = (deviation * 200 * 10**digits + reference) // (2 * reference)  # rounded half up
        if shown * PERCENT_SCALE > limit * 10**digits or digits >= 12:
            whole, fraction = divmod(shown, 10**digits)
            return f"{whole}.{fraction:0{digits}d}"
        digits += 1


def _fail(out: Verdicts | None, name: str, denial: Denial) -> Denial | None:
    """Return the denial on the hot path; record it and carry on in explain mode."""
    if out is None:
        return denial
    out.append((name, denial))
    return None


def check_state(r: RiskRequest, out: Verdicts | None) -> Denial | None:
    """trading_state, then the restricted list."""
    state = r.state
    if state >= _HALTED:
        denial = Denial(codes.TRADING_HALTED, f"trading is HALTED for {r.state_scopes(r, _HALTED)}; only cancels pass")
        if _fail(out, "trading_state", denial):
            return denial
    elif state == _REDUCING and r.add_qty > 0 and (reducing := _reduce_only(r)) is not None:
        if _fail(out, "trading_state", reducing):
            return reducing
    elif out is not None:
        out.append(("trading_state", f"trading state {TradingState(state).name}"))
    restriction = r.limits.restriction
    if restriction == RESTRICTION_NO_TRADE:
        denial = Denial(codes.RESTRICTED_SYMBOL, f"{r.symbol} is on the restricted list (no trading)")
        if _fail(out, "restricted", denial):
            return denial
    elif restriction == RESTRICTION_SELL_ONLY and r.side != _SELL:
        denial = Denial(codes.SELL_ONLY_SYMBOL, f"{r.symbol} is sell-only: only long sales (side S) are allowed")
        if _fail(out, "restricted", denial):
            return denial
    elif out is not None:
        out.append(("restricted", "not restricted" if not restriction else f"{r.symbol} is sell-only: long sale"))
    return None


def _reduce_only(r: RiskRequest) -> Denial | None:
    """REDUCING: refuse an order that could leave the position larger (worst case) or flipped."""
    position = r.position
    if r.is_buy:
        worst = position.position + position.open_buy_qty + r.add_qty
        if worst > 0:
            return Denial(
                codes.REDUCE_ONLY,
                f"trading is REDUCING for {r.state_scopes(r, _REDUCING)}: buying {r.add_qty} {r.symbol} could "
                f"leave account {r.account} long {worst} (position {position.position}, "
                f"open buys {position.open_buy_qty})",
            )
        return None
    worst = position.position - position.open_sell_qty - r.add_qty
    if worst < 0:
        return Denial(
            codes.REDUCE_ONLY,
            f"trading is REDUCING for {r.state_scopes(r, _REDUCING)}: selling {r.add_qty} {r.symbol} could "
            f"leave account {r.account} short {-worst} (position {position.position}, "
            f"open sells {position.open_sell_qty})",
        )
    return None


def check_shape(r: RiskRequest, out: Verdicts | None) -> Denial | None:
    """order_valid, market_order, lot_size, tick_size, max_qty."""
    limits = r.limits
    qty = r.qty
    price = r.price
    is_market = r.is_market
    if qty <= 0 or (not is_market and price <= 0) or r.leaves <= 0:
        if qty <= 0:
            text = f"quantity {qty} is not positive"
        elif r.leaves <= 0:
            text = f"quantity {qty} leaves nothing open: cancel instead"
        else:
            text = f"limit price {money(price)} is not positive"
        denial = Denial(codes.INVALID_ORDER, text)
        if _fail(out, "order_valid", denial):
            return denial
    elif out is not None:
        out.append(("order_valid", f"quantity {qty} and price {money(price)} are valid"))
    if is_market and r.kind == NEW and not limits.allow_market_orders:
        denial = Denial(codes.MARKET_ORDER_NOT_ALLOWED, "market orders are not allowed; send a limit order")
        if _fail(out, "market_order", denial):
            return denial
    elif out is not None:
        out.append(("market_order", "market order allowed" if is_market else "limit order"))
    lot = limits.lot_size
    if qty % lot:
        denial = Denial(codes.LOT_SIZE, f"quantity {qty} is not a multiple of the lot size {lot}")
        if _fail(out, "lot_size", denial):
            return denial
    elif out is not None:
        out.append(("lot_size", f"quantity {qty} is a multiple of lot size {lot}"))
    tick = limits.tick_size
    if not is_market and price % tick:
        denial = Denial(codes.TICK_SIZE, f"price {money(price)} is not a multiple of the tick size {money(tick)}")
        if _fail(out, "tick_size", denial):
            return denial
    elif out is not None:
        out.append(
            (
                "tick_size",
                "market order: no price" if is_market else f"price {money(price)} on the {money(tick)} tick",
            )
        )
    if qty > limits.max_qty:
        denial = Denial(codes.MAX_QTY, f"quantity {qty} is above max_qty {limits.max_qty}")
        if _fail(out, "max_qty", denial):
            return denial
    elif out is not None:
        out.append(("max_qty", f"quantity {qty} <= max_qty {limits.max_qty}"))
    return None


def check_price(r: RiskRequest, out: Verdicts | None) -> Denial | None:
    """price_collar (a fresh reference, or the symbol allows none), then max_notional."""
    limits = r.limits
    reference = r.reference
    price = r.price
    if reference <= 0:
        if r.is_market or not limits.allow_missing_reference:
            code = codes.REFERENCE_STALE if reference == STALE else codes.REFERENCE_MISSING
            if r.is_market:
                text = f"no fresh reference price for {r.symbol} to value a market order"
            elif reference == STALE:
                text = (
                    f"the reference price for {r.symbol} is stale (last trade older than max_age_s, "
                    "reference file older than file_max_age_s): the price collar cannot be checked"
                )
            else:
                text = f"no reference price for {r.symbol} is known: the price collar cannot be checked"
            denial = Denial(code, text)
            if _fail(out, "price_collar", denial):
                return denial
        elif out is not None:
            out.append(("price_collar", f"no fresh reference for {r.symbol} (allow_missing): collar skipped"))
    elif r.is_market:
        if out is not None:
            out.append(("price_collar", f"market order valued at reference {money(reference)}"))
    else:
        deviation = price - reference if price > reference else reference - price
        pct = limits.collar_pct
        ticks = limits.collar_ticks
        if pct and deviation * 1_000_000 > pct * reference:  # 100 (percent) x PERCENT_SCALE
            denial = Denial(
                codes.PRICE_COLLAR,
                f"price {money(price)} is {_percent_over(deviation, reference, pct)}% from reference "
                f"{money(reference)}, more than collar_pct {format_scaled(pct, PERCENT_SCALE)}%",
            )
            if _fail(out, "price_collar", denial):
                return denial
        elif ticks and deviation > ticks * limits.tick_size:
            denial = Denial(
                codes.PRICE_COLLAR,
                f"price {money(price)} is {deviation // limits.tick_size} ticks from reference "
                f"{money(reference)}, more than collar_ticks {ticks}",
            )
            if _fail(out, "price_collar", denial):
                return denial
        elif out is not None:
            bands = [f"collar_pct {format_scaled(pct, PERCENT_SCALE)}%"] if pct else []
            bands += [f"collar_ticks {ticks}"] if ticks else []
            out.append(("price_collar", f"price within {' and '.join(bands)} of reference {money(reference)}"))
    notional = r.qty * r.value_price
    if notional > limits.max_notional:
        denial = Denial(
            codes.MAX_NOTIONAL,
            f"notional {money(notional)} is above max_notional {money(limits.max_notional)}",
        )
        if _fail(out, "max_notional", denial):
            return denial
    elif out is not None:
        out.append(("max_notional", f"notional {money(notional)} <= max_notional {money(limits.max_notional)}"))
    return None


def check_short_sale(r: RiskRequest, out: Verdicts | None) -> Denial | None:
    """A sale beyond the long position must be marked short; short sales need the limits' permission."""
    side = r.side
    if r.is_buy:
        if out is not None:
            out.append(("short_sale", "buy"))
        return None
    denial = None
    if side == _SELL:
        position = r.position
        available = position.position - (position.open_sell_qty - r.old_leaves)
        if r.leaves > available:
            denial = Denial(
                codes.SHORT_SALE_NOT_MARKED,
                f"selling {r.leaves} {r.symbol} with only {max(available, 0)} available long "
                f"(position {position.position}, open sells {position.open_sell_qty - r.old_leaves}): "
                "mark it sell short (side T)",
            )
        elif out is not None:
            out.append(("short_sale", f"long sale: {r.leaves} <= {available} available"))
    elif side == _SELL_SHORT:
        if not r.limits.allow_short_sales:
            denial = Denial(codes.SHORT_SALE_NOT_ALLOWED, "short sales are not allowed for this account/symbol")
        elif out is not None:
            out.append(("short_sale", "sell short allowed"))
    elif not r.limits.allow_short_exempt:
        denial = Denial(codes.SHORT_EXEMPT_NOT_ALLOWED, "short-exempt sales are not allowed here")
    elif out is not None:
        out.append(("short_sale", "sell short exempt allowed"))
    if denial is not None and _fail(out, "short_sale", denial):
        return denial
    return None


def check_exposure(r: RiskRequest, out: Verdicts | None) -> Denial | None:
    """max_open_orders, max_open_notional, credit_limit, max_long_qty, max_short_qty, max_net_qty."""
    limits = r.limits
    account = r.account_state
    open_orders = account.open_orders
    if r.kind == NEW and open_orders >= limits.max_open_orders:
        denial = Denial(
            codes.MAX_OPEN_ORDERS,
            f"account {r.account} has {open_orders} open orders, max_open_orders {limits.max_open_orders}",
        )
        if _fail(out, "max_open_orders", denial):
            return denial
    elif out is not None:
        out.append(("max_open_orders", f"{open_orders} open + this one; max_open_orders {limits.max_open_orders}"))
    add_notional = r.add_notional
    open_after = account.open_notional + add_notional
    if add_notional > 0 and open_after > limits.max_open_notional:
        denial = Denial(
            codes.MAX_OPEN_NOTIONAL,
            f"open notional would be {money(open_after)}, above max_open_notional {money(limits.max_open_notional)}",
        )
        if _fail(out, "max_open_notional", denial):
            return denial
    elif out is not None:
        out.append(
            (
                "max_open_notional",
                f"open notional with it {money(open_after)}; max_open_notional {money(limits.max_open_notional)}",
            )
        )
    credit_after = account.traded_notional + open_after
    if add_notional > 0 and credit_after > limits.credit_limit:
        denial = Denial(
            codes.CREDIT_LIMIT,
            f"traded {money(account.traded_notional)} + open {money(account.open_notional)} + this order "
            f"{money(add_notional)} is above credit_limit {money(limits.credit_limit)}",
        )
        if _fail(out, "credit_limit", denial):
            return denial
    elif out is not None:
        out.append(
            (
                "credit_limit",
                f"traded + open + order {money(credit_after)}; credit_limit {money(limits.credit_limit)}",
            )
        )
    position = r.position
    held = position.position
    add_qty = r.add_qty
    is_buy = r.is_buy
    worst_long = held + position.open_buy_qty + (add_qty if is_buy else 0)
    if is_buy and add_qty > 0 and worst_long > limits.max_long_qty:
        denial = Denial(
            codes.MAX_LONG_POSITION,
            f"worst-case long {worst_long} {r.symbol} (position {held} + open buys {position.open_buy_qty} + "
            f"{add_qty}) is above max_long_qty {limits.max_long_qty}",
        )
        if _fail(out, "max_long_qty", denial):
            return denial
    elif out is not None:
        out.append(("max_long_qty", f"worst-case long {worst_long}; max_long_qty {limits.max_long_qty}"))
    worst_short = position.open_sell_qty - held + (0 if is_buy else add_qty)
    if not is_buy and add_qty > 0 and worst_short > limits.max_short_qty:
        denial = Denial(
            codes.MAX_SHORT_POSITION,
            f"worst-case short {worst_short} {r.symbol} (position {held} - open sells "
            f"{position.open_sell_qty} - {add_qty}) is above max_short_qty {limits.max_short_qty}",
        )
        if _fail(out, "max_short_qty", denial):
            return denial
    elif out is not None:
        shown = max(worst_short, 0)
        out.append(("max_short_qty", f"worst-case short {shown}; max_short_qty {limits.max_short_qty}"))
    before = held + position.open_buy_qty - position.open_sell_qty
    after = before + add_qty if is_buy else before - add_qty
    size = after if after >= 0 else -after
    if size > limits.max_net_qty and size > (before if before >= 0 else -before):
        denial = Denial(
            codes.MAX_NET_POSITION,
            f"net {r.symbol} position if all working orders filled would be {after}, "
            f"above max_net_qty {limits.max_net_qty}",
        )
        if _fail(out, "max_net_qty", denial):
            return denial
    elif out is not None:
        out.append(("max_net_qty", f"net if every working order filled {after}; max_net_qty {limits.max_net_qty}"))
    return None


def passes_new(r: RiskRequest) -> bool:
    """Return True only if a new order passes every check before ``check_duplicate`` (the hot path).

    One function over the request and its flat limits row instead of five calls: the conditions
    of ``check_state``, ``check_shape``, ``check_price``, ``check_short_sale`` and
    ``check_exposure`` for a priced order of an ACTIVE, unrestricted key. False means "ask the
    chain": anything else (a refusal, REDUCING or HALTED, a restricted symbol, a market order)
    takes ``NEW_ORDER_CHAIN``, which decides and words it, so codes and texts are the chain's.
    """
    limits = r.row
    if limits.limits is not r.limits:  # limits set without their row (a test, a tool): copy them once
        limits = r.row = LimitsRow(r.limits)
    if r.state >= _REDUCING or limits.restriction or r.is_market:
        return False
    qty = r.qty
    price = r.price
    if qty <= 0 or price <= 0 or r.leaves <= 0 or qty % limits.lot_size or price % limits.tick_size:
        return False
    if qty > limits.max_qty or qty * r.value_price > limits.max_notional:
        return False
    reference = r.reference
    if reference > 0:
        deviation = price - reference if price > reference else reference - price
        pct = limits.collar_pct
        if pct and deviation * 1_000_000 > pct * reference:
            return False
        ticks = limits.collar_ticks
        if ticks and deviation > ticks * limits.tick_size:
            return False
    elif not limits.allow_missing_reference:
        return False
    position = r.position  # its three fields read once each (a generic lookup each from compiled code)
    held = position.position
    open_buy = position.open_buy_qty
    open_sell = position.open_sell_qty
    is_buy = r.is_buy
    if not is_buy:
        side = r.side
        if side == _SELL:
            if r.leaves > held - (open_sell - r.old_leaves):
                return False
        elif side == _SELL_SHORT:
            if not limits.allow_short_sales:
                return False
        elif not limits.allow_short_exempt:
            return False
    account = r.account_state
    if account.open_orders >= limits.max_open_orders:
        return False
    add_notional = r.add_notional
    open_after = account.open_notional + add_notional
    if add_notional > 0 and (
        open_after > limits.max_open_notional or account.traded_notional + open_after > limits.credit_limit
    ):
        return False
    add_qty = r.add_qty
    if add_qty > 0:
        if is_buy:
            if held + open_buy + add_qty > limits.max_long_qty:
                return False
        elif open_sell - held + add_qty > limits.max_short_qty:
            return False
    before = held + open_buy - open_sell
    after = before + add_qty if is_buy else before - add_qty
    size = after if after >= 0 else -after
    return not (size > limits.max_net_qty and size > (before if before >= 0 else -before))


def check_duplicate(r: RiskRequest, out: Verdicts | None) -> Denial | None:
    """The same account, symbol, side, quantity and price accepted within ``duplicate_window_ms``."""
    window = r.limits.duplicate_window_ns
    if window > 0:
        key = (r.account, r.symbol, r.side, r.qty, r.price)
        r.duplicate_key = key
        if r.duplicates.is_duplicate(key, r.now_ns, window):
            ago_ms = (r.now_ns - r.duplicates.last_seen(key)) / 1e6
            denial = Denial(
                codes.DUPLICATE_ORDER,
                f"same order ({r.side.name} {r.qty} {r.symbol} @ {money(r.price)}) accepted {ago_ms:.1f} ms "
                f"ago, within duplicate_window_ms {window // 1_000_000}",
            )
            if _fail(out, "duplicate", denial):
                return denial
            return None
    if out is not None:
        out.append(
            (
                "duplicate",
                f"no identical order in the last {window // 1_000_000} ms" if window else "off (0 ms)",
            )
        )
    return None


def _rate_text(r: RiskRequest, windows: Windows, rates: tuple[int, int, int]) -> str:
    """Describe the three counters for an explanation (never on the hot path)."""
    parts = []
    for counters, key, limit, scope in zip(windows, (r.strategy, r.account, r.symbol), rates, _SCOPES, strict=True):
        window = counters.get(key)
        seen = window.in_window(r.now_ns) if window is not None else 0
        parts.append(f"{scope} {key}: {seen} in the last second, limit {limit}")
    return "; ".join(parts)


def _exceeded(r: RiskRequest, windows: Windows, rates: tuple[int, int, int]) -> int:
    """Return which counter (0 strategy, 1 account, 2 symbol) one more message would break, or -1."""
    now = r.now_ns
    window = windows[0].get(r.strategy)
    if not (window.allows(rates[0], now) if window is not None else rates[0] > 0):
        return 0
    window = windows[1].get(r.account)
    if not (window.allows(rates[1], now) if window is not None else rates[1] > 0):
        return 1
    window = windows[2].get(r.symbol)
    if not (window.allows(rates[2], now) if window is not None else rates[2] > 0):
        return 2
    return -1


def _rate_result(
    r: RiskRequest, out: Verdicts | None, name: str, rates: tuple[int, int, int], cancels: bool
) -> Denial | None:
    windows = r.cancel_windows if cancels else r.order_windows
    which = _exceeded(r, windows, rates)
    if which < 0:
        if out is not None:
            out.append((name, _rate_text(r, windows, rates)))
        return None
    code = (_CANCEL_RATE_CODES if cancels else _ORDER_RATE_CODES)[which]
    key = (r.strategy, r.account, r.symbol)[which]
    what = "cancels/replaces" if cancels else "new orders"
    denial = Denial(code, f"{_SCOPES[which]} {key} is at its limit of {rates[which]} {what} per second")
    return _fail(out, name, denial)


def check_order_rate(r: RiskRequest, out: Verdicts | None) -> Denial | None:
    """New orders per second per strategy, account and symbol (sliding one-second window).

    Off the hot path: an accepted order is tested and counted in one pass by
    ``RiskEngine._count_order_rate``; this check decides, words and explains.
    """
    limits = r.limits
    rates = (limits.orders_per_strategy, limits.orders_per_account, limits.orders_per_symbol)
    return _rate_result(r, out, "order_rate", rates, False)


def check_cancel_rate(r: RiskRequest, out: Verdicts | None) -> Denial | None:
    """Cancels and replaces per second per strategy, account and symbol (not while REDUCING or HALTED)."""
    if r.state >= _REDUCING:
        if out is not None:
            out.append(("cancel_rate", "not applied while REDUCING or HALTED"))
        return None
    limits = r.limits
    rates = (limits.cancels_per_strategy, limits.cancels_per_account, limits.cancels_per_symbol)
    return _rate_result(r, out, "cancel_rate", rates, True)


_NO_LIMIT: Final = 1 << 62
"""A rate no window reaches: the account's and the symbol's in ``check_strategy_cancel_rate``."""


def check_strategy_cancel_rate(r: RiskRequest, out: Verdicts | None) -> Denial | None:
    """The strategy's own cancels and replaces per second (not while REDUCING or HALTED), for a filtered MassCancel.

    Only the strategy's window decides (lead60, rev60merge8): the account's and the symbol's windows are shared with
    other strategies, whose Cancels must not refuse this strategy's MassCancel of orders within every limit.
    """
    if r.state >= _REDUCING:
        if out is not None:
            out.append(("cancel_rate", "not applied while REDUCING or HALTED"))
        return None
    rates = (r.limits.cancels_per_strategy, _NO_LIMIT, _NO_LIMIT)
    return _rate_result(r, out, "cancel_rate", rates, True)


NEW_ORDER_CHAIN: Final[tuple[Check, ...]] = (
    check_state,
    check_shape,
    check_price,
    check_short_sale,
    check_exposure,
    check_duplicate,
    check_order_rate,
)
"""Every check a new order passes, in order; the first refusal is the answer."""

PASSES_NEW_COVERS: Final[tuple[Check, ...]] = (check_state, check_shape, check_price, check_short_sale, check_exposure)
"""The checks ``passes_new`` repeats in one function: change them only together with it (and ``LimitsRow``)."""
HOT_PATH_AFTER: Final[tuple[Check, ...]] = (check_duplicate, check_order_rate)
"""What ``RiskEngine.check_and_commit_new`` runs itself after ``passes_new`` said yes (``check_duplicate``,
and ``_count_order_rate``, which mirrors ``check_order_rate``)."""


def new_order_chain_problem(chain: tuple[Check, ...]) -> str | None:
    """Return why ``chain`` cannot be the new-order chain of the hot path, or None when it can.

    The hot path runs ``passes_new`` and then only ``HOT_PATH_AFTER``: any check of the chain that is not
    one of those would be skipped whenever ``passes_new`` says yes (a fail-open risk check).
    """
    if chain == PASSES_NEW_COVERS + HOT_PATH_AFTER:
        return None
    names = ", ".join(getattr(check, "__name__", repr(check)) for check in chain)
    return (
        f"NEW_ORDER_CHAIN is ({names}), but the hot path (RiskEngine.check_and_commit_new) runs only passes_new, "
        "which repeats check_state..check_exposure, then check_duplicate and _count_order_rate (check_order_rate): "
        "a new or moved check would be skipped whenever passes_new says yes. Add its condition to passes_new "
        "(reading a LimitsRow field, added to LimitsRow), then list it in PASSES_NEW_COVERS "
        "(docs/architecture.md, 'Adding a risk check')"
    )


_CHAIN_PROBLEM = new_order_chain_problem(NEW_ORDER_CHAIN)
if _CHAIN_PROBLEM is not None:  # at import, not an assert: python -O must not run a chain the hot path skips
    raise RuntimeError(_CHAIN_PROBLEM)

REPLACE_CHAIN: Final[tuple[Check, ...]] = (
    check_state,
    check_shape,
    check_price,
    check_short_sale,
    check_exposure,
    check_cancel_rate,
)
"""A replace: the new quantity and price as if new (no open-order count, no duplicate check), exposure
by the increase only, and the cancel/replace rate."""

NEW_ORDER_CHECKS: Final = (
    "trading_state", "restricted", "order_valid", "market_order", "lot_size", "tick_size", "max_qty",
    "price_collar", "max_notional", "short_sale", "max_open_orders", "max_open_notional", "credit_limit",
    "max_long_qty", "max_short_qty", "max_net_qty", "duplicate", "order_rate",
)  # fmt: skip
"""The names of the checks of a new order, in the order they run (each has its own verdict in explain)."""

"""Stable reason codes for risk denials: strategies and risk officers may rely on these strings.

Each code is returned as ``Denial.code`` (and so as ``OrderRejected.code`` with source RISK).
``REASONS`` gives the one-line meaning used in the officer's guide and by ``gateway risk explain``.
"""

from __future__ import annotations

from typing import Final

UNKNOWN_ACCOUNT: Final = "UNKNOWN_ACCOUNT"
TRADING_HALTED: Final = "TRADING_HALTED"
REDUCE_ONLY: Final = "REDUCE_ONLY"
RESTRICTED_SYMBOL: Final = "RESTRICTED_SYMBOL"
SELL_ONLY_SYMBOL: Final = "SELL_ONLY_SYMBOL"
INVALID_ORDER: Final = "INVALID_ORDER"
MARKET_ORDER_NOT_ALLOWED: Final = "MARKET_ORDER_NOT_ALLOWED"
LOT_SIZE: Final = "LOT_SIZE"
TICK_SIZE: Final = "TICK_SIZE"
MAX_QTY: Final = "MAX_QTY"
MAX_NOTIONAL: Final = "MAX_NOTIONAL"
REFERENCE_MISSING: Final = "REFERENCE_MISSING"
REFERENCE_STALE: Final = "REFERENCE_STALE"
PRICE_COLLAR: Final = "PRICE_COLLAR"
SHORT_SALE_NOT_MARKED: Final = "SHORT_SALE_NOT_MARKED"
SHORT_SALE_NOT_ALLOWED: Final = "SHORT_SALE_NOT_ALLOWED"
SHORT_EXEMPT_NOT_ALLOWED: Final = "SHORT_EXEMPT_NOT_ALLOWED"
MAX_OPEN_ORDERS: Final = "MAX_OPEN_ORDERS"
MAX_OPEN_NOTIONAL: Final = "MAX_OPEN_NOTIONAL"
CREDIT_LIMIT: Final = "CREDIT_LIMIT"
MAX_LONG_POSITION: Final = "MAX_LONG_POSITION"
MAX_SHORT_POSITION: Final = "MAX_SHORT_POSITION"
MAX_NET_POSITION: Final = "MAX_NET_POSITION"
DUPLICATE_ORDER: Final = "DUPLICATE_ORDER"
ORDER_RATE_STRATEGY: Final = "ORDER_RATE_STRATEGY"
ORDER_RATE_ACCOUNT: Final = "ORDER_RATE_ACCOUNT"
ORDER_RATE_SYMBOL: Final = "ORDER_RATE_SYMBOL"
CANCEL_RATE_STRATEGY: Final = "CANCEL_RATE_STRATEGY"
CANCEL_RATE_ACCOUNT: Final = "CANCEL_RATE_ACCOUNT"
CANCEL_RATE_SYMBOL: Final = "CANCEL_RATE_SYMBOL"
INTERNAL_ERROR: Final = "INTERNAL_ERROR"

REASONS: Final[dict[str, str]] = {
    UNKNOWN_ACCOUNT: "the account is not listed under `accounts` in the limits file",
    TRADING_HALTED: "trading is HALTED for the firm, the account, the strategy or the symbol (only cancels pass)",
    REDUCE_ONLY: "trading is REDUCING (firm, account, strategy or symbol) and the order could increase the position",
    RESTRICTED_SYMBOL: "the symbol is on the restricted list `restricted.no_trade`",
    SELL_ONLY_SYMBOL: "the symbol is on `restricted.sell_only` and the order is not a long sale",
    INVALID_ORDER: "quantity or price is not positive, or a replace would not leave any quantity open",
    MARKET_ORDER_NOT_ALLOWED: "market orders are not allowed (`allow_market_orders`)",
    LOT_SIZE: "the quantity is not a multiple of the symbol's `lot_size`",
    TICK_SIZE: "the price is not a multiple of the symbol's `tick_size`",
    MAX_QTY: "the order quantity is above `max_qty`",
    MAX_NOTIONAL: "the order notional (quantity x price) is above `max_notional`",
    REFERENCE_MISSING: "no reference price is known for the symbol",
    REFERENCE_STALE: "the reference price for the symbol is older than allowed",
    PRICE_COLLAR: "the limit price is too far from the reference price (`collar_pct` / `collar_ticks`)",
    SHORT_SALE_NOT_MARKED: "a sale beyond the long position was not marked short",
    SHORT_SALE_NOT_ALLOWED: "short sales are not allowed (`allow_short_sales`)",
    SHORT_EXEMPT_NOT_ALLOWED: "short-exempt sales are not allowed (`allow_short_exempt`)",
    MAX_OPEN_ORDERS: "the account already has `max_open_orders` open orders",
    MAX_OPEN_NOTIONAL: "the account's open (working) notional would exceed `max_open_notional`",
    CREDIT_LIMIT: "gross traded plus open notional for the day would exceed `credit_limit`",
    MAX_LONG_POSITION: "the worst-case long position would exceed `max_long_qty`",
    MAX_SHORT_POSITION: "the worst-case short position would exceed `max_short_qty`",
    MAX_NET_POSITION: "the net position if every working order filled would exceed `max_net_qty`",
    DUPLICATE_ORDER: "the same order was accepted within `duplicate_window_ms`",
    ORDER_RATE_STRATEGY: "the strategy sent more new orders in the last second than allowed",
    ORDER_RATE_ACCOUNT: "the account sent more new orders in the last second than allowed",
    ORDER_RATE_SYMBOL: "the symbol had more new orders in the last second than allowed",
    CANCEL_RATE_STRATEGY: "the strategy sent more cancels/replaces in the last second than allowed",
    CANCEL_RATE_ACCOUNT: "the account sent more cancels/replaces in the last second than allowed",
    CANCEL_RATE_SYMBOL: "the symbol had more cancels/replaces in the last second than allowed",
    INTERNAL_ERROR: "the risk engine failed on this order (a bug, logged): refused, never let through",
}

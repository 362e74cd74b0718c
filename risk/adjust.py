"""Position corrections (``gateway risk adjust-position``): what one would do, and why one is refused.

A venue can bust or correct a trade after reporting it; the gateway never lowers a position on its own.
The risk officer corrects it: a signed quantity the correction adds to the filled position (+ buys,
- sells) and, optionally, the change of the day's gross traded notional (``credit_limit`` counts it).
``plan`` decides, from the book and the limits in force, whether a correction can be applied and what
the position and traded notional would be after it, and lists the limits the corrected position would
then breach (the correction is not refused for them: it states what the venue says is true). Refusals
are data: ``Adjustment.code`` and ``text``, nothing changed.

Kept out of ``risk.engine`` (compiled): nothing here is on the order path.
"""

from __future__ import annotations

from typing import Final

import msgspec

from risk.checks import money
from risk.exposure import AccountState
from risk.model import MAX_LIMIT_MONEY, MAX_LIMIT_QTY, LimitsDocument
from risk.resolve import Resolver

UNKNOWN_ACCOUNT: Final = "UNKNOWN_ACCOUNT"
UNKNOWN_SYMBOL: Final = "UNKNOWN_SYMBOL"
ZERO_QTY: Final = "ZERO_QTY"
REASON_MISSING: Final = "REASON_MISSING"
BAD_PRICE: Final = "BAD_PRICE"
OUT_OF_RANGE: Final = "OUT_OF_RANGE"
JOURNAL_UNAVAILABLE: Final = "JOURNAL_UNAVAILABLE"

REASONS: Final[dict[str, str]] = {
    UNKNOWN_ACCOUNT: "the account is not listed under `accounts` in the limits file",
    UNKNOWN_SYMBOL: "the account has no position or working order in the symbol and the limits file does not name it",
    ZERO_QTY: "the quantity is 0: a correction must change the position",
    REASON_MISSING: "no reason was given (the audit log must say why)",
    BAD_PRICE: "the price is not positive, or too large",
    OUT_OF_RANGE: "the quantity, the position after it or the traded notional after it is outside what the "
    "gateway counts (position within +/-10^12 shares, traded notional from 0 to the money limit)",
    JOURNAL_UNAVAILABLE: "the journal cannot be written: the correction could not be recorded, so nothing changed",
}
"""Refusal code -> its meaning (docs/risk-officer-guide.md lists the same)."""

MAX_PRICE: Final = 2**53 - 1


class Adjustment(msgspec.Struct, frozen=True, kw_only=True):
    """A position correction: refused (``ok`` false, ``code`` and ``text``) or what it does."""

    ok: bool
    code: str = ""
    text: str = ""
    account: str = ""
    symbol: str = ""
    qty: int = 0
    """Added to the filled position (+ buys, - sells)."""
    price: int = 0
    """The trade's price (fixed-point; 0: not given, the traded notional is unchanged)."""
    notional: int = 0
    """Added to the account's gross traded notional today (negative: a busted trade's notional removed)."""
    reason: str = ""
    position_before: int = 0
    position_after: int = 0
    traded_before: int = 0
    traded_after: int = 0
    breaches: list[str] = msgspec.field(default_factory=list)
    """The limits the position after it would breach (each as one line), for whoever applies it."""


def refused(code: str, text: str, account: str, symbol: str, qty: int, reason: str) -> Adjustment:
    """Return a refusal (nothing changed)."""
    return Adjustment(ok=False, code=code, text=text, account=account, symbol=symbol, qty=qty, reason=reason)


def _named_symbols(document: LimitsDocument, account: str) -> set[str]:
    """Return the symbols the limits file names for ``account`` or firm-wide."""
    names = set(document.symbols)
    scope = document.accounts.get(account)
    if scope is not None:
        names.update(scope.symbols)
    names.update(document.restricted.no_trade)
    names.update(document.restricted.sell_only)
    return names


def plan(
    document: LimitsDocument,
    resolver: Resolver,
    holder: AccountState | None,
    account: str,
    symbol: str,
    qty: int,
    price: int,
    notional_sign: int,
    reason: str,
    reference_symbols: set[str] | frozenset[str] = frozenset(),
) -> Adjustment:
    """Decide on a correction of ``account``'s position in ``symbol`` by ``qty``; change nothing.

    ``price`` > 0 changes the traded notional by ``notional_sign`` x \\|qty\\| x price (-1: the busted
    trade's notional is removed; +1: a trade the gateway never counted is added); 0 leaves it unchanged.
    """
    args = (account, symbol, qty, reason)
    if account not in document.accounts:
        known = ", ".join(sorted(document.accounts)[:20]) or "none"
        return refused(
            UNKNOWN_ACCOUNT,
            f"unknown account {account!r}: not in the limits file; nothing was changed (accounts: {known})",
            *args,
        )
    position = holder.positions.get(symbol) if holder is not None else None
    if position is None and symbol not in _named_symbols(document, account) and symbol not in reference_symbols:
        held = sorted(holder.positions) if holder is not None else []
        return refused(
            UNKNOWN_SYMBOL,
            f"unknown symbol {symbol!r} for account {account}: no position or working order in it today and the "
            f"limits file does not name it; nothing was changed (symbols with a position: {', '.join(held) or 'none'})",
            *args,
        )
    if qty == 0:
        return refused(ZERO_QTY, "qty is 0: a correction must change the position; nothing was changed", *args)
    if not reason.strip():
        return refused(
            REASON_MISSING, "a reason is required (e.g. 'bust of exec 123 at XNAS'); nothing was changed", *args
        )
    if price < 0 or price > MAX_PRICE:
        return refused(BAD_PRICE, f"price {money(price)} is not a usable price; nothing was changed", *args)
    before = position.position if position is not None else 0
    after = before + qty
    traded_before = holder.traded_notional if holder is not None else 0
    notional = (1 if notional_sign >= 0 else -1) * abs(qty) * price if price > 0 else 0
    traded_after = traded_before + notional
    if abs(qty) > MAX_LIMIT_QTY or abs(after) > MAX_LIMIT_QTY:
        return refused(
            OUT_OF_RANGE,
            f"position {before} {qty:+d} = {after} is outside +/-{MAX_LIMIT_QTY}: it would overflow what the "
            "gateway counts; nothing was changed",
            *args,
        )
    if traded_after < 0 or abs(notional) > MAX_LIMIT_MONEY or traded_after > MAX_LIMIT_MONEY:
        return refused(
            OUT_OF_RANGE,
            f"traded notional {money(traded_before)} {'+' if notional >= 0 else '-'} {money(abs(notional))} = "
            f"{money(traded_after)} is outside 0 .. {money(MAX_LIMIT_MONEY)}; nothing was changed (a bust removes "
            "at most what was traded today: check --price)",
            *args,
        )
    breaches = _breaches(document, resolver, holder, account, symbol, after, traded_after)
    return Adjustment(
        ok=True,
        account=account,
        symbol=symbol,
        qty=qty,
        price=price,
        notional=notional,
        reason=reason,
        position_before=before,
        position_after=after,
        traded_before=traded_before,
        traded_after=traded_after,
        breaches=breaches,
    )


def _breaches(
    document: LimitsDocument,
    resolver: Resolver,
    holder: AccountState | None,
    account: str,
    symbol: str,
    position: int,
    traded: int,
) -> list[str]:
    """Return the position and credit limits ``position`` (and ``traded``) would breach, per strategy scope."""
    state = holder.positions.get(symbol) if holder is not None else None
    open_buy = state.open_buy_qty if state is not None else 0
    open_sell = state.open_sell_qty if state is not None else 0
    open_notional = holder.open_notional if holder is not None else 0
    scope = document.accounts[account]
    strategies = ["", *sorted(set(document.strategies) | set(scope.strategies))]
    out: list[str] = []
    seen: set[tuple[str, int]] = set()
    for strategy in strategies:
        limits = resolver.compile(account, strategy, symbol)
        where = f"account {account}" + (f" strategy {strategy}" if strategy else "")
        long_qty = position + open_buy
        short_qty = open_sell - position
        net = position + open_buy - open_sell
        found = []
        if long_qty > limits.max_long_qty:
            found.append(
                (
                    "max_long_qty",
                    limits.max_long_qty,
                    f"worst-case long {long_qty} (position {position} + open buys {open_buy})",
                )
            )
        if short_qty > limits.max_short_qty:
            found.append(
                (
                    "max_short_qty",
                    limits.max_short_qty,
                    f"worst-case short {short_qty} (open sells {open_sell} - position {position})",
                )
            )
        if abs(net) > limits.max_net_qty:
            found.append(("max_net_qty", limits.max_net_qty, f"net if every working order filled {net}"))
        if traded + open_notional > limits.credit_limit:
            found.append(
                (
                    "credit_limit",
                    limits.credit_limit,
                    f"traded {money(traded)} + open {money(open_notional)}",
                )
            )
        for field, limit, text in found:
            if (field, limit) in seen:
                continue
            seen.add((field, limit))
            shown = money(limit) if field == "credit_limit" else str(limit)
            out.append(f"{field} {shown} ({where}, {symbol}): {text} is above it")
    return out

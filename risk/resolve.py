"""How scopes combine: the effective limits for one (account, strategy, symbol).

The rule (also in docs/risk-officer-guide.md):

* The scopes that apply to an order are ``defaults``; the *overrides*
  ``accounts.<A>``, ``strategies.<S>``, ``symbols.<Y>``, ``accounts.<A>.strategies.<S>``
  and ``accounts.<A>.symbols.<Y>``.
* For each limit, if any override sets it, the strictest of the overrides' values wins
  (an override never loosens another override); if none does, the ``defaults`` value applies.
* ``trading_state`` is the strictest of every scope *including* ``defaults`` (the firm-wide state).
* ``tick_size`` and ``lot_size`` describe the instrument: ``symbols.<Y>`` if set, else ``defaults``.
* Restricted symbols and the ``allow_missing`` reference list are firm-wide.

Resolution runs once per (account, strategy, symbol) and is cached; a reload builds a
new ``Resolver`` with an empty cache. Per order it costs three dict lookups.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Any, Final

import msgspec

from model.enums import PRICE_SCALE
from risk.loader import format_scaled
from risk.model import PERCENT_SCALE, Limits, LimitsDocument, TradingState

RESTRICTION_NONE: Final = 0
RESTRICTION_SELL_ONLY: Final = 1
RESTRICTION_NO_TRADE: Final = 2

MAX_CACHED: Final = 1_000_000
"""Resolved entries kept before the cache is cleared (a bound on memory, never hit in practice)."""


class EffectiveLimits(msgspec.Struct, frozen=True, gc=False):
    """Every limit for one (account, strategy, symbol), as exact ints; built once, read per order."""

    trading_state: int
    max_qty: int
    max_notional: int
    collar_pct: int
    """Fixed-point percent (``PERCENT_SCALE`` per percent); 0 = not set."""
    collar_ticks: int
    """0 = not set."""
    max_open_orders: int
    max_open_notional: int
    max_long_qty: int
    max_short_qty: int
    max_net_qty: int
    credit_limit: int
    orders_per_strategy: int
    orders_per_account: int
    orders_per_symbol: int
    cancels_per_strategy: int
    cancels_per_account: int
    cancels_per_symbol: int
    duplicate_window_ns: int
    allow_market_orders: bool
    allow_short_sales: bool
    allow_short_exempt: bool
    tick_size: int
    lot_size: int
    restriction: int
    allow_missing_reference: bool


PLACEHOLDER_LIMITS: Final = msgspec.convert(
    {
        **{name: 0 for name in EffectiveLimits.__struct_fields__},
        "trading_state": int(TradingState.HALTED),
        "allow_market_orders": False,
        "allow_short_sales": False,
        "allow_short_exempt": False,
        "allow_missing_reference": False,
        "tick_size": 1,
        "lot_size": 1,
        "restriction": RESTRICTION_NO_TRADE,
    },
    EffectiveLimits,
)
"""Limits that refuse everything; only ever seen before the first request is prepared."""


class Rule(enum.Enum):
    """How the values of one limit from several overrides combine."""

    LOWEST = "lowest value wins"
    HIGHEST = "highest value wins"
    STRICTEST_STATE = "strictest state wins, defaults included"
    INSTRUMENT = "symbols.<Y> if set, else defaults"


class FieldSpec(msgspec.Struct, frozen=True):
    """One limit field: its YAML path, effective-limits attribute, combination rule and unit."""

    path: str
    attribute: str
    rule: Rule
    unit: str = ""


FIELDS: Final = (
    FieldSpec("trading_state", "trading_state", Rule.STRICTEST_STATE),
    FieldSpec("max_qty", "max_qty", Rule.LOWEST),
    FieldSpec("max_notional", "max_notional", Rule.LOWEST, "money"),
    FieldSpec("collar_pct", "collar_pct", Rule.LOWEST, "percent"),
    FieldSpec("collar_ticks", "collar_ticks", Rule.LOWEST),
    FieldSpec("max_open_orders", "max_open_orders", Rule.LOWEST),
    FieldSpec("max_open_notional", "max_open_notional", Rule.LOWEST, "money"),
    FieldSpec("max_long_qty", "max_long_qty", Rule.LOWEST),
    FieldSpec("max_short_qty", "max_short_qty", Rule.LOWEST),
    FieldSpec("max_net_qty", "max_net_qty", Rule.LOWEST),
    FieldSpec("credit_limit", "credit_limit", Rule.LOWEST, "money"),
    FieldSpec("orders_per_s.per_strategy", "orders_per_strategy", Rule.LOWEST),
    FieldSpec("orders_per_s.per_account", "orders_per_account", Rule.LOWEST),
    FieldSpec("orders_per_s.per_symbol", "orders_per_symbol", Rule.LOWEST),
    FieldSpec("cancels_per_s.per_strategy", "cancels_per_strategy", Rule.LOWEST),
    FieldSpec("cancels_per_s.per_account", "cancels_per_account", Rule.LOWEST),
    FieldSpec("cancels_per_s.per_symbol", "cancels_per_symbol", Rule.LOWEST),
    FieldSpec("duplicate_window_ms", "duplicate_window_ns", Rule.HIGHEST),
    FieldSpec("allow_market_orders", "allow_market_orders", Rule.LOWEST),
    FieldSpec("allow_short_sales", "allow_short_sales", Rule.LOWEST),
    FieldSpec("allow_short_exempt", "allow_short_exempt", Rule.LOWEST),
    FieldSpec("tick_size", "tick_size", Rule.INSTRUMENT, "price"),
    FieldSpec("lot_size", "lot_size", Rule.INSTRUMENT),
)
FIELD_BY_ATTRIBUTE: Final = {f.attribute: f for f in FIELDS}
assert (*FIELD_BY_ATTRIBUTE, "restriction", "allow_missing_reference") == EffectiveLimits.__struct_fields__


class Source(msgspec.Struct, frozen=True):
    """Where an effective value came from: the winning scope and every value that was considered."""

    value: Any
    scope: str
    considered: tuple[tuple[str, Any], ...]


def display_value(spec: FieldSpec, value: Any) -> str:
    """Render a limit value as the officer wrote it (``150.25``, ``2.5%``, ``HALTED``)."""
    if spec.rule is Rule.STRICTEST_STATE:
        return TradingState(value).name
    if isinstance(value, bool):
        return "true" if value else "false"
    if spec.unit in ("money", "price"):
        return format_scaled(value, PRICE_SCALE)
    if spec.unit == "percent":
        return format_scaled(value, PERCENT_SCALE) + "%"
    if spec.attribute == "duplicate_window_ns":
        return f"{value // 1_000_000} ms"
    return str(value)


def _getter(path: str) -> Callable[[Any], Any]:
    parts = path.split(".")

    def get(scope: Any) -> Any:
        value = scope
        for part in parts:
            value = getattr(value, part, None)
            if value is None:
                return None
        if parts[0] == "trading_state":
            return int(TradingState[value])
        if parts[0] == "duplicate_window_ms":
            return int(value) * 1_000_000
        return value

    return get


_GETTERS: Final = {spec.attribute: _getter(spec.path) for spec in FIELDS}

_UNSET: Final = float("inf")
"""Encoded 'not set in this scope': larger than any value, so never the minimum while one is set."""


_make_limits: Callable[..., EffectiveLimits] = EffectiveLimits
"""Positional construction, field order checked at import (mypy cannot follow ``*values``)."""

_NEGATED: Final = tuple(spec.rule in (Rule.HIGHEST, Rule.STRICTEST_STATE) for spec in FIELDS)
_STATE: Final = 0
assert FIELDS[_STATE].attribute == "trading_state"


def _fill(spec: FieldSpec, value: Any) -> Any:
    """Return a defaults value, or what an unset one means: refused (allow_*), off (collar), ACTIVE."""
    if value is not None:
        return value
    return False if spec.attribute.startswith("allow_") else 0


def _encode(spec: FieldSpec, value: Any) -> Any:
    """Encode a scope's value so that the strictest of several is always the smallest."""
    if value is None:
        return _UNSET
    if spec.rule in (Rule.HIGHEST, Rule.STRICTEST_STATE):
        return -value
    return value


class Resolver:
    """Resolve and cache the effective limits of every (account, strategy, symbol) seen."""

    def __init__(self, document: LimitsDocument) -> None:
        self.document = document
        self._no_trade = frozenset(document.restricted.no_trade)
        self._sell_only = frozenset(document.restricted.sell_only)
        self._allow_missing = frozenset(document.reference_prices.allow_missing)
        self.cache: dict[str, dict[str, dict[str, EffectiveLimits]]] = {}
        """account -> strategy -> symbol -> limits; ``RiskEngine`` subscripts it first (no call per order).
        Only cleared, never replaced: a reference to it stays current."""
        self.cached = 0
        self._filled_defaults = tuple(_fill(spec, _GETTERS[spec.attribute](document.defaults)) for spec in FIELDS)
        self._vectors: dict[int, tuple[Any, ...]] = {}
        """Per override scope (by id; the document keeps them alive): its values encoded so that the
        strictest is the smallest (``_encode``), unset as ``_UNSET``."""

    def get(self, account: str, strategy: str, symbol: str) -> EffectiveLimits | None:
        """Return the effective limits (None for an account the file does not list): the hot path."""
        try:  # subscripts, no method calls: a hit is the steady state, a miss (KeyError) fills the cache
            return self.cache[account][strategy][symbol]
        except KeyError:
            return self._fill(account, strategy, symbol)

    def _fill(self, account: str, strategy: str, symbol: str) -> EffectiveLimits | None:
        if account not in self.document.accounts:
            return None
        limits = self.compile(account, strategy, symbol)
        if self.cached >= MAX_CACHED:
            self.cache.clear()
            self.cached = 0
        self.cache.setdefault(account, {}).setdefault(strategy, {})[symbol] = limits
        self.cached += 1
        return limits

    def compile(self, account: str, strategy: str, symbol: str) -> EffectiveLimits:
        """Combine the scopes for one key, fast (no provenance); same result as ``resolve``."""
        document = self.document
        found: list[Limits] = []
        account_scope = document.accounts.get(account)
        if account_scope is not None:
            found.append(account_scope)
        for scope in (document.strategies.get(strategy), document.symbols.get(symbol)):
            if scope is not None:
                found.append(scope)
        if account_scope is not None:
            for scope in (account_scope.strategies.get(strategy), account_scope.symbols.get(symbol)):
                if scope is not None:
                    found.append(scope)
        vectors = [self._vector(scope) for scope in found]
        if not vectors:
            combined: Any = (_UNSET,) * len(FIELDS)
        elif len(vectors) == 1:
            combined = vectors[0]
        else:
            combined = map(min, *vectors)
        filled = self._filled_defaults
        values = [
            default if best is _UNSET else (-best if negate else best)
            for best, default, negate in zip(combined, filled, _NEGATED, strict=True)
        ]
        values[_STATE] = max(values[_STATE], filled[_STATE])  # trading_state: defaults count too
        restriction = RESTRICTION_NONE
        if symbol in self._no_trade:
            restriction = RESTRICTION_NO_TRADE
        elif symbol in self._sell_only:
            restriction = RESTRICTION_SELL_ONLY
        return _make_limits(*values, restriction, symbol in self._allow_missing)

    def _vector(self, scope: Limits) -> tuple[Any, ...]:
        vector = self._vectors.get(id(scope))
        if vector is None:
            vector = self._vectors[id(scope)] = tuple(_encode(spec, _GETTERS[spec.attribute](scope)) for spec in FIELDS)
        return vector

    def scopes(self, account: str, strategy: str, symbol: str) -> list[tuple[str, Limits]]:
        """Return the overrides that apply, each with its name in the file."""
        document = self.document
        found: list[tuple[str, Limits]] = []
        account_scope = document.accounts.get(account)
        if account_scope is not None:
            found.append((f"accounts.{account}", account_scope))
        if strategy in document.strategies:
            found.append((f"strategies.{strategy}", document.strategies[strategy]))
        if symbol in document.symbols:
            found.append((f"symbols.{symbol}", document.symbols[symbol]))
        if account_scope is not None:
            if strategy in account_scope.strategies:
                found.append((f"accounts.{account}.strategies.{strategy}", account_scope.strategies[strategy]))
            if symbol in account_scope.symbols:
                found.append((f"accounts.{account}.symbols.{symbol}", account_scope.symbols[symbol]))
        return found

    def resolve(self, account: str, strategy: str, symbol: str) -> tuple[EffectiveLimits, dict[str, Source]]:
        """Combine the scopes for one key; return the limits and where each value came from."""
        defaults = self.document.defaults
        overrides = self.scopes(account, strategy, symbol)
        symbol_scope = self.document.symbols.get(symbol)
        values: dict[str, Any] = {}
        sources: dict[str, Source] = {}
        for spec in FIELDS:
            get = _GETTERS[spec.attribute]
            default = get(defaults)
            if spec.rule is Rule.INSTRUMENT:
                specific = get(symbol_scope) if symbol_scope is not None else None
                if specific is not None:
                    value, scope = specific, f"symbols.{symbol}"
                else:
                    value, scope = default, "defaults"
                considered: tuple[tuple[str, Any], ...] = (("defaults", default),)
                if specific is not None:
                    considered += ((f"symbols.{symbol}", specific),)
            else:
                considered = tuple(
                    (name, v) for name, scope_limits in overrides if (v := get(scope_limits)) is not None
                )
                if spec.rule is Rule.STRICTEST_STATE:
                    considered = (("defaults", default if default is not None else 0), *considered)
                    value = max(v for _, v in considered)
                elif considered:
                    pick = min if spec.rule is Rule.LOWEST else max
                    value = pick(v for _, v in considered)
                else:
                    value = default
                winners = [name for name, v in considered if v == value]
                scope = winners[0] if winners else "defaults"
                if not considered:
                    considered = (("defaults", default),)
            if value is None:  # allow_* unset anywhere: refused; collar_pct / collar_ticks: not applied
                value = False if spec.attribute.startswith("allow_") else 0
            values[spec.attribute] = value
            sources[spec.attribute] = Source(value, scope, considered)
        restriction = RESTRICTION_NONE
        if symbol in self._no_trade:
            restriction = RESTRICTION_NO_TRADE
        elif symbol in self._sell_only:
            restriction = RESTRICTION_SELL_ONLY
        limits = EffectiveLimits(
            restriction=restriction, allow_missing_reference=symbol in self._allow_missing, **values
        )
        return limits, sources

"""Reference prices for the price collar: the last trade the gateway saw, or the officer's file.

``lookup`` answers with a price (> 0) when a fresh reference exists, ``MISSING`` when
none is known and ``STALE`` when every known reference is too old. The last trade
wins while it is fresh; otherwise the file's price, while the file is fresh.
"""

from __future__ import annotations

import datetime
from typing import Final

from risk.limitsfile import reference_age_s
from risk.model import ReferencePriceDocument, ReferencePrices

MISSING: Final = 0
STALE: Final = -1
_SECOND_NS: Final = 1_000_000_000


class ReferenceBook:
    """Last trades (from executions) and file prices, with their freshness by the injected clock."""

    __slots__ = (
        "_file_expiry_ns",
        "_file_prices",
        "_last_ns",
        "_last_prices",
        "as_of",
        "max_age_ns",
        "use_last_trade",
    )

    def __init__(self) -> None:
        self._last_prices: dict[str, int] = {}
        self._last_ns: dict[str, int] = {}
        self._file_prices: dict[str, int] = {}
        self._file_expiry_ns = 0
        self.max_age_ns = 0
        self.use_last_trade = True
        self.as_of = ""

    def configure(
        self,
        settings: ReferencePrices,
        document: ReferencePriceDocument | None,
        now_ns: int,
        wall_now: datetime.datetime,
    ) -> None:
        """Apply (re)loaded settings and file; last trades seen so far are kept."""
        self.max_age_ns = settings.max_age_s * _SECOND_NS
        self.use_last_trade = settings.use_last_trade
        if document is None:
            self._file_prices = {}
            self._file_expiry_ns = 0
            self.as_of = ""
            return
        remaining_s = settings.file_max_age_s - reference_age_s(document, wall_now)
        self._file_prices = dict(document.prices)
        self._file_expiry_ns = now_ns + int(remaining_s * _SECOND_NS)
        self.as_of = document.as_of

    def on_trade(self, symbol: str, price: int, now_ns: int) -> None:
        """Record a trade the gateway saw."""
        if price > 0:
            self._last_prices[symbol] = price
            self._last_ns[symbol] = now_ns

    def lookup(self, symbol: str, now_ns: int) -> int:
        """Return the fresh reference price, ``MISSING`` or ``STALE``.

        ``RiskEngine.check_new`` does the same inline for a new order (keep the two alike).
        """
        result = MISSING
        if self.use_last_trade:
            price = self._last_prices.get(symbol)
            if price is not None:
                if now_ns - self._last_ns[symbol] <= self.max_age_ns:
                    return price
                result = STALE
        price = self._file_prices.get(symbol)
        if price is not None:
            if now_ns < self._file_expiry_ns:
                return price
            result = STALE
        return result

    def describe(self, symbol: str, now_ns: int) -> str:
        """Say where the reference for ``symbol`` comes from and how old it is (for explanations)."""
        parts: list[str] = []
        price = self._last_prices.get(symbol)
        if price is not None and self.use_last_trade:
            age = (now_ns - self._last_ns[symbol]) / _SECOND_NS
            state = "fresh" if age * _SECOND_NS <= self.max_age_ns else "stale"
            parts.append(f"last trade {price / 10_000:g} {age:.1f} s ago ({state})")
        price = self._file_prices.get(symbol)
        if price is not None:
            state = "fresh" if now_ns < self._file_expiry_ns else "stale"
            parts.append(f"file price {price / 10_000:g} as of {self.as_of} ({state})")
        return "; ".join(parts) if parts else "no reference price known"

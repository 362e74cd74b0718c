"""The simulators' stand-in for a book, shared by every exchange core (OUCH, BOE).

A limit order is marketable when it is at or through its symbol's reference price; it then
executes at the reference price with probability ``fill_ratio`` (seeded, so a run is
reproducible), fully or - with ``partial_fills`` - for a random part. A price band rejects
prices too far from the reference (a fat-finger check).
"""

from __future__ import annotations

import random
from collections.abc import Mapping


class ReferenceMatcher:
    """Reference prices and the seeded fill decision."""

    def __init__(
        self,
        reference_prices: Mapping[str, int],
        default_reference_price: int | None,
        *,
        fill_ratio: float = 1.0,
        partial_fills: bool = False,
        seed: int = 1,
    ) -> None:
        self._reference_prices = dict(reference_prices)
        self._default = default_reference_price
        self._fill_ratio = fill_ratio
        self._partial_fills = partial_fills
        self._rng = random.Random(seed)

    def reference_price(self, symbol: str) -> int | None:
        """Return the reference price marketable orders in ``symbol`` execute at (None: they only rest)."""
        return self._reference_prices.get(symbol, self._default)

    def set_reference_price(self, symbol: str, price: int) -> None:
        """Move a symbol's reference price (the caller re-matches its resting orders)."""
        self._reference_prices[symbol] = price

    def outside_band(self, symbol: str, price: int, band: float | None) -> bool:
        """Return True if ``price`` is further than ``band`` (a fraction) from the symbol's reference."""
        reference = self.reference_price(symbol)
        return band is not None and reference is not None and abs(price - reference) > reference * band

    def match(self, symbol: str, buy: bool, price: int, open_qty: int) -> tuple[int, int]:
        """Return (quantity, price) a limit order with ``open_qty`` open executes now, (0, 0) if nothing."""
        reference = self.reference_price(symbol)
        if reference is None or open_qty <= 0:
            return 0, 0
        marketable = price >= reference if buy else price <= reference
        if not marketable or self._rng.random() >= self._fill_ratio:
            return 0, 0
        quantity = self._rng.randint(1, open_qty) if self._partial_fills else open_qty
        return quantity, reference

"""Exact conversion between decimal prices and the wire's fixed-point integers."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from gateway.protocol.messages import MAX_PRICE
from model.enums import PRICE_SCALE
from model.prices import price_text

__all__ = ["price_text", "to_decimal", "to_fixed"]

_SCALE = Decimal(PRICE_SCALE)


def to_fixed(price: str | int | Decimal) -> int:
    """Convert ``"150.25"`` (or a Decimal/int) to ``1_502_500``; refuse anything inexact.

    Binary floats are refused on purpose: ``0.1`` has no exact binary value.
    """
    if isinstance(price, float):
        raise TypeError("pass prices as str or Decimal, never float")
    try:
        value = Decimal(price) * _SCALE
    except InvalidOperation as exc:
        raise ValueError(f"not a price: {price!r}") from exc
    if value != value.to_integral_value():
        raise ValueError(f"{price} has more than {len(str(PRICE_SCALE)) - 1} decimal places")
    fixed = int(value)
    if not 0 <= fixed <= MAX_PRICE:
        raise ValueError(f"price {price} out of range")
    return fixed


def to_decimal(fixed: int) -> Decimal:
    """Convert ``1_502_500`` back to ``Decimal("150.25")``."""
    return (Decimal(fixed) / _SCALE).normalize() if fixed else Decimal(0)

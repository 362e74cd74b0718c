"""Fixed-point prices as the decimal text an operator or a strategy developer reads."""

from __future__ import annotations

from decimal import Decimal

from model.enums import PRICE_SCALE


def price_text(fixed: int) -> str:
    """Return a fixed-point price (4 implied decimals) as a plain decimal: ``1_502_500`` -> ``"150.25"``.

    Never an exponent (``2_000_000`` -> ``"200"``, not ``2E+2``) and no trailing zeros.
    """
    text = format(Decimal(fixed) / PRICE_SCALE, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text

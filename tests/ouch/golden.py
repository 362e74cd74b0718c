"""Byte strings assembled field by field from the OUCH 5.0 / SoupBinTCP specification tables."""

from __future__ import annotations


def hexb(*parts: str) -> bytes:
    """Join hex fragments (one per spec field) into bytes."""
    return bytes.fromhex(" ".join(parts))


def text(value: str, width: int) -> str:
    """Return the hex of an alpha field: ASCII, left-justified, space-padded to ``width``."""
    return value.encode("ascii").ljust(width).hex(" ")


def rtext(value: str, width: int) -> str:
    """Return the hex of a right-justified, left space-padded field."""
    return value.encode("ascii").rjust(width).hex(" ")


TS_0930 = "00 00 1f 1a ce d9 f0 00"
"""09:30:00.000000000 = 34,200,000,000,000 ns since midnight (spec data types example)."""
TS_0930_NS = 34_200_000_000_000
PRICE_150_25 = "00 00 00 00 00 16 ed 24"
"""$150.25 = 1,502,500 (spec price example)."""
ORN_1234567 = "00 00 00 00 00 12 d6 87"

"""Order enums and the fixed-point price scale, shared by the wire protocol, risk and the venues.

The values are the strategy protocol's wire encoding (``docs/strategy-protocol.md``):
changing one changes the bytes on the strategy socket and in the journal.
"""

from __future__ import annotations

import enum
from typing import Final

PRICE_SCALE: Final = 10_000
"""Fixed-point units per currency unit for every price field."""


class Side(enum.StrEnum):
    """Order side; short sales are explicit so risk can apply Reg SHO rules."""

    BUY = "B"
    SELL = "S"
    SELL_SHORT = "T"
    SELL_SHORT_EXEMPT = "E"


class TimeInForce(enum.StrEnum):
    """Time in force, coded as in FIX tag 59."""

    DAY = "0"
    GTC = "1"
    IOC = "3"
    FOK = "4"


class OrderType(enum.StrEnum):
    """Order type, coded as in FIX tag 40."""

    MARKET = "1"
    LIMIT = "2"


class RejectSource(enum.StrEnum):
    """Who refused an order or a cancel: tells a strategy where to look."""

    RISK = "RISK"
    GATEWAY = "GATEWAY"
    VENUE = "VENUE"

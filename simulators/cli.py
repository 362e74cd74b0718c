"""Command-line argument types shared by the ``gateway sim <protocol>`` simulators."""

from __future__ import annotations

import argparse
import asyncio
import decimal
from collections.abc import Callable


def price_type(max_price: int, max_text: str) -> Callable[[str], int]:
    """Return an argparse type parsing a decimal price ("150.25") into 4-implied-decimal units up to ``max_price``."""

    def parse(text: str) -> int:
        try:
            value = decimal.Decimal(text)
        except decimal.InvalidOperation:
            raise argparse.ArgumentTypeError(f"invalid price {text!r}") from None
        scaled = value * 10_000
        if not value.is_finite() or scaled != scaled.to_integral_value() or not 0 < scaled <= max_price:
            raise argparse.ArgumentTypeError(f"price {text!r} must be above 0, at most {max_text}, 4 decimals at most")
        return int(scaled)

    return parse


def reference_price_type(price: Callable[[str], int]) -> Callable[[str], tuple[str, int]]:
    """Return an argparse type for ``SYMBOL=PRICE``."""

    def parse(text: str) -> tuple[str, int]:
        symbol, sep, value = text.partition("=")
        if not sep or not symbol or len(symbol) > 8:
            raise argparse.ArgumentTypeError(f"expected SYMBOL=PRICE (symbol up to 8 characters), got {text!r}")
        return symbol, price(value)

    return parse


def listen(text: str) -> tuple[str, int]:
    """Parse ``HOST:PORT``."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return host, int(port)


def fraction(text: str) -> float:
    """Parse a number between 0 and 1."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number between 0 and 1, got {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a number between 0 and 1, got {text!r}")
    return value


def positive(text: str) -> int:
    """Parse a whole number of at least 1."""
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text!r}")
    return int(text)


def event_loop_factory(name: str) -> Callable[[], asyncio.AbstractEventLoop]:
    """Return the event loop factory for ``--loop`` (uvloop is imported only when chosen)."""
    if name == "uvloop":
        import uvloop  # noqa: PLC0415 (only needed for this choice)

        factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
        return factory
    return asyncio.new_event_loop

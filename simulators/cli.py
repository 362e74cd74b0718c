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


def non_negative(text: str) -> int:
    """Parse a whole number of at least 0."""
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"expected a whole number (0 or more), got {text!r}")
    return int(text)


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


def add_venue_arguments(
    parser: argparse.ArgumentParser,
    price: Callable[[str], int],
    *,
    login: tuple[str, str, str, str],
    rejects: tuple[str, str, str],
    client_timeout: tuple[int, str],
    book_extra: Callable[[argparse.ArgumentParser], None] = lambda parser: None,
) -> None:
    """Add the options ``gateway sim ouch`` and ``gateway sim boe`` share, in their --help order.

    ``login`` is the username, password and session help and the session's default; ``rejects`` the reason each of
    --reject-symbol, --max-qty and --price-band answers with; ``client_timeout`` the default
    and help of --client-timeout-ms. ``book_extra`` adds a venue's own book options after
    --price-band.
    """
    parser.add_argument(
        "--listen",
        type=listen,
        default=("127.0.0.1", 0),
        metavar="HOST:PORT",
        help="address to listen on (default 127.0.0.1:0 = any free port)",
    )
    username, password, session, session_default = login
    parser.add_argument("--username", default="USER", help=username)
    parser.add_argument("--password", default="PASS", help=password)
    parser.add_argument("--session", default=session_default, help=session)
    parser.add_argument(
        "--reference-price",
        type=reference_price_type(price),
        action="append",
        default=[],
        metavar="SYM=PRICE",
        help="price marketable orders in SYM execute at (repeatable)",
    )
    parser.add_argument(
        "--default-reference-price",
        type=price,
        metavar="PRICE",
        help="reference price for symbols without their own (default: none, orders rest)",
    )
    parser.add_argument(
        "--fill-ratio",
        type=fraction,
        default=1.0,
        metavar="F",
        help="probability 0..1 that a marketable order executes (default 1)",
    )
    parser.add_argument("--partial-fills", action="store_true", help="execute a random part of marketable orders")
    parser.add_argument("--seed", type=int, default=1, help="random seed for fills (default 1)")
    symbol, size, band = rejects
    parser.add_argument(
        "--reject-symbol",
        action="append",
        default=[],
        metavar="SYM",
        help=f"reject orders in SYM with {symbol} (repeatable)",
    )
    parser.add_argument("--max-qty", type=positive, metavar="N", help=f"reject orders above N shares with {size}")
    parser.add_argument(
        "--price-band",
        type=fraction,
        metavar="F",
        help=f"reject prices further than F (e.g. 0.1) from the reference with {band}",
    )
    book_extra(parser)
    parser.add_argument(
        "--drop-after",
        type=positive,
        metavar="N",
        help="cut each connection after N sequenced messages (reconnect testing)",
    )
    parser.add_argument("--heartbeat-ms", type=positive, default=1000, help="server heartbeat interval (default 1000)")
    timeout_default, timeout_help = client_timeout
    parser.add_argument("--client-timeout-ms", type=positive, default=timeout_default, help=timeout_help)

"""``gateway risk check|diff|explain``: the risk officer's offline tools for the limits file.

* ``gateway risk check FILE``: validate; exit 0 if valid, 1 listing every error (file, field
  path, line, column), 2 on bad usage.
* ``gateway risk diff OLD NEW``: what would change, field by field; exit 0 if nothing, 1 if
  something would change, 2 on bad usage or an invalid file (like diff(1)).
* ``gateway risk explain FILE --order '...'``: every check a hypothetical new order passes or
  fails, and why; exit 0 if it would be accepted, 1 if refused, 2 on bad usage or an invalid file.

Commands that talk to a running gateway (``gateway risk reload``) are added by the modules in
``RISK_EXTENSIONS`` when they exist.
"""

from __future__ import annotations

import argparse
import datetime
import difflib
import functools
import importlib
import importlib.util
import json
import sys
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any, TextIO

from gateway.commands.output import piped
from gateway.config import ConfigError, decode_venues, load_config
from gateway.trading_day import journal_day
from model.clock import monotonic_ns
from model.enums import PRICE_SCALE, OrderType, Side, TimeInForce
from model.order import Order, new_order_leaves
from risk.diff import diff_trees
from risk.engine import RiskEngine
from risk.limitsfile import LimitsFile, LimitsFileError, read_limits, strategy_overrides
from risk.loader import Problem, format_problem

EXIT_OK = 0
EXIT_FAIL = 1
EXIT_USAGE = 2

RISK_EXTENSIONS = ("gateway.commands.risk_admin",)
"""Modules adding more ``gateway risk`` sub-commands; each exposes ``register_risk(actions)``."""

_SIDES = {
    "B": Side.BUY,
    "BUY": Side.BUY,
    "S": Side.SELL,
    "SELL": Side.SELL,
    "T": Side.SELL_SHORT,
    "SELL_SHORT": Side.SELL_SHORT,
    "SHORT": Side.SELL_SHORT,
    "E": Side.SELL_SHORT_EXEMPT,
    "SELL_SHORT_EXEMPT": Side.SELL_SHORT_EXEMPT,
}
_TIFS = {t.name: t for t in TimeInForce} | {t.value: t for t in TimeInForce}
_TYPES = {t.name: t for t in OrderType} | {t.value: t for t in OrderType}
_ORDER_FIELDS = ("account", "symbol", "side", "qty", "price", "strategy", "venue", "tif", "type")


class UsageError(Exception):
    """The command line (e.g. ``--order``) is wrong: exit 2 with this message."""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``gateway risk`` and its sub-commands."""
    parser = subparsers.add_parser(
        "risk",
        help="risk officer tools: check, diff and explain limits files; reload them in a running gateway",
        description="Validate, compare and explain pre-trade risk limits files, and make a running gateway reload "
        "its limits (docs/risk-officer-guide.md).",
    )
    actions = parser.add_subparsers(dest="risk_command", metavar="ACTION")
    actions.required = True

    check = actions.add_parser(
        "check",
        help="validate a limits file; exit 1 listing every error",
        description="Validate FILE and every file it names. Exit 0 if valid, 1 if not (every error is "
        "listed as file:line:column: field path: message), 2 on bad usage. With --config, every strategy "
        "override must name a strategy that gateway config runs (as the running gateway checks on reload).",
    )
    check.add_argument("file", metavar="FILE", help="limits file (YAML)")
    check.add_argument(
        "--config",
        metavar="GATEWAY_YAML",
        help="the gateway config the file is for: check strategy (error) and account (warning) names against "
        "its strategies: section; without it, strategy names are not checked (a warning says so)",
    )
    check.set_defaults(func=piped(run_check))

    diff = actions.add_parser(
        "diff",
        help="show what would change between two limits files",
        description="Show, field by field, what would change if NEW replaced OLD (reference-price file "
        "included). Exit 0 if nothing would change, 1 if something would, 2 on bad usage or an invalid file.",
    )
    diff.add_argument("old", metavar="OLD", help="limits file in force")
    diff.add_argument("new", metavar="NEW", help="candidate limits file")
    diff.set_defaults(func=piped(run_diff))

    explain = actions.add_parser(
        "explain",
        help="say which checks a hypothetical order passes or fails, and why",
        description="Run every check on a hypothetical new order against FILE. Exit 0 if the order would be "
        "accepted, 1 if refused, 2 on bad usage or an invalid file.",
    )
    explain.add_argument("file", metavar="FILE", help="limits file (YAML)")
    explain.add_argument(
        "--order",
        required=True,
        help="the order: 'account=ACC1 symbol=AAPL side=B qty=100 price=150.25 "
        "[strategy=S1 venue=V tif=DAY type=LIMIT]' or the same fields as JSON",
    )
    explain.add_argument(
        "--position", type=int, default=None, help="filled position of the account in the symbol (shares)"
    )
    explain.add_argument(
        "--reference-price", default=None, help="reference price to use, as if just traded (e.g. 150.20)"
    )
    explain.add_argument("--json", action="store_true", help="print the verdicts as JSON")
    explain.set_defaults(func=piped(run_explain))

    for module_name in RISK_EXTENSIONS:
        try:
            found = importlib.util.find_spec(module_name) is not None
        except ModuleNotFoundError:
            found = False
        if found:
            importlib.import_module(module_name).register_risk(actions)


def print_problems(problems: list[Problem], out: TextIO) -> None:
    """Print one ``file:line:column: path: message`` line per problem, then the count (check and reload)."""
    for problem in problems:
        print(format_problem(problem), file=out)
    print(f"{len(problems)} error(s): the limits were NOT accepted", file=out)


def _print_problems(error: LimitsFileError, out: TextIO) -> None:
    print_problems(error.problems, out)


def _load(path: str, out: TextIO) -> LimitsFile | None:
    try:
        return read_limits(path)
    except LimitsFileError as error:
        _print_problems(error, out)
        return None


def _trading_day(zone: str, venues: list[Any], wall_ns: int) -> datetime.date:
    """Return the gateway's trading day at ``wall_ns``: its journal's, in ``journal.timezone``."""
    return journal_day(zone, venues, lambda: wall_ns)


def run_check(args: argparse.Namespace) -> int:
    """Validate a limits file (against a gateway config's strategies with ``--config``) and report."""
    known = None
    trading_day: Callable[[int], datetime.date] | None = None  # without --config: the host's dates
    if args.config:
        try:
            config = load_config(args.config)
            known = config.risk_names()
            venues = decode_venues(config)
        except ConfigError as exc:
            print(f"gateway risk check: {exc}", file=sys.stderr)
            return EXIT_USAGE
        zone = config.journal.timezone
        # the gateway's trading day, its journal's (the start-of-day positions' staleness: killstop56)
        trading_day = functools.partial(_trading_day, zone, venues)
    try:
        limits = read_limits(args.file, known=known, trading_day=trading_day)
    except LimitsFileError as error:
        _print_problems(error, sys.stdout)
        return EXIT_FAIL
    document = limits.document
    print(
        f"OK: {args.file} is valid (sha256 {limits.sha256}): {len(document.accounts)} accounts, "
        f"{len(document.strategies)} strategy and {len(document.symbols)} symbol overrides, "
        f"{len(document.restricted.no_trade) + len(document.restricted.sell_only)} restricted symbols"
    )
    if limits.reference is not None:
        print(
            f"    reference prices: {limits.reference_path} ({len(limits.reference.prices)} symbols, "
            f"as of {limits.reference.as_of})"
        )
    if limits.positions is not None:
        print(f"    start-of-day positions: {len(limits.positions.accounts)} accounts")
    for warning in limits.warnings:
        print(f"warning: {warning}")
    unchecked = [".".join(path) for path, _ in strategy_overrides(limits.display)]
    if known is None and unchecked:
        print(
            f"warning: strategy names not checked against a gateway config: {', '.join(unchecked)} "
            "(an override for a strategy the gateway does not run never applies; give --config <gateway.yaml>, "
            "as the running gateway checks on every reload)"
        )
    return EXIT_OK


def run_diff(args: argparse.Namespace) -> int:
    """Show what would change between two limits files."""
    old = _load(args.old, sys.stdout)
    new = _load(args.new, sys.stdout)
    if old is None or new is None:
        return EXIT_USAGE
    changes = diff_trees(old.display, new.display)
    changes += diff_trees(old.reference_display, new.reference_display, ("reference_file",))
    if not changes:
        print(f"no changes: {args.new} would apply the same limits as {args.old}")
        return EXIT_OK
    for change in changes:
        print(change)
    print(f"{len(changes)} change(s)")
    return EXIT_FAIL


def parse_price(text: str) -> int:
    """Convert a decimal price in currency units to fixed-point, exactly."""
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise UsageError(f"price {text!r} is not a number") from None
    if not number.is_finite():
        raise UsageError(f"price {text!r} is not a finite number")
    if number < 0:
        raise UsageError(f"price {text!r} is negative")
    scaled = number * PRICE_SCALE
    if scaled != scaled.to_integral_value():
        raise UsageError(f"price {text!r} has more than 4 decimals: write at most 4 decimals")
    return int(scaled)


def parse_order(text: str) -> Order:
    """Parse ``key=value`` pairs (or a JSON object) into a hypothetical new order."""
    stripped = text.strip()
    fields: dict[str, Any]
    if stripped.startswith("{"):
        try:
            fields = json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise UsageError(f"--order is not valid JSON: {exc}") from None
        if not isinstance(fields, dict):
            raise UsageError("--order JSON must be an object")
    else:
        fields = {}
        for part in stripped.split():
            key, sep, value = part.partition("=")
            if not sep or not key:
                raise UsageError(f"--order: expected key=value, got {part!r}")
            fields[key.lower()] = value
    unknown = sorted(set(fields) - set(_ORDER_FIELDS))
    if unknown:
        raise UsageError(f"--order: unknown field(s) {', '.join(unknown)}; known: {', '.join(_ORDER_FIELDS)}")
    missing = [k for k in ("account", "symbol", "side", "qty") if k not in fields]
    if missing:
        raise UsageError(f"--order: missing {', '.join(missing)}")
    side = _SIDES.get(str(fields["side"]).upper())
    if side is None:
        raise UsageError(f"--order: side must be one of B, S, T (sell short), E (short exempt); got {fields['side']!r}")
    try:
        qty = int(str(fields["qty"]))
    except ValueError:
        raise UsageError(f"--order: qty must be a whole number, got {fields['qty']!r}") from None
    ord_type = _TYPES.get(str(fields.get("type", "LIMIT")).upper())
    if ord_type is None:
        raise UsageError(f"--order: type must be LIMIT or MARKET, got {fields.get('type')!r}")
    tif = _TIFS.get(str(fields.get("tif", "DAY")).upper())
    if tif is None:
        raise UsageError(f"--order: tif must be DAY, GTC, IOC or FOK, got {fields.get('tif')!r}")
    if "price" in fields:
        price = parse_price(str(fields["price"]))
    elif ord_type == OrderType.MARKET:
        price = 0
    else:
        raise UsageError("--order: price is required for a limit order")
    order = Order(
        order_id=0,
        strategy_id=str(fields.get("strategy", "")),
        cl_ord_id="explain",
        account=str(fields["account"]),
        venue=str(fields.get("venue", "")),
        symbol=str(fields["symbol"]),
        side=side,
        qty=qty,
        price=price,
        tif=tif,
        ord_type=ord_type,
    )
    new_order_leaves(order)
    return order


def _close(name: str, names: Any) -> str:
    close = difflib.get_close_matches(name, list(names), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def unlisted_names(limits: LimitsFile, order: Order, file: str) -> list[str]:
    """Say which of the order's account, strategy and symbol the limits file has no entry for (explain's notes).

    A misspelt strategy or symbol is explained without its overrides: the notes say so, they are not a failure.
    """
    document = limits.document
    account = document.accounts.get(order.account)
    notes = []
    if account is None:
        notes.append(
            f"account {order.account} has no entry in {file}{_close(order.account, document.accounts)}: its orders "
            "are refused (UNKNOWN_ACCOUNT)"
        )
    strategy = order.strategy_id
    nested = account.strategies if account is not None else {}
    if strategy and strategy not in document.strategies and strategy not in nested:
        notes.append(
            f"strategy {strategy} has no entry in {file} (strategies, accounts.{order.account}.strategies)"
            f"{_close(strategy, {*document.strategies, *nested})}: no strategy override applies, the account's "
            "and the defaults do"
        )
    symbols = account.symbols if account is not None else {}
    if order.symbol not in document.symbols and order.symbol not in symbols:
        notes.append(
            f"symbol {order.symbol} has no entry in {file} (symbols, accounts.{order.account}.symbols)"
            f"{_close(order.symbol, {*document.symbols, *symbols})}: no symbol override applies, the defaults do"
        )
    return notes


def run_explain(args: argparse.Namespace) -> int:
    """Explain the verdict of every check on a hypothetical order."""
    try:
        order = parse_order(args.order)
        reference = parse_price(args.reference_price) if args.reference_price is not None else None
    except UsageError as exc:
        print(f"gateway risk explain: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        engine = RiskEngine.load(args.file, monotonic_ns, None)
    except LimitsFileError as error:
        _print_problems(error, sys.stdout)
        return EXIT_USAGE
    now = monotonic_ns()
    if args.position is not None:
        engine.set_start_position(order.account, order.symbol, args.position)
    if reference is not None:
        engine.set_reference_price(order.symbol, reference, now)
    verdicts = engine.explain(order, now)
    refused = [v for v in verdicts if not v.passed]
    notes = unlisted_names(engine.limits_file, order, args.file)
    if args.json:
        print(json.dumps([{"check": v.check, "passed": v.passed, "code": v.code, "text": v.text} for v in verdicts]))
        for note in notes:
            print(f"note: {note}", file=sys.stderr)
        return EXIT_FAIL if refused else EXIT_OK
    price = "MARKET" if order.ord_type == OrderType.MARKET else f"@ {Decimal(order.price) / PRICE_SCALE}"
    print(
        f"order: {order.side.name} {order.qty} {order.symbol} {price} account {order.account} "
        f"strategy {order.strategy_id or '(none)'} ({order.ord_type.name} {order.tif.name})"
    )
    for note in notes:
        print(f"note: {note}")
    width = max(len(v.check) for v in verdicts)
    for verdict in verdicts:
        mark = "pass" if verdict.passed else "FAIL"
        code = f"{verdict.code}: " if verdict.code else ""
        print(f"  {mark}  {verdict.check:<{width}}  {code}{verdict.text}")
    sources = engine.effective_limits(order.account, order.strategy_id, order.symbol)
    if sources:
        print("effective limits (value <- winning scope; other values considered):")
        field_width = max(len(s.field) for s in sources)
        for source in sources:
            others = [f"{scope}={value}" for scope, value in source.considered if scope != source.scope]
            more = f"  (also: {', '.join(others)})" if others else ""
            print(f"  {source.field:<{field_width}}  {source.value} <- {source.scope}{more}")
    if refused:
        first = refused[0]
        print(f"result: REFUSED with {first.code} ({len(refused)} check(s) fail); first: {first.text}")
        return EXIT_FAIL
    print("result: ACCEPTED (every check passes)")
    return EXIT_OK

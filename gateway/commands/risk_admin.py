"""``gateway risk reload`` and ``gateway risk adjust-position``: act on a running gateway's risk.

* ``reload``: re-read the limits file now.
* ``adjust-position``: correct a position after a venue busted or corrected a trade (journaled, audited);
  ``--dry-run`` prints the position before and after and the limits it would breach, changing nothing.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import msgspec

from gateway.admin import AdminError, fetch_status
from gateway.commands.admin import add_target, admin_socket_path, call, operator_text, who
from gateway.commands.metrics import positive_seconds
from gateway.commands.output import piped
from gateway.commands.risk import UsageError, parse_price, print_problems
from gateway.config import ConfigError, load_config
from model.enums import PRICE_SCALE
from risk.diff import Change
from risk.loader import Problem, format_scaled


def register_risk(actions: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``reload`` under ``gateway risk``."""
    reload = actions.add_parser(
        "reload",
        help="make the running gateway re-read its limits file (checked completely first; a bad file changes nothing)",
    )
    add_target(reload)
    reload.add_argument(
        "--timeout",
        type=positive_seconds,
        help=f"seconds to wait for the answer (default {RELOAD_BASE_S:.0f} plus {RELOAD_S_PER_MB:.0f} per MB of the "
        "limits file named in --config, or with --admin-socket alone in the gateway's status: a large file takes "
        f"seconds to read; {RELOAD_UNKNOWN_S:.0f} if its size cannot be learned)",
    )
    reload.set_defaults(func=piped(run_reload))

    adjust = actions.add_parser(
        "adjust-position",
        help="correct a position after a venue busted or corrected a trade (journaled, audited)",
        description="Correct ACCOUNT's filled position in SYMBOL in the running gateway: --qty is what the "
        "correction adds (+ buys, - sells: a busted buy of 100 is --qty -100). With --price, the busted trade's "
        "notional (|qty| x price) is taken off the day's traded notional (credit_limit), or added with "
        "--traded add. Journaled before it applies (a restart the same day keeps it) and written to the risk "
        "audit log. Exit 0 applied (or, with --dry-run, would apply), 1 refused (nothing changed), 2 bad usage, "
        "4 no answer.",
    )
    adjust.add_argument("--account", required=True, help="the account (as in the limits file)")
    adjust.add_argument("--symbol", required=True, help="the symbol")
    adjust.add_argument(
        "--qty", required=True, type=int, help="signed shares the correction adds: + buys, - sells (not 0)"
    )
    adjust.add_argument("--price", help="the trade's price (e.g. 150.25): changes the traded notional by |qty| x price")
    adjust.add_argument(
        "--traded",
        choices=("remove", "add"),
        default="remove",
        help="with --price: remove the busted trade's notional (default) or add a trade the gateway never counted",
    )
    adjust.add_argument(
        "--reason", required=True, type=operator_text, help="why, for the audit log (e.g. 'bust of exec 123 at XNAS')"
    )
    adjust.add_argument(
        "--dry-run",
        action="store_true",
        help="print the position before and after and any limit breached; change nothing",
    )
    add_target(adjust)
    adjust.set_defaults(func=piped(run_adjust))


RELOAD_BASE_S = 10.0
"""How long ``gateway risk reload`` waits for the answer, at the least."""
RELOAD_S_PER_MB = 60.0
"""And how much longer per MB of the limits file (20,000 symbols, 866 KB: 23 s on a loaded machine)."""


RELOAD_UNKNOWN_S = RELOAD_BASE_S + 2 * RELOAD_S_PER_MB
"""How long to wait when the limits file's size cannot be learned (as for a 2 MB file)."""


def reload_timeout(args: argparse.Namespace) -> float:
    """Return how long to wait for a reload's answer: ``--timeout``, or scaled to the limits file's size.

    The limits file is the one ``--config`` names; with ``--admin-socket`` alone (or a config that cannot be read
    here), the one the gateway's status names (its ``risk.limits_file``); if even that cannot be learned or
    read, ``RELOAD_UNKNOWN_S``. A wait too short for a large file only gave up (exit 4) on a reload still
    under way (rev51risk: 10 s, applied 13.5 s later).
    """
    if args.timeout is not None:
        return float(args.timeout)
    size: int | None
    try:
        config = load_config(args.config)
        socket = getattr(args, "admin_socket", None)
        if socket and Path(socket).resolve() != config.path(config.admin_socket).resolve():
            raise ConfigError("--admin-socket names another gateway than --config")
        size = os.stat(config.path(config.risk_limits)).st_size
    except (ConfigError, OSError, ValueError):
        size = _served_limits_size(args)
    if size is None:
        return RELOAD_UNKNOWN_S
    return RELOAD_BASE_S + RELOAD_S_PER_MB * size / 1_000_000


def _served_limits_size(args: argparse.Namespace) -> int | None:
    """Return the size of the limits file the gateway's status names, or None if it cannot be learned."""
    try:
        status = fetch_status(admin_socket_path(args), RELOAD_BASE_S)
        name = status.get("risk", {}).get("limits_file")
        return os.stat(name).st_size if isinstance(name, str) else None
    except (AdminError, ConfigError, OSError, ValueError, AttributeError, TypeError):
        return None


EXIT_RELOAD_COPY_NOT_KEPT = 3
"""``gateway risk reload``: applied (the new limits are in force), but their copy in ``state_dir`` is not kept."""


def run_reload(args: argparse.Namespace) -> int:
    """Ask the gateway to reload; print what changed or every error.

    Exit 1 if refused, 3 if applied but its copy in ``state_dir`` could not be written, 4 if it did not answer.
    """
    reply = call(args, {"cmd": "risk_reload", "who": who()}, reload_timeout(args))
    if isinstance(reply, int):
        return reply
    result = reply.get("result", {})
    if result.get("ok"):
        changes = result.get("changes", [])
        print(f"risk limits reloaded (sha256 {str(result.get('sha256', ''))[:16]}...): {len(changes)} change(s)")
        for change in changes:
            print(f"  {_change(change)}")
        for warning in result.get("warnings", []):
            print(f"  warning: {warning}")
        if result.get("copy_problem"):
            print(
                "risk reload APPLIED (the new limits are in force), but their copy in the state directory is NOT "
                f"kept: {result['copy_problem']}; a restart while a limits file is NOT APPLIED would refuse to "
                "start: make the state directory writable again (free space; a read-only mount, permissions, an "
                "immutable flag) and run `gateway risk reload` again",
                file=sys.stderr,
            )
            return EXIT_RELOAD_COPY_NOT_KEPT
        return 0
    errors = result.get("errors", [])
    if not errors:  # refused for something other than the file (the audit log): the message says what
        print("risk reload NOT applied; the limits in force are unchanged:", file=sys.stderr)
        print(result.get("message") or "no reason given", file=sys.stderr)
        return 1
    print("risk reload REFUSED; the limits in force are unchanged:", file=sys.stderr)
    print_problems([_problem(error) for error in errors], sys.stderr)
    if result.get("message"):
        print(result["message"], file=sys.stderr)
    return 1


def _money(value: object) -> str:
    return format_scaled(value if isinstance(value, int) else 0, PRICE_SCALE)


def _trade_price(text: str) -> int:
    """Parse ``--price``: a trade's price, above 0 (0 or less is no price: bad usage, not "no price")."""
    price = parse_price(text.strip().removeprefix("-"))  # says what is wrong: not a number, too many decimals
    if price <= 0 or text.strip().startswith("-"):
        raise UsageError(f"price {text!r} must be positive (leave --price out to keep the traded notional unchanged)")
    return price


def run_adjust(args: argparse.Namespace) -> int:
    """Ask the gateway to correct a position (or say what it would do); exit 1 if refused, 4 if no answer."""
    try:
        price = _trade_price(args.price) if args.price is not None else 0
    except UsageError as exc:
        print(f"gateway risk adjust-position: {exc}", file=sys.stderr)
        return 2
    request = {
        "cmd": "risk_adjust_position",
        "account": args.account,
        "symbol": args.symbol,
        "qty": args.qty,
        "price": price,
        "traded": args.traded,
        "reason": args.reason,
        "dry_run": bool(args.dry_run),
        "who": who(),
    }
    reply = call(args, request)
    if isinstance(reply, int):
        return reply
    result = reply.get("result", {})
    if not result.get("ok"):
        print(
            f"position correction REFUSED ({result.get('code') or 'no code'}); nothing was changed:",
            file=sys.stderr,
        )
        print(result.get("text") or "no reason given", file=sys.stderr)
        return 1
    head = "DRY RUN, nothing changed: would correct" if args.dry_run else "position corrected:"
    print(f"{head} account {result['account']} {result['symbol']} by {result['qty']:+d}")
    print(f"  position        {result['position_before']} -> {result['position_after']}")
    print(f"  traded notional {_money(result['traded_before'])} -> {_money(result['traded_after'])}")
    breaches = result.get("breaches") or []
    if breaches:
        print(f"  limits breached after it ({len(breaches)}): new orders adding to them are refused")
        for line in breaches:
            print(f"    {line}")
    else:
        print("  limits breached after it: none")
    return 0


def _problem(error: object) -> Problem:
    """Turn an error of the admin reply (a problem as JSON) back into a ``Problem`` to format it."""
    try:
        return msgspec.convert(error, Problem)
    except msgspec.ValidationError:
        return Problem("", 0, 0, "", str(error))


def _change(change: object) -> str:
    """Render a change of the admin reply (a ``Change`` as JSON) as ``gateway risk diff`` prints it."""
    try:
        return str(msgspec.convert(change, Change))
    except msgspec.ValidationError:
        return str(change)

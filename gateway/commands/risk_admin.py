"""``gateway risk reload``: make a running gateway re-read its limits file now."""

from __future__ import annotations

import argparse
import sys

import msgspec

from gateway.commands.admin import add_target, call, who
from gateway.commands.risk import print_problems
from risk.diff import Change
from risk.loader import Problem


def register_risk(actions: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``reload`` under ``gateway risk``."""
    reload = actions.add_parser(
        "reload",
        help="make the running gateway re-read its limits file (checked completely first; a bad file changes nothing)",
    )
    add_target(reload)
    reload.set_defaults(func=run_reload)


def run_reload(args: argparse.Namespace) -> int:
    """Ask the gateway to reload; print what changed or every error; exit 1 if refused, 4 if it did not answer."""
    reply = call(args, {"cmd": "risk_reload", "who": who()})
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

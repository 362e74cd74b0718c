"""``gateway risk reload``: make a running gateway re-read its limits file now."""

from __future__ import annotations

import argparse
import sys

from gateway.commands.admin import add_target, call, who


def register_risk(actions: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``reload`` under ``gateway risk``."""
    reload = actions.add_parser(
        "reload",
        help="make the running gateway re-read its limits file (checked completely first; a bad file changes nothing)",
    )
    add_target(reload)
    reload.set_defaults(func=run_reload)


def run_reload(args: argparse.Namespace) -> int:
    """Ask the gateway to reload; print what changed or every error; exit 1 if refused."""
    reply = call(args, {"cmd": "risk_reload", "who": who()})
    if reply is None:
        return 1
    result = reply.get("result", {})
    if result.get("ok"):
        changes = result.get("changes", [])
        print(f"risk limits reloaded (sha256 {str(result.get('sha256', ''))[:16]}...): {len(changes)} change(s)")
        for change in changes:
            print(f"  {change}")
        for warning in result.get("warnings", []):
            print(f"  warning: {warning}")
        return 0
    print("risk reload REFUSED; the limits in force are unchanged:", file=sys.stderr)
    for error in result.get("errors", []):
        print(f"  {error}", file=sys.stderr)
    if result.get("message"):
        print(f"  {result['message']}", file=sys.stderr)
    return 1

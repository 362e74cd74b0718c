"""``gateway sim <protocol>``: run a venue simulator standalone for development and paper trading.

Each simulator module exposes ``add_cli_arguments(parser)`` and ``run_cli(args) -> int``.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util

SIMULATORS = {
    "ouch": ("venues.ouch.simulator", "Nasdaq OUCH 5.0 over SoupBinTCP exchange simulator"),
    "fix": ("venues.fix.simulator", "FIX 4.2/4.4 venue simulator on a real QuickFIX acceptor"),
}


def _available(module_name: str) -> bool:
    """Return True if ``module_name`` can be imported (its package may be absent)."""
    try:
        return importlib.util.find_spec(module_name) is not None
    except ModuleNotFoundError:
        return False


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``gateway sim`` with one sub-command per available simulator."""
    parser = subparsers.add_parser("sim", help="run a venue simulator")
    kinds = parser.add_subparsers(dest="simulator", metavar="PROTOCOL")
    kinds.required = True
    for name, (module_name, summary) in SIMULATORS.items():
        if not _available(module_name):
            continue
        module = importlib.import_module(module_name)
        sub = kinds.add_parser(name, help=summary, description=summary)
        module.add_cli_arguments(sub)
        sub.set_defaults(func=module.run_cli)

"""``gateway sim <protocol>``: run a venue simulator standalone for development and paper trading.

Each simulator module exposes ``add_cli_arguments(parser)`` and ``run_cli(args) -> int``. The
simulators live outside the runtime packages (``simulators``): a module is imported only when
its command runs, so building the ``gateway`` parser (as ``gateway run`` does) never loads one.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util

SIMULATORS = {
    "ouch": ("simulators.ouch.simulator", "Nasdaq OUCH 5.0 over SoupBinTCP exchange simulator"),
    "boe": ("simulators.boe.simulator", "Cboe US Equities BOE v2 exchange simulator (matching units, replay)"),
    "fix": ("simulators.fix.simulator", "FIX 4.2/4.4 venue simulator on a real QuickFIX acceptor"),
}


def _available(module_name: str) -> bool:
    """Return True if the top-level package of ``module_name`` is installed (found without importing it)."""
    try:
        return importlib.util.find_spec(module_name.partition(".")[0]) is not None
    except ModuleNotFoundError:
        return False


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``gateway sim`` with one sub-command per available simulator.

    Each sub-command takes the rest of the command line verbatim (its parser has no option
    prefix and no ``-h``); ``run`` parses it with the simulator's own options.
    """
    parser = subparsers.add_parser("sim", help="run a venue simulator")
    kinds = parser.add_subparsers(dest="simulator", metavar="PROTOCOL")
    kinds.required = True
    for name, (module_name, summary) in SIMULATORS.items():
        if not _available(module_name):
            continue
        sub = kinds.add_parser(name, help=summary, description=summary, add_help=False, prefix_chars="\0")
        sub.add_argument("simulator_args", nargs="*")
        sub.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Import the chosen simulator, parse its options and run it."""
    module_name, summary = SIMULATORS[args.simulator]
    module = importlib.import_module(module_name)
    parser = argparse.ArgumentParser(prog=f"gateway sim {args.simulator}", description=summary)
    module.add_cli_arguments(parser)
    code: int = module.run_cli(parser.parse_args(args.simulator_args))
    return code

"""The ``gateway`` command line: one sub-command per module in ``gateway.commands``.

Each command module exposes ``register(subparsers)``; the parser it adds sets
``func`` to a handler taking the parsed arguments and returning the exit code.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from gateway.signals import HELD_COMMANDS, hold_startup_signals, run_command

COMMAND_MODULES = (
    "gateway.commands.run",
    "gateway.commands.demo",
    "gateway.commands.sim",
    "gateway.commands.admin",
    "gateway.commands.metrics",
    "gateway.commands.launch",
    "gateway.commands.doctor",
    "gateway.commands.risk",
    "gateway.commands.bench",
)

EXIT_USAGE = 2


class CommandParser(argparse.ArgumentParser):
    """A sub-command's parser: an argument it does not know is its own error, with its own usage (exit 2).

    argparse hands a sub-command's unknown arguments up to the top-level parser, whose error then shows
    ``usage: gateway [-h] ... COMMAND ...`` instead of the sub-command's options.
    """

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        """Parse ``args``; exit 2 with this parser's usage if any is left over."""
        parsed, extras = super().parse_known_args(args, namespace)
        if extras:
            self.error(f"unrecognized arguments: {' '.join(extras)}")
        return parsed, extras


def build_parser() -> argparse.ArgumentParser:
    """Build the top-level parser with every registered sub-command."""
    parser = argparse.ArgumentParser(
        prog="gateway",
        description="Low-latency order-entry gateway: strategies -> risk -> venues.",
    )
    parser.add_argument(
        "--log-level",
        default="INFO",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="logging threshold (default INFO)",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=CommandParser)
    subparsers.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def configure_logging(level: str) -> None:
    """Log one line per record to stderr with a UTC timestamp."""
    logging.basicConfig(
        level=getattr(logging, level),
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` and run the chosen sub-command; return its exit code."""
    if run_command(list(sys.argv[1:] if argv is None else argv)) in HELD_COMMANDS:
        hold_startup_signals()  # (again: gateway/__init__ did, from sys.orig_argv) before the commands' imports
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging(args.log_level)
    code: int = args.func(args)
    return code

"""``gateway doctor [--json] [--cpu N] [--interface IF]``: host preflight for low latency.

Exit codes: 0 no check failed (warnings allowed), 1 a check failed, 2 bad flags.
See ``gateway.ops.doctor`` for the checks and ``docs/ops-guide.md`` for what to do.
"""

from __future__ import annotations

import argparse
import logging
import sys

from gateway.ops.doctor import local_context, run_doctor, validate_targets
from gateway.ops.host import add_host_root_argument

EXIT_USAGE = 2

log = logging.getLogger("gateway.ops.doctor")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``gateway doctor``."""
    parser = subparsers.add_parser(
        "doctor",
        allow_abbrev=False,
        help="check this host for what the gateway's latency depends on",
        description=(
            "Check CPU isolation, interrupts, frequency and idle states, huge pages, swap, NIC coalescing,"
            " busy-poll sysctls, io_uring, Onload and the clock source. Each check prints PASS, WARN, FAIL or"
            " UNKNOWN with the reason and the command that fixes it. Exit 1 if any check FAILs."
        ),
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--cpu", type=int, metavar="N", help="the core the gateway will be pinned to (spin.cpu)")
    parser.add_argument("--interface", metavar="IF", help="the venue-facing interface (default: the default route's)")
    add_host_root_argument(parser, "/proc and /sys")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the checks and print the report."""
    ctx = local_context(args.cpu, args.interface, args.host_root)
    problem = validate_targets(ctx.host, args.cpu, args.interface)
    if problem:
        log.error("doctor: %s", problem)
        return EXIT_USAGE
    report = run_doctor(ctx)
    if args.json:
        sys.stdout.write(report.to_json().decode() + "\n")
    else:
        print(report.render())
    return report.exit_code

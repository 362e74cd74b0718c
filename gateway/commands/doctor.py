"""``gateway doctor [--json] [--cpu N] [--interface IF] [--user NAME] [--config YAML]``: host preflight.

Exit codes: 0 no check failed (warnings allowed), 1 a check failed, 2 bad flags, 141 the reader of stdout
went away before the report was written (``| head``).
See ``gateway.ops.doctor`` for the checks and ``docs/ops-guide.md`` for what to do.
"""

from __future__ import annotations

import argparse
import logging
import sys

from gateway.commands.output import piped
from gateway.config import ConfigError, load_config
from gateway.ops.doctor import Venue, local_context, run_doctor, validate_targets
from gateway.ops.host import HostView, add_host_root_argument
from gateway.ops.onload import identity_of

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
            " busy-poll sysctls, io_uring, Onload (installed, /dev/onload usable by the gateway's user, routes to"
            " the venues through an Onload interface) and the clock source. Each check prints PASS, WARN, FAIL or"
            " UNKNOWN with the reason and the command that fixes it. Exit 1 if any check FAILs."
        ),
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--cpu", type=int, metavar="N", help="the core the gateway will be pinned to (spin.cpu)")
    parser.add_argument("--interface", metavar="IF", help="the venue-facing interface (default: the default route's)")
    parser.add_argument(
        "--user",
        metavar="NAME",
        help="the user the gateway runs as, for the /dev/onload permission check (default: whoever runs the doctor)",
    )
    parser.add_argument(
        "--config",
        metavar="GATEWAY_YAML",
        help="the gateway config: check that the route to each of its venues leaves through an Onload interface",
    )
    add_host_root_argument(parser, "/proc, /sys, /dev and /etc")
    parser.set_defaults(func=run)


@piped
def run(args: argparse.Namespace) -> int:
    """Run the checks and print the report (a reader gone early: exit 141, no traceback)."""
    host = HostView(args.host_root)
    identity = None
    if args.user:
        identity = identity_of(args.user, host)
        if identity is None:
            log.error("doctor: --user %s: no such user in %s", args.user, host.path("/etc/passwd"))
            return EXIT_USAGE
    venues = None
    if args.config:
        try:
            config = load_config(args.config)
        except ConfigError as exc:
            log.error("doctor: %s", exc)
            return EXIT_USAGE
        venues = [
            Venue(str(v.get("name", f"venues[{i}]")), str(v["host"]))
            for i, v in enumerate(config.venues)
            if isinstance(v.get("host"), str)
        ]
    ctx = local_context(args.cpu, args.interface, args.host_root, identity=identity, venues=venues)
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

"""``gateway metrics`` (Prometheus text, once) and ``gateway metrics serve`` (the exporter process).

Both read the gateway's admin socket; the gateway only copies its counters (``gateway.metrics``).
The Prometheus side lives in ``gateway.exporter`` and needs the ``metrics`` extra.
"""

from __future__ import annotations

import argparse
import math
import sys

from gateway.admin import AdminError, fetch_metrics
from gateway.commands.admin import DEFAULT_CONFIG, add_target, admin_socket_path
from gateway.commands.output import write_stdout
from gateway.config import ConfigError

DEFAULT_LISTEN = "127.0.0.1:9464"
MISSING_EXTRA = "prometheus_client is not installed: pip install 'order-gateway[metrics]'"


def positive_seconds(text: str) -> float:
    """Parse ``--timeout``: a finite number of seconds above 0 (argparse exits 2 otherwise)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"expected a finite number of seconds above 0, got {text!r}")
    return value


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``metrics`` and ``metrics serve``.

    ``--config``, ``--admin-socket`` and ``--timeout`` may come before ``serve`` or after it: the
    copies on ``serve`` default to ``argparse.SUPPRESS``, so that one not given there leaves the
    value given before ``serve`` (or its default) in place instead of overwriting it.
    """
    parser = subparsers.add_parser(
        "metrics", help="print a running gateway's metrics in Prometheus text format (or serve them: metrics serve)"
    )
    add_target(parser)
    parser.add_argument(
        "--timeout", type=positive_seconds, default=5.0, help="seconds to wait for the gateway (default 5)"
    )
    parser.set_defaults(func=run_metrics)
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    serve = actions.add_parser(
        "serve", help="run a Prometheus exporter: every HTTP scrape reads the gateway's admin socket"
    )
    serve.add_argument(
        "--config", default=argparse.SUPPRESS, help=f"gateway config naming the admin socket (default {DEFAULT_CONFIG})"
    )
    serve.add_argument("--admin-socket", default=argparse.SUPPRESS, help="admin socket path (overrides the config)")
    serve.add_argument(
        "--timeout",
        type=positive_seconds,
        default=argparse.SUPPRESS,
        help="seconds to wait for the gateway per scrape (default 5)",
    )
    serve.add_argument(
        "--listen", default=DEFAULT_LISTEN, help=f"HOST:PORT for the exporter's HTTP server (default {DEFAULT_LISTEN})"
    )
    serve.set_defaults(func=run_serve)


def run_metrics(args: argparse.Namespace) -> int:
    """Print the current metrics once."""
    try:
        from gateway.exporter import render  # noqa: PLC0415 - the metrics extra, loaded by this command only
    except ImportError:
        print(f"gateway metrics: {MISSING_EXTRA}", file=sys.stderr)
        return 1
    try:
        snapshot = fetch_metrics(admin_socket_path(args), args.timeout)
    except (AdminError, ConfigError) as exc:
        print(f"gateway metrics: {exc}", file=sys.stderr)
        return 1
    write_stdout(render(snapshot).decode())  # | head, | grep -m1: the reader's choice, exit 0 quietly
    return 0


def parse_listen(text: str) -> tuple[str, int]:
    """Return (host, port) from ``HOST:PORT`` (``[::1]:PORT`` for IPv6; ``0.0.0.0:PORT`` for every interface).

    The host is required: ``:PORT`` would listen on every interface, which has to be asked for by name.
    """
    host, sep, port = text.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not sep or not host or not (port.isascii() and port.isdigit()):
        raise ValueError(
            f"--listen {text!r}: expected HOST:PORT with a host, e.g. {DEFAULT_LISTEN}"
            " (0.0.0.0:PORT for every interface)"
        )
    if not 0 < int(port) < 65536:
        raise ValueError(f"--listen {text!r}: port {int(port)} is out of range: expected 1-65535")
    return host, int(port)


def run_serve(args: argparse.Namespace) -> int:
    """Run the exporter until SIGTERM/SIGINT."""
    try:
        from gateway.exporter import serve  # noqa: PLC0415 - the metrics extra, loaded by this command only
    except ImportError:
        print(f"gateway metrics serve: {MISSING_EXTRA}", file=sys.stderr)
        return 1
    try:
        host, port = parse_listen(args.listen)
        path = admin_socket_path(args)
    except (ValueError, ConfigError) as exc:
        print(f"gateway metrics serve: {exc}", file=sys.stderr)
        return 2
    return serve(path, host, port, args.timeout)

"""Order-entry gateway: strategies over Unix sockets -> pre-trade risk -> venue sessions."""

__version__ = "0.1.0"

import sys

from gateway.signals import hold_if_gateway_run

hold_if_gateway_run(sys.orig_argv)  # `gateway run`: SIGTERM/SIGINT/SIGHUP held before the imports below (~0.1 s)

from obs.native import native_path  # noqa: E402

__path__ = native_path(__name__, __path__)

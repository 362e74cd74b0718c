"""A blocking script: send one order and print how it ended (no asyncio needed).

With the simulator and gateway of the README running (AAPL reference price 230.10), a buy at 230.20
is marketable and fills at once::

    python examples/blocking_script.py --socket var/run/strategies.sock AAPL B 100 230.20

A price far from the reference is refused by the risk collar (the printed OrderRejected says so);
a price that does not cross rests on the book and the script gives up after ``--timeout`` seconds:
it says so, cancels the order, prints how it ended and exits with status 1.
"""

from __future__ import annotations

import argparse
import sys

from gateway.client import BlockingGatewayClient
from model.enums import Side


def main() -> None:
    """Submit one order and wait for its final event."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--socket", default="var/run/strategies.sock")
    parser.add_argument("--strategy", default="demo")
    parser.add_argument("--account", default="ACC1")
    parser.add_argument("--venue", default="OUCH")
    parser.add_argument("symbol")
    parser.add_argument("side", choices=[s.value for s in Side])
    parser.add_argument("qty", type=int)
    parser.add_argument("price", help="decimal price, e.g. 230.20")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for the order to finish")
    args = parser.parse_args()
    with BlockingGatewayClient(args.socket, args.strategy) as gw:
        order = gw.submit(args.account, args.venue, args.symbol, Side(args.side), args.qty, args.price)
        try:
            print(gw.wait_done(order, timeout=args.timeout))
            return
        except TimeoutError:
            print(
                f"gave up after {args.timeout:g} s: order {order.cl_ord_id} is still {order.status}; canceling it",
                file=sys.stderr,
            )
        gw.cancel(order)
        try:
            print(gw.wait_done(order, timeout=5.0))
        except TimeoutError:
            print(f"order {order.cl_ord_id}: no answer to its cancel within 5 s", file=sys.stderr)
    sys.exit(1)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:  # Ctrl-C: the client closed on the way out; no traceback
        sys.exit(130)

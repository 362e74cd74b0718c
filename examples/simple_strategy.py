"""A minimal strategy: buy, watch the order's events, replace it, cancel it, resume after a restart.

Start the gateway first (``gateway sim ouch --listen 127.0.0.1:15000 --reference-price AAPL=230.10``
and ``gateway run --config deploy/gateway.yaml`` in two terminals), then::

    python examples/simple_strategy.py --socket var/run/strategies.sock

The strategy id must be configured under ``strategies:`` in the gateway's config
with the account you trade. The last processed event sequence number is saved in
``--state`` so that a restarted strategy receives exactly the events it missed.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from gateway.client import GatewayClient
from gateway.protocol.messages import Executed, OrderAccepted, OrderRejected, VenueStatus
from model.enums import Side


async def trade(socket_path: str, state_file: Path) -> None:
    """Run the example against the gateway at ``socket_path``."""
    last_seq = int(state_file.read_text()) if state_file.exists() else 0
    async with GatewayClient(socket_path, "demo", last_seq=last_seq) as gw:
        assert gw.welcome is not None
        print(f"connected to {gw.welcome.gateway_id}; {gw.welcome.replayed} missed events replayed")

        # A passive bid below the simulator's reference price (230.10): rests on the book.
        order = await gw.submit("ACC1", "OUCH", "AAPL", Side.BUY, 100, "225.00")
        first = await order.wait_accepted(timeout=5)
        if isinstance(first, OrderRejected):
            print(f"rejected by {first.source}: {first.code} {first.text}")
            return
        assert isinstance(first, OrderAccepted)
        print(f"accepted: venue order id {first.venue_order_id}")

        # Move it: new total quantity 200 at 226.50.
        await order.replace(200, "226.50")
        # Then cancel whatever is left and wait for the final event.
        await order.cancel()
        final = await order.wait_done(timeout=5)
        print(f"final: {final!r}")

        # A marketable order that the simulator fills.
        taker = await gw.submit("ACC1", "OUCH", "AAPL", Side.BUY, 100, "230.20")
        async for event in taker.updates():
            if isinstance(event, Executed):
                print(f"filled {event.qty} @ {event.price / 10_000:.4f} (exec id {event.exec_id})")

        state_file.write_text(str(gw.last_seq))


async def watch(socket_path: str) -> None:
    """Print every message the gateway sends (useful while developing)."""
    async with GatewayClient(socket_path, "demo") as gw:
        async for message in gw.events():
            if isinstance(message, VenueStatus):
                print(f"venue {message.venue} is {message.state}: {message.text}")
            else:
                print(message)


def main() -> None:
    """Parse arguments and run the example."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--socket", default="var/run/strategies.sock")
    parser.add_argument("--state", type=Path, default=Path("var/simple_strategy.seq"))
    parser.add_argument("--watch", action="store_true", help="only print the gateway's messages")
    args = parser.parse_args()
    asyncio.run(watch(args.socket) if args.watch else trade(args.socket, args.state))


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:  # Ctrl-C: the client closed on the way out; no traceback
        sys.exit(130)

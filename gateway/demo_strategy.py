"""The demo's sample strategy: a few thousand orders of every kind, then a summary as JSON.

Run by ``gateway demo`` as a separate process (strategies are separate processes):
``python -m gateway.demo_strategy --socket PATH --orders 3000``. The mix:

* marketable limit orders that the simulator fills,
* passive orders that rest, some replaced, then canceled,
* orders above the risk limits (max quantity, max notional) that risk rejects,
* orders for a symbol the venue rejects.

It keeps at most ``--window`` orders awaiting their first answer, then sends
``--ping-pong`` orders one at a time; it measures the round trip (send -> first
answer) with CLOCK_MONOTONIC for both phases, and exits 0 only if every order
reached a terminal or acknowledged state.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
from dataclasses import dataclass, field

import uvloop

from gateway.client import GatewayClient, OrderHandle, OrderStatus
from gateway.latency import summarize
from gateway.protocol.messages import OrderRejected
from gateway.protocol.prices import to_fixed
from model.enums import Side, TimeInForce


@dataclass(frozen=True)
class DemoMarket:
    """Symbols, reference prices and limits the demo's order mix is built around."""

    venue: str = "OUCH"
    fix_venue: str | None = "EQX"
    """A FIX 4.2 venue that every fourth order goes to (None: OUCH only)."""
    boe_venue: str | None = "CBOE"
    """A Cboe BOE v2 venue that every fourth order goes to (None: none)."""
    accounts: tuple[str, ...] = ("ACC1", "ACC2")
    prices: dict[str, str] = field(
        default_factory=lambda: {"AAPL": "230.10", "MSFT": "420.55", "SPY": "580.25", "QQQ": "500.40"}
    )
    venue_reject_symbol: str = "ZVZZT"
    max_order_qty: int = 10_000
    max_order_notional: str = "1000000"


def build_plan(n: int, market: DemoMarket, seed: int = 7) -> list[tuple[str, dict[str, object]]]:
    """Return ``n`` (kind, order kwargs) pairs in a deterministic shuffled mix."""
    rng = random.Random(seed)
    symbols = list(market.prices)
    kinds = (
        ["fill"] * 55 + ["rest"] * 25 + ["risk_qty"] * 6 + ["risk_notional"] * 4 + ["venue_reject"] * 5 + ["ioc"] * 5
    )
    plan: list[tuple[str, dict[str, object]]] = []
    for i in range(n):
        kind = kinds[i % len(kinds)]
        symbol = symbols[rng.randrange(len(symbols))]
        ref = to_fixed(market.prices[symbol])
        side = Side.BUY if rng.random() < 0.5 else Side.SELL
        qty = rng.choice((100, 200, 300, 500))
        tick = 100  # one cent
        if side is Side.BUY:
            marketable, passive = ref + 5 * tick, ref - 50 * tick
        else:
            marketable, passive = ref - 5 * tick, ref + 50 * tick
        price = passive if kind == "rest" else marketable
        tif = TimeInForce.IOC if kind == "ioc" else TimeInForce.DAY
        if kind == "ioc":
            price = passive
        if kind == "risk_qty":
            qty = market.max_order_qty + 1 + rng.randrange(5_000)
        elif kind == "risk_notional":
            qty = market.max_order_qty - 1  # allowed size, but qty * price is far above the notional limit
        elif kind == "venue_reject":
            symbol = market.venue_reject_symbol  # risk lets it through; the venue does not list it
            side, qty, price = Side.BUY, 100, to_fixed("10.00")
        venue = market.venue
        if market.fix_venue and i % 4 == 3 and kind != "venue_reject":
            venue = market.fix_venue
        elif market.boe_venue and i % 4 == 1:
            venue = market.boe_venue
        plan.append(
            (
                kind,
                {
                    "account": market.accounts[i % len(market.accounts)],
                    "venue": venue,
                    "symbol": symbol,
                    "side": side,
                    "qty": qty,
                    "price_ticks": price,
                    "tif": tif,
                },
            )
        )
    rng.shuffle(plan)
    return plan


async def run_demo_strategy(
    socket_path: str,
    strategy_id: str,
    n_orders: int,
    window: int,
    timeout_s: float,
    ping_pong: int = 500,
    fix_venue: str | None = "EQX",
    boe_venue: str | None = "CBOE",
) -> dict[str, object]:
    """Trade the plan through the gateway and return the summary."""
    market = DemoMarket(fix_venue=fix_venue, boe_venue=boe_venue)
    plan = build_plan(n_orders, market)
    round_trips: list[int] = []
    handles: list[tuple[str, OrderHandle]] = []
    in_flight = asyncio.Semaphore(window)
    started = time.monotonic()

    async with GatewayClient(socket_path, strategy_id) as client:

        async def first_answer(handle: OrderHandle, t0: int) -> None:
            try:
                await handle.wait_accepted(timeout_s)
                round_trips.append(time.monotonic_ns() - t0)
            finally:
                in_flight.release()

        waiters = []
        for kind, kwargs in plan:
            await in_flight.acquire()
            t0 = time.monotonic_ns()
            handle = await client.submit(**kwargs)  # type: ignore[arg-type]
            handles.append((kind, handle))
            waiters.append(asyncio.ensure_future(first_answer(handle, t0)))
        await asyncio.wait_for(asyncio.gather(*waiters, return_exceptions=True), timeout_s)

        # Ping-pong: one order in flight at a time, the latency floor of the whole path.
        pingpong: list[int] = []
        for i in range(ping_pong):
            symbol = list(market.prices)[i % len(market.prices)]
            t0 = time.monotonic_ns()
            handle = await client.submit(
                market.accounts[0],
                market.venue,
                symbol,
                Side.BUY,
                100,
                price_ticks=to_fixed(market.prices[symbol]) + 500,
            )
            await handle.wait_accepted(timeout_s)
            pingpong.append(time.monotonic_ns() - t0)
            handles.append(("pingpong", handle))

        # Exercise replace on some resting orders, then cancel everything still open.
        resting = [h for kind, h in handles if kind == "rest" and h.status is OrderStatus.LIVE]
        for handle in resting[: len(resting) // 3]:
            await handle.replace(handle.qty + 100, price_ticks=handle.price)
        await asyncio.sleep(0.2)
        await client.mass_cancel()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and not all(h.is_terminal for _, h in handles):
            await asyncio.sleep(0.05)
        elapsed = time.monotonic() - started

        replaced = sum(1 for _, h in handles if any(type(e).__name__ == "Replaced" for e in h.events))
        rejects: dict[str, int] = {}
        for _, h in handles:
            for event in h.events:
                if isinstance(event, OrderRejected):
                    key = f"{event.source.value}:{event.code}"
                    rejects[key] = rejects.get(key, 0) + 1
        status_counts: dict[str, int] = {}
        by_venue: dict[str, dict[str, int]] = {}
        for _, h in handles:
            status_counts[h.status.value] = status_counts.get(h.status.value, 0) + 1
            venue_name = h.request.venue if h.request else "?"
            counts = by_venue.setdefault(venue_name, {})
            counts[h.status.value] = counts.get(h.status.value, 0) + 1
        unresolved = [h.cl_ord_id for _, h in handles if not h.is_terminal]
        return {
            "orders": len(handles),
            "elapsed_s": round(elapsed, 3),
            "orders_per_s": round(len(handles) / elapsed, 1) if elapsed else 0.0,
            "status": status_counts,
            "by_venue": by_venue,
            "filled_or_partly": sum(1 for _, h in handles if h.cum_qty > 0),
            "replaced": replaced,
            "rejects": rejects,
            "unresolved": unresolved[:20],
            "unresolved_count": len(unresolved),
            "round_trip_us": summarize(round_trips),
            "ping_pong_round_trip_us": summarize(pingpong),
            "last_seq": client.last_seq,
        }


def main(argv: list[str] | None = None) -> int:
    """Run the demo strategy and print its summary as one JSON line."""
    parser = argparse.ArgumentParser(prog="python -m gateway.demo_strategy", description=__doc__)
    parser.add_argument("--socket", required=True, help="gateway strategy socket path")
    parser.add_argument("--strategy-id", default="demo")
    parser.add_argument("--orders", type=int, default=3000)
    parser.add_argument("--window", type=int, default=64, help="orders awaiting a first answer at once")
    parser.add_argument("--timeout", type=float, default=30.0)
    parser.add_argument("--ping-pong", type=int, default=500, help="orders sent one at a time after the burst")
    parser.add_argument("--fix-venue", default="EQX", help="FIX venue for every fourth order ('' for none)")
    parser.add_argument("--boe-venue", default="CBOE", help="BOE venue for every fourth order ('' for none)")
    args = parser.parse_args(argv)
    summary = uvloop.run(
        run_demo_strategy(
            args.socket,
            args.strategy_id,
            args.orders,
            args.window,
            args.timeout,
            fix_venue=args.fix_venue or None,
            boe_venue=args.boe_venue or None,
        )
    )
    json.dump(summary, sys.stdout)
    sys.stdout.write("\n")
    return 0 if summary["unresolved_count"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())

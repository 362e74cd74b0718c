"""Pre-trade risk chain cost per order, with realistic limits files of different sizes.

What it measures, per order, with ``perf_counter_ns`` around each call:

* ``first order of each key``: ``RiskEngine.check_and_commit_new`` for the first order of each (account,
  strategy, symbol): the effective limits are resolved and cached on that call.
* ``check_and_commit_new, keys seen before``: the steady state: every check of the chain (state,
  restricted list, size, tick/lot, collar, notional, short sale, open orders/notional, credit,
  long/short/net position, duplicate, three rate windows) and the counting of an accepted order.
* ``order life``: the risk work of a whole order: check_and_commit_new + on_order_opened + a fill of half
  + the cancel of the rest.

Orders go to a fixed population of keys (20 strategies x 3 accounts x 100 symbols), at prices
inside the collar, 5,000 orders per second of simulated time (throttles stay open, the duplicate
window of 100 ms is active) and are canceled after being counted, so exposure stays realistic;
nearly every order passes every check (the accepted path is the long one); the odd refusal in the
output is a genuine DUPLICATE_ORDER produced by the random flow.

Two limits files run side by side in one process: a small one (10 accounts, 100 symbols) and a
large one (500 accounts, 10,000 symbols with 3,000 symbol overrides, 2,000 account-symbol
overrides, 300 restricted symbols); equal figures show the per-order cost does not grow with the
number of accounts or symbols. The garbage collector is frozen after set-up, as the gateway does.

Run: ``.venv/bin/python benchmarks/bench_risk.py [--orders 100000] [--seed 7]``
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from model.clock import FakeClock
from model.enums import OrderType, Side, TimeInForce
from model.order import Order, apply_ack, apply_canceled, apply_fill, mark_sent, new_order_leaves
from risk.engine import RiskEngine

ORDER_GAP_NS = 200_000
"""Simulated time between orders: 5,000 orders per second."""


def _symbols(count: int) -> list[str]:
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    out = []
    for i in range(count):
        name = ""
        n = i
        for _ in range(4):
            name += letters[n % 26]
            n //= 26
        out.append(name)
    return out


def write_limits(directory: Path, accounts: int, symbols: int, seed: int) -> tuple[Path, list[str], list[str]]:
    """Write a generated limits file and reference prices; return (path, account names, tradeable symbols)."""
    rng = random.Random(seed)
    names = [f"ACC{i:04d}" for i in range(accounts)]
    tickers = _symbols(symbols)
    restricted = set(rng.sample(tickers, min(300, symbols // 30)))
    tradeable = [s for s in tickers if s not in restricted]
    prices = {s: round(rng.uniform(5, 900), 2) for s in tickers}
    defaults = {
        "max_qty": 10_000,
        "max_notional": 2_000_000.0,
        "collar_pct": 10.0,
        "max_open_orders": 1_000,
        "max_open_notional": 50_000_000.0,
        "credit_limit": 10_000_000_000.0,
        "max_long_qty": 10_000_000,
        "max_short_qty": 10_000_000,
        "max_net_qty": 10_000_000,
        "orders_per_s": {"per_strategy": 20_000, "per_account": 20_000, "per_symbol": 2_000},
        "cancels_per_s": {"per_strategy": 20_000, "per_account": 20_000, "per_symbol": 2_000},
        "duplicate_window_ms": 100,
        "allow_short_sales": True,
        "tick_size": 0.01,
        "lot_size": 1,
    }
    account_scopes: dict[str, Any] = {}
    for index, name in enumerate(names):
        scope: dict[str, Any] = {"max_open_orders": rng.choice([200, 500, 1000])}
        if index % 3 == 0:
            scope["max_qty"] = rng.choice([2_000, 5_000, 10_000])
        if index % 5 == 0:
            scope["strategies"] = {f"S{rng.randrange(20)}": {"max_notional": 500_000.0}}
        account_scopes[name] = scope
    for _ in range(min(2_000, symbols)):
        name = rng.choice(names)
        account_scopes[name].setdefault("symbols", {})[rng.choice(tickers)] = {"max_long_qty": 500_000}
    symbol_scopes = {s: {"collar_pct": 15.0, "max_qty": 5_000} for s in rng.sample(tickers, min(3_000, symbols))}
    document = {
        "version": 1,
        "defaults": defaults,
        "reference_prices": {"file": "reference-prices.yaml", "max_age_s": 300, "file_max_age_s": 86_400},
        "accounts": account_scopes,
        "strategies": {f"S{i}": {"orders_per_s": {"per_strategy": 20_000}} for i in range(20)},
        "symbols": symbol_scopes,
        "restricted": {"no_trade": sorted(restricted)},
    }
    path = directory / "limits.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    (directory / "reference-prices.yaml").write_text(
        yaml.safe_dump({"as_of": "loaded", "prices": prices}, sort_keys=False)
    )
    return path, names, tradeable


class Flow:
    """Random orders over a fixed population of (account, strategy, symbol) keys, built before timing."""

    def __init__(self, engine: RiskEngine, keys: list[tuple[str, str, str]], count: int, seed: int) -> None:
        rng = random.Random(seed)
        reference = engine.limits_file.reference
        assert reference is not None
        self.orders: list[Order] = []
        for i in range(count):
            account, strategy, symbol = keys[i] if i < len(keys) and count == len(keys) else rng.choice(keys)
            ticks = reference.prices[symbol] // 100
            price = (ticks + rng.randint(-ticks // 50, ticks // 50)) * 100
            order = Order(
                seed * 10_000_000 + i,
                strategy,
                f"C{i}",
                account,
                "OUCH",
                symbol,
                Side.BUY if rng.random() < 0.5 else Side.SELL_SHORT,
                rng.randint(1, 20) * 10,
                price,
                TimeInForce.DAY,
                OrderType.LIMIT,
            )
            new_order_leaves(order)
            self.orders.append(order)


def key_population(names: list[str], symbols: list[str], seed: int) -> list[tuple[str, str, str]]:
    """Each of 20 strategies trades 3 accounts and 100 symbols: the same key count for every file size."""
    rng = random.Random(seed)
    keys = []
    for strategy in range(20):
        accounts = rng.sample(names, min(3, len(names)))
        for symbol in rng.sample(symbols, min(100, len(symbols))):
            keys.append((rng.choice(accounts), f"S{strategy}", symbol))
    return keys


def percentile(samples: list[int], fraction: float) -> float:
    """Return the ``fraction`` percentile of sorted ``samples`` in microseconds (nearest rank)."""
    index = min(len(samples) - 1, max(0, round(fraction * len(samples)) - 1))
    return samples[index] / 1000


def measure(engine: RiskEngine, clock: FakeClock, flow: Flow, life: bool) -> tuple[list[int], int]:
    """Run every order of ``flow``; return per-order ns samples and how many were refused.

    ``life`` False times ``check_and_commit_new`` alone; True times the risk work of the order's whole life:
    check_and_commit_new, on_order_opened, a fill of half, and the cancel of the rest.
    """
    samples = [0] * len(flow.orders)
    refused = 0
    timer = time.perf_counter_ns
    check_and_commit_new = engine.check_and_commit_new
    opened = engine.on_order_opened
    executed = engine.on_execution
    changed = engine.on_open_changed
    for i, order in enumerate(flow.orders):
        now = clock.advance(ORDER_GAP_NS)
        if life:
            start = timer()
            denial = check_and_commit_new(order, now)
            if denial is None:
                opened(order)
                mark_sent(order, "V")
                apply_ack(order, "V")
                fill_qty = order.qty // 2
                apply_fill(order, fill_qty, order.price)
                executed(order, fill_qty, order.price)
                prev = order.leaves_qty
                apply_canceled(order, 0)
                changed(order, prev, order.price)
            end = timer()
        else:
            start = timer()
            denial = check_and_commit_new(order, now)
            end = timer()
            if denial is None:
                opened(order)
                mark_sent(order, "V")
                prev = order.leaves_qty
                apply_canceled(order, 0)
                changed(order, prev, order.price)
        samples[i] = end - start
        if denial is not None:
            refused += 1
    return samples, refused


def timer_overhead(count: int) -> list[int]:
    """Return the cost of two back-to-back perf_counter_ns calls (included in every sample)."""
    timer = time.perf_counter_ns
    out = [0] * count
    for i in range(count):
        start = timer()
        out[i] = timer() - start
    return out


def report(name: str, samples: list[int], refused: int) -> None:
    """Print one result line."""
    ordered = sorted(samples)
    median = statistics.median(ordered) / 1000
    print(
        f"{name:<52} n={len(samples):>6} refused={refused:>3}  median {median:5.2f} us"
        f"  p99 {percentile(ordered, 0.99):6.2f}  p99.9 {percentile(ordered, 0.999):6.2f}"
        f"  max {ordered[-1] / 1000:7.1f} us"
    )


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print median / p99 / p99.9 per configuration."""
    parser = argparse.ArgumentParser(description="Pre-trade risk chain cost per order.")
    parser.add_argument("--orders", type=int, default=100_000, help="orders per timed run (default 100000)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    configs = [("10 accounts, 100 symbols", 10, 100), ("500 accounts, 10000 symbols", 500, 10_000)]
    runs: list[tuple[str, RiskEngine, FakeClock, Flow, bool]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for index, (label, accounts, symbols) in enumerate(configs):
            directory = Path(tmp) / str(index)
            directory.mkdir()
            started = time.perf_counter()
            path, names, tradeable = write_limits(directory, accounts, symbols, args.seed)
            keys = key_population(names, tradeable, args.seed)
            for kind in ("first order of each key", "check_and_commit_new, keys seen before", "order life, keys seen"):
                clock = FakeClock()
                engine = RiskEngine.load(path, clock, None)
                if kind == "first order of each key":
                    runs.append((f"{kind} [{label}]", engine, clock, Flow(engine, keys, len(keys), 1), False))
                    continue
                measure(engine, clock, Flow(engine, keys, len(keys), 2), False)  # warm-up: every key once
                flow = Flow(engine, keys, args.orders, 3)
                runs.append((f"{kind} [{label}]", engine, clock, flow, kind.startswith("order life")))
            print(f"{label}: {len(keys)} keys, set up in {time.perf_counter() - started:.1f} s", file=sys.stderr)
        gc.collect()
        gc.freeze()
        print(f"python {sys.version.split()[0]}; 5,000 orders/s simulated; per order, p99/p99.9/max in us")
        report("timer overhead (perf_counter_ns pair)", timer_overhead(args.orders), 0)
        for name, engine, clock, flow, life in runs:
            samples, refused = measure(engine, clock, flow, life)
            report(name, samples, refused)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

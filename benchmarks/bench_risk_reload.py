"""Event-loop stall of a limits reload with many symbol overrides: on the loop (before fixrisk42) vs off it.

Builds a ``GatewayProcess`` over the e2e example limits plus ``--symbols`` extra ``symbols:`` overrides (a
large desk's file), then reloads a one-field edit alternately the old way (``reload_risk``: read, check and
diff on the loop) and the new way (``reload_risk_soon``: in a worker thread, applied on the loop), while a
10 ms ticker on the loop records its worst lateness. Prints the start-up build time, and per reload its
wall time and the worst loop stall.

Run: ``PYTHONPATH=. .venv/bin/python -m benchmarks.bench_risk_reload [--symbols 20000] [--rounds 2]``
(``GATEWAY_PURE_PYTHON=1`` for the pure modules, as docs/performance.md 9b ran it).

``--accounts 30000 --symbols 0 --off-loop-only`` (fixrisk51): a file shared by several gateways, listing 30,000
accounts no strategy of this one trades (a warning each), reloaded unchanged in a worker thread; what remains
on the loop is ``finish_reload`` (the audit record, the warnings logged, the swap). Run it against another
tree (``PYTHONPATH=<tree> .venv/bin/python <this file>``) to compare two versions with the same file.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import time
from pathlib import Path

from gateway.app import GatewayProcess
from tests.e2e.support import e2e_limits, gateway_config, short_tmp
from tests.regressions.test_risk_reload_off_loop import _big, _replace

TICK_S = 0.01


async def _reload_stall(process: GatewayProcess, off_loop: bool) -> tuple[bool, float, float]:
    """Reload once while a ticker runs; return (accepted, wall seconds, worst loop stall in seconds)."""
    worst = 0.0
    stop = False

    async def tick() -> None:
        nonlocal worst
        last = time.monotonic()
        while not stop:
            await asyncio.sleep(TICK_S)
            now = time.monotonic()
            worst = max(worst, now - last - TICK_S)
            last = now

    ticker = asyncio.create_task(tick())
    await asyncio.sleep(0.05)
    started = time.monotonic()
    if off_loop:
        result = await process.reload_risk_soon("bench", "bench_risk_reload")
    else:
        result = process.reload_risk("bench", "bench_risk_reload")
    took = time.monotonic() - started
    await asyncio.sleep(0.05)
    stop = True
    await ticker
    return result.ok, took, worst


def _accounts(text: str, accounts: int) -> str:
    """Return the limits text with ``accounts`` more accounts, none of which a strategy of the gateway trades."""
    rows = "".join(f"  C{i:05d}: {{}}\n" for i in range(accounts))
    return text.replace("\naccounts:\n", "\naccounts:\n" + rows, 1)


async def _run(symbols: int, rounds: int, accounts: int, off_loop_only: bool) -> None:
    workdir = short_tmp()
    logging.basicConfig(filename=workdir / "gateway.log", level=logging.INFO)  # as the gateway's log: to a file
    config = gateway_config(workdir, 1, Path())
    limits = e2e_limits(workdir, config.strategies)
    _replace(limits, _accounts(_big(limits, symbols), accounts))
    started = time.monotonic()
    process = GatewayProcess(gateway_config(workdir, 1, limits))
    process.build()
    print(
        f"start-up build with {symbols:,} symbol overrides and {accounts:,} accounts no strategy trades "
        f"({limits.stat().st_size / 1e6:.2f} MB): {time.monotonic() - started:.2f} s"
    )
    edit = 0
    for _ in range(rounds):
        for off_loop in (True,) if off_loop_only else (False, True):
            edit += 1
            text = limits.read_text().replace("max_qty: 100\n", f"max_qty: {100 + edit}\n", 1)
            _replace(limits, text)
            ok, took, worst = await _reload_stall(process, off_loop)
            way = "off the loop" if off_loop else "on the loop "
            print(f"{way}: accepted={ok} reload {took:.2f} s, worst loop stall {worst * 1000:.0f} ms")


def main() -> None:
    """Parse the arguments and run the alternating reloads."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", type=int, default=20_000, help="extra symbol overrides in the limits file")
    parser.add_argument("--rounds", type=int, default=2, help="pairs of reloads (on the loop, then off it)")
    parser.add_argument("--accounts", type=int, default=0, help="extra accounts no strategy of the gateway trades")
    parser.add_argument("--off-loop-only", action="store_true", help="only the reloads in a worker thread")
    args = parser.parse_args()
    asyncio.run(_run(args.symbols, args.rounds, args.accounts, args.off_loop_only))


if __name__ == "__main__":
    main()

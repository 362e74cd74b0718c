"""Event-loop stall of a limits reload with many symbol overrides: on the loop (before fixrisk42) vs off it.

Builds a ``GatewayProcess`` over the e2e example limits plus ``--symbols`` extra ``symbols:`` overrides (a
large desk's file), then reloads a one-field edit alternately the old way (``reload_risk``: read, check and
diff on the loop) and the new way (``reload_risk_soon``: in a worker thread, applied on the loop), while a
10 ms ticker on the loop records its worst lateness. Prints the start-up build time, and per reload its
wall time and the worst loop stall.

Run: ``PYTHONPATH=. .venv/bin/python -m benchmarks.bench_risk_reload [--symbols 20000] [--rounds 2]``
(``GATEWAY_PURE_PYTHON=1`` for the pure modules, as docs/performance.md 9b ran it).
"""

from __future__ import annotations

import argparse
import asyncio
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


async def _run(symbols: int, rounds: int) -> None:
    workdir = short_tmp()
    config = gateway_config(workdir, 1, Path())
    limits = e2e_limits(workdir, config.strategies)
    _replace(limits, _big(limits, symbols))
    started = time.monotonic()
    process = GatewayProcess(gateway_config(workdir, 1, limits))
    process.build()
    print(f"start-up build with {symbols:,} symbol overrides: {time.monotonic() - started:.2f} s")
    edit = 0
    for _ in range(rounds):
        for off_loop in (False, True):
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
    args = parser.parse_args()
    asyncio.run(_run(args.symbols, args.rounds))


if __name__ == "__main__":
    main()

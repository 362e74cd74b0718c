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

``--pingpong`` (stop 53, big53): a running gateway (``tests.e2e.support.running_gateway``: the OUCH simulator, the
gateway, a strategy sending one order at a time, all on one loop) and its limits file with ``--accounts`` more
accounts, reloaded (a one-field edit) ``--rounds`` x 2 times, alternating how the limits replaced are freed:
``at once`` (the risk engine's ``retire`` unset: freed when the reload drops them, as before stop 53) and
``sliced`` (``gateway.release``: a slice per loop iteration). Per reload: the worst order round trip and the worst
lateness of a 1 ms ticker from the switch (``finish_reload``'s start: the read in the worker thread before it is
not counted) until the old limits are freed (+50 ms), and the loop CPU of ``finish_reload`` itself.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

from gateway.app import GatewayProcess
from gateway.client import GatewayClient
from gateway.ops.gc_control import NEVER_THRESHOLD
from gateway.release import SLICE_UNITS
from model.enums import Side
from tests.e2e.support import e2e_limits, gateway_config, running_gateway, short_tmp
from tests.regressions.test_risk_reload_off_loop import _big, _replace

TICK_S = 0.01
BEFORE = "before (read in a worker thread, switch's disk work on the loop)"
AFTER = "after (read in a reader process, switch's disk work in a worker thread)"


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


async def _pingpong(accounts: int, rounds: int, units: int) -> None:
    workdir = short_tmp()
    logging.basicConfig(filename=workdir / "gateway.log", level=logging.INFO)
    risk_dir = workdir / "risk"
    risk_dir.mkdir()
    limits = e2e_limits(risk_dir)
    _replace(limits, _accounts(limits.read_text(), accounts))
    async with running_gateway(workdir, limits) as (process, _sim):
        config = process.config
        risk: Any = process.risk
        sliced_retire = risk.retire
        process.releaser.units = units
        worst_rt = worst_tick = worst_cpu = switch_at = 0.0
        stop = False

        async def pingpong(client: GatewayClient) -> None:
            nonlocal worst_rt
            while not stop:
                started = time.monotonic()
                order = await client.submit("ACC1", "OUCH", "AAPL", Side.BUY, 1, "229.00")
                await order.wait_accepted(timeout=30)
                worst_rt = max(worst_rt, time.monotonic() - max(started, switch_at))  # the switch's part of it

        async def tick() -> None:
            nonlocal worst_tick, worst_cpu
            last = time.monotonic()
            last_cpu = time.thread_time()
            while not stop:
                await asyncio.sleep(0.001)
                now = time.monotonic()
                cpu = time.thread_time()
                worst_tick = max(worst_tick, now - last - 0.001)
                worst_cpu = max(worst_cpu, cpu - last_cpu)  # the loop thread's own CPU between two ticks
                last = now
                last_cpu = cpu

        collections: list[tuple[int, float]] = []
        gc_started = 0.0

        def on_gc(phase: str, info: dict[str, Any]) -> None:
            nonlocal gc_started
            if phase == "start":
                gc_started = time.thread_time()
            elif switch_at:
                collections.append((info["generation"], time.thread_time() - gc_started))

        gc.callbacks.append(on_gc)
        async with GatewayClient(config.path(config.strategy_socket), "S1") as client:
            tasks = [asyncio.create_task(pingpong(client)), asyncio.create_task(tick())]
            await asyncio.sleep(0.5)
            results: dict[str, list[tuple[float, float, float]]] = {"at once": [], "sliced": [], "quiet": []}
            edit = 0
            for _ in range(rounds):
                for way in ("at once", "sliced"):
                    edit += 1
                    risk.retire = sliced_retire if way == "sliced" else None
                    text = limits.read_text().replace("max_qty: 100\n", f"max_qty: {100 + edit}\n", 1)
                    _replace(limits, text)
                    await asyncio.sleep(0.3)
                    worst_rt = worst_tick = 0.0
                    finish_cpu = 0.0
                    finish = risk.finish_reload

                    def timed(pending: Any, finish: Any = finish) -> Any:
                        nonlocal finish_cpu, switch_at, worst_rt, worst_tick, worst_cpu
                        switch_at = time.monotonic()  # from here on: the switch and freeing what it replaced
                        worst_rt = worst_tick = worst_cpu = 0.0
                        collections.clear()
                        started = time.thread_time()
                        result = finish(pending)
                        finish_cpu = time.thread_time() - started
                        return result

                    process.risk = _Timed(risk, ("finish_reload", timed))
                    result = await process.reload_risk_soon("bench", "bench_risk_reload")
                    process.risk = risk
                    assert result.ok, result
                    while process.releaser.pending:
                        await asyncio.sleep(0.001)
                    await asyncio.sleep(0.05)
                    window = time.monotonic() - switch_at
                    switch_at = 0.0
                    results[way].append((worst_rt, worst_tick, worst_cpu))
                    full = [took for generation, took in collections if generation == 2]
                    print(
                        f"{way:8s}: from the switch on ({window * 1000:.0f} ms): worst round trip "
                        f"{worst_rt * 1000:6.1f} ms, loop lateness {worst_tick * 1000:6.1f} ms, loop CPU between two "
                        f"ticks {worst_cpu * 1000:6.1f} ms; finish_reload {finish_cpu * 1000:5.1f} ms CPU; full "
                        f"collections {len(full)}" + (f" (longest {max(full) * 1000:.1f} ms CPU)" if full else ""),
                        flush=True,
                    )
                    worst_rt = worst_tick = worst_cpu = 0.0
                    switch_at = time.monotonic()  # the same length of time without a reload
                    await asyncio.sleep(window)
                    switch_at = 0.0
                    results["quiet"].append((worst_rt, worst_tick, worst_cpu))
                    print(
                        f"{'quiet':8s}: as long without a reload:   worst round trip {worst_rt * 1000:6.1f} ms, loop "
                        f"lateness {worst_tick * 1000:6.1f} ms, loop CPU between two ticks {worst_cpu * 1000:6.1f} ms",
                        flush=True,
                    )
            stop = True
            await asyncio.gather(*tasks, return_exceptions=True)
        gc.callbacks.remove(on_gc)
        for way, rows in results.items():
            print(
                f"{way:8s}: medians: worst round trip {statistics.median(r[0] for r in rows) * 1000:.1f} ms, loop "
                f"lateness {statistics.median(r[1] for r in rows) * 1000:.1f} ms, loop CPU between two ticks "
                f"{statistics.median(r[2] for r in rows) * 1000:.1f} ms (max {max(r[2] for r in rows) * 1000:.1f})"
            )


class _Callbacks:
    """Every stdlib-loop callback's own CPU while ``on`` (``asyncio.Handle._run`` wrapped): the reload's parts."""

    def __init__(self, threshold_s: float) -> None:
        self.threshold = threshold_s
        self.on = False
        self.spans: list[tuple[float, float, str]] = []
        self.count = 0
        self._run = asyncio.events.Handle._run

    def __enter__(self) -> _Callbacks:
        original = self._run
        spans = self.spans

        def run(handle: Any) -> None:
            if not self.on:
                original(handle)
                return
            self.count += 1
            wall = time.perf_counter()
            cpu = time.thread_time()
            original(handle)
            cpu = time.thread_time() - cpu
            if cpu >= self.threshold:
                spans.append((cpu, time.perf_counter() - wall, _name(handle)))

        asyncio.events.Handle._run = run  # type: ignore[method-assign,assignment]
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.events.Handle._run = self._run  # type: ignore[method-assign]


def _name(handle: Any) -> str:
    """Name a loop callback: a task step by its coroutine, else the callback's qualified name."""
    callback = handle._callback
    owner = getattr(callback, "__self__", None)
    if isinstance(owner, asyncio.Task):
        coro = owner.get_coro()
        frame = getattr(coro, "cr_frame", None)
        where = f" at line {frame.f_lineno}" if frame is not None else ""
        return f"task {getattr(coro, '__qualname__', coro)}{where}"
    return str(getattr(callback, "__qualname__", callback))


async def _callbacks(
    accounts: int, rounds: int, threshold_ms: float, young_gc: bool, status_units: list[int] | None = None
) -> None:
    """``--callbacks``: every loop callback of a reload over ``threshold_ms`` of CPU, and the worst round trip.

    Python's automatic full collections are off (``gateway run``'s default, ``spin.gc.automatic: young``; with
    them on, ``--all-gc``, the worker thread's read starts 3-4 of 100-450 ms each, holding the GIL). The window:
    from the reload's request (``reload_risk_soon``: the read in the worker thread included) until
    the reload is answered, the status parts are prepared and the replaced limits freed, + 50 ms. Rounds
    alternate ``GatewayProcess.status_slices`` 0 (the per-load status part built after the switch in one
    callback, as before stop 54) and the default (built in slices before the switch), where the tree has it
    and ``--status-units`` is given; where the tree has ``GatewayProcess.risk_reader`` (reload55), they
    alternate instead before (``risk_reader`` None: the read in a worker thread of the gateway, and
    ``finish_reload``, its disk work included, on the loop) and after (a reader process, the switch's disk work
    in a worker thread).
    """
    workdir = short_tmp()
    logging.basicConfig(filename=workdir / "gateway.log", level=logging.INFO)
    risk_dir = workdir / "risk"
    risk_dir.mkdir()
    limits = e2e_limits(risk_dir)
    _replace(limits, _accounts(limits.read_text(), accounts))
    if young_gc:  # as ``gateway run`` by default (``spin.gc.automatic: young``): no automatic full collection
        gen0, gen1, _ = gc.get_threshold()
        gc.set_threshold(gen0, gen1, NEVER_THRESHOLD)
    async with running_gateway(workdir, limits) as (process, _sim):
        config = process.config
        sliced = getattr(process, "status_slices", None)
        ways: list[tuple[str, int | None]] = [("as is", None)]
        if hasattr(process, "risk_reader") and not status_units:  # reload55: before/after, alternated
            ways = [(BEFORE, None), (AFTER, None)]
        elif sliced:
            ways = [("one go" if n == 0 else f"sliced {n}", n) for n in (status_units or [0, sliced])]
        reader = getattr(process, "risk_reader", None)
        switch = getattr(process, "_switch_risk", None)

        async def switch_on_the_loop(pending: Any) -> Any:  # before reload55: the disk work on the loop
            return process.risk.finish_reload(pending)  # type: ignore[union-attr]

        window = [0.0, 0.0, 0.0]  # start, end (0: open), the worker thread's read done
        worst_rt = worst_read = 0.0
        during_read: list[float] = []
        stop = False
        risk: Any = process.risk
        after_read = {
            name: getattr(risk, name)
            for name in ("stage_status", "prepare_switch", "finish_reload")
            if hasattr(risk, name)
        }

        def read_done(name: str) -> Any:
            def called(pending: Any, *args: Any) -> Any:
                window[2] = window[2] or time.monotonic()  # the first call after the worker thread's read
                return after_read[name](pending, *args)

            return called

        async def pingpong(client: GatewayClient) -> None:
            nonlocal worst_rt, worst_read
            while not stop:
                started = time.monotonic()
                order = await client.submit("ACC1", "OUCH", "AAPL", Side.BUY, 1, "229.00")
                await order.wait_accepted(timeout=30)
                ended = time.monotonic()
                if window[0] and ended >= window[0] and (not window[1] or started <= window[1]):
                    if window[2] and ended > window[2]:
                        worst_rt = max(worst_rt, ended - max(started, window[2]))
                    else:
                        worst_read = max(worst_read, ended - started)
                        during_read.append(ended - started)

        collections: list[tuple[int, float, str]] = []
        gc_started = [0.0]

        def on_gc(phase: str, info: dict[str, Any]) -> None:
            if phase == "start":
                gc_started[0] = time.perf_counter()
            elif window[0] and not window[1]:
                thread = "loop" if threading.current_thread() is threading.main_thread() else "worker"
                collections.append((info["generation"], time.perf_counter() - gc_started[0], thread))

        gc.callbacks.append(on_gc)
        edit = 0
        with _Callbacks(threshold_ms / 1000) as traced:
            async with GatewayClient(config.path(config.strategy_socket), "S1") as client:
                task = asyncio.create_task(pingpong(client))
                await asyncio.sleep(0.5)
                for _ in range(rounds):
                    for way, slices in ways:
                        edit += 1
                        if slices is not None:
                            process.status_slices = slices
                        if way == BEFORE:
                            process.risk_reader = None
                            process._switch_risk = switch_on_the_loop  # type: ignore[method-assign]
                        elif way == AFTER:
                            process.risk_reader = reader
                            process._switch_risk = switch  # type: ignore[method-assign,assignment]
                        text = limits.read_text().replace("max_qty: 100\n", f"max_qty: {100 + edit}\n", 1)
                        _replace(limits, text)
                        await asyncio.sleep(0.3)
                        gc.collect()
                        worst_rt = worst_read = 0.0
                        during_read.clear()
                        traced.spans.clear()
                        traced.count = 0
                        window[:] = [time.monotonic(), 0.0, 0.0]
                        traced.on = True
                        process.risk = _Timed(risk, *((name, read_done(name)) for name in after_read))
                        result = await process.reload_risk_soon("bench", "bench_risk_reload")
                        process.risk = risk
                        assert result.ok, result
                        while process.releaser.pending or getattr(process, "status_pending", False):
                            await asyncio.sleep(0.001)
                        await asyncio.sleep(0.05)
                        traced.on = False
                        window[1] = time.monotonic()
                        await asyncio.sleep(0.05)  # the order in flight at the end
                        took = window[1] - window[0]
                        spans = sorted(traced.spans, reverse=True)
                        print(
                            f"{way}: reload window {took * 1000:.0f} ms (read {(window[2] - window[0]) * 1000:.0f}), "
                            f"{traced.count} callbacks, {len(spans)} over {threshold_ms} ms CPU; worst order round "
                            f"trip while the thread read {worst_read * 1000:.1f} ms, after {worst_rt * 1000:.1f} ms",
                            flush=True,
                        )
                        if during_read:
                            ranked = sorted(during_read)
                            print(
                                f"    round trips during the read: {len(ranked)}, median "
                                f"{ranked[len(ranked) // 2] * 1000:.2f} ms, p99 "
                                f"{ranked[min(len(ranked) - 1, len(ranked) * 99 // 100)] * 1000:.1f} ms, over 10 ms "
                                f"{sum(r > 0.010 for r in ranked)}, over 50 ms {sum(r > 0.050 for r in ranked)}",
                                flush=True,
                            )
                        full = [(took, thread) for generation, took, thread in collections if generation == 2]
                        if full:
                            print(
                                f"    full collections: {len(full)}, wall ms (thread): "
                                + ", ".join(f"{took * 1000:.0f} ({thread})" for took, thread in full),
                                flush=True,
                            )
                        collections.clear()
                        by_name: dict[str, list[tuple[float, float]]] = {}
                        for cpu, wall, name in spans:
                            by_name.setdefault(name, []).append((cpu, wall))
                        for name, rows in sorted(by_name.items(), key=lambda item: -max(item[1])[0]):
                            print(
                                f"    {len(rows):4d} x, CPU max {max(rows)[0] * 1000:6.2f} ms, median "
                                f"{statistics.median(r[0] for r in rows) * 1000:6.2f} (wall max "
                                f"{max(r[1] for r in rows) * 1000:7.2f})  {name}",
                                flush=True,
                            )
                        window[:] = [0.0, 0.0, 0.0]
                stop = True
                await asyncio.gather(task, return_exceptions=True)
        gc.callbacks.remove(on_gc)


class _Timed:
    """The risk engine with ``finish_reload`` timed (the gateway's reload calls it on the loop)."""

    def __init__(self, risk: Any, *methods: tuple[str, Any]) -> None:
        self._risk = risk
        for name, method in methods:
            setattr(self, name, method)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._risk, name)


def main() -> None:
    """Parse the arguments and run the alternating reloads."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", type=int, default=20_000, help="extra symbol overrides in the limits file")
    parser.add_argument("--rounds", type=int, default=2, help="pairs of reloads (on the loop, then off it)")
    parser.add_argument("--accounts", type=int, default=0, help="extra accounts no strategy of the gateway trades")
    parser.add_argument("--off-loop-only", action="store_true", help="only the reloads in a worker thread")
    parser.add_argument("--pingpong", action="store_true", help="a running gateway: old limits freed at once/sliced")
    parser.add_argument("--units", type=int, default=SLICE_UNITS, help="--pingpong: the releaser's step")
    parser.add_argument("--callbacks", action="store_true", help="a running gateway: each loop callback of a reload")
    parser.add_argument("--threshold-ms", type=float, default=0.5, help="--callbacks: list callbacks over this CPU")
    parser.add_argument("--status-units", help="--callbacks: status_slices per round, e.g. 0,2000,1000 (0: one go)")
    parser.add_argument("--all-gc", action="store_true", help="--callbacks: Python's automatic full collections on")
    parser.add_argument("--switch-interval", type=float, default=0.0, help="sys.setswitchinterval (s) if set")
    args = parser.parse_args()
    if args.switch_interval:
        sys.setswitchinterval(args.switch_interval)
    if args.callbacks:
        units = [int(n) for n in args.status_units.split(",")] if args.status_units else None
        asyncio.run(_callbacks(args.accounts, args.rounds, args.threshold_ms, not args.all_gc, units))
        return
    if args.pingpong:
        asyncio.run(_pingpong(args.accounts, args.rounds, args.units))
        return
    asyncio.run(_run(args.symbols, args.rounds, args.accounts, args.off_loop_only))


if __name__ == "__main__":
    main()

"""The loop time of a re-login whose replay gap puts many OUCH Replaces in doubt: doubts-file writes (ouch55).

Each request answered in doubt is kept in ``<state_dir>/<name>.ouch-doubts.json`` (written atomically and fsynced,
on the event loop, before its answer reaches the core). Before ouch55 a replay gap that put N Replaces in doubt
wrote the file N times, each write naming every entry so far (rev54diff: ~8 ms a write up to 1,000 entries, 14-56
ms at 4,000). Now the login writes it once for the batch. This builds a real engine and journal over the OUCH
simulator (fake clock, sans-IO), enters ``--orders`` orders, sends a Replace of each, lets the venue apply them and
lose its answers (a replay gap), and times the adapter's handling of the login (``_resolve_unanswered``: every
Replace answered ``CancelRejected`` ``OUCH_IN_DOUBT``), for:

- ``per-replace``: the file written once per Replace (main's behaviour before ouch55, the batch note disabled);
- ``batched``: one write for the batch (now).

Prints per scenario: Replaces in doubt, writes, ms of the login's handling. Timing on a shared machine is
indicative only: compare the scenarios in the same run.

Pure Python only (the scenarios patch the adapter's methods, which a compiled build calls natively); run:
``GATEWAY_PURE_PYTHON=1 .venv/bin/python -m benchmarks.bench_doubts_writes [--orders 1000,4000]``
(``--per-replace-max 1000``: the old mode's writes grow quadratically, it runs up to this many orders only).
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path
from typing import Any

import venues.ouch.adapter as adapter_module
from gateway.protocol.messages import CancelRejected, NewOrder, Replace
from model.enums import Side
from simulators.ouch.exchange import ExchangeConfig
from tests.harness import engine_over
from tests.ouch.harness import PX, Link
from venues.ouch.doubts import save_doubts

RESTING = PX - 100


def _run(orders: int, batched: bool) -> tuple[int, int, float]:
    """Return (Replaces answered in doubt, doubts-file writes, ms of the login's handling)."""
    writes = [0]
    spent = [0.0]
    names = vars(adapter_module)  # the adapter's own binding of ``save_doubts`` (imported by name)
    original_save = names["save_doubts"]
    original_note = adapter_module.OuchVenue._pre_note_replace_doubt
    original_resolve = adapter_module.OuchVenue._resolve_unanswered

    def counting(*args: Any, **kwargs: Any) -> None:
        writes[0] += 1
        save_doubts(*args, **kwargs)

    def timed(self: adapter_module.OuchVenue, next_user_ref_num: int | None) -> None:
        start = time.perf_counter()
        original_resolve(self, next_user_ref_num)
        spent[0] += time.perf_counter() - start

    names["save_doubts"] = counting
    adapter_module.OuchVenue._resolve_unanswered = timed  # type: ignore[method-assign]
    if not batched:
        adapter_module.OuchVenue._pre_note_replace_doubt = lambda self, chain, urn: 0  # type: ignore[method-assign]
    try:
        with tempfile.TemporaryDirectory(prefix="bench-doubts-") as tmp:
            root = Path(tmp)
            link = Link(root / "ouch", exchange=ExchangeConfig(reference_prices={"AAPL": PX}))
            engine, rig = engine_over(link.venue, link.clock, root / "j1", max_qty=2_000_000)
            link.connect()
            strat = rig.connect("S1")
            for n in range(orders):
                rig.send(strat, NewOrder(f"o{n}", "ACC1", "nasdaq", "AAPL", Side.BUY, 100, RESTING))
                if n % 200 == 199:
                    engine.flush()
                    link.pump()
            engine.flush()
            link.pump()
            engine.flush()
            strat.received()
            for n in range(orders):
                rig.send(strat, Replace(f"o{n}", 200, RESTING - 100))
            engine.flush()
            link.venue.flush()
            assert link.connection is not None
            link.core.receive(link.connection, bytes(link._to_server), link.clock())  # the venue applies them
            link._to_server.clear()
            link.disconnect()
            link.core.stream.replayable_from = link.core.stream.next_sequence  # ... and loses its answers
            writes[0] = 0
            link.connect()
            for _ in range(30):
                engine.flush()
                link.pump()
                if link.venue.state.value == "UP":
                    break
                link.clock.advance_ms(100)
                link.poll()
            engine.flush()
            doubted = sum(1 for m in strat.received() if isinstance(m, CancelRejected) and m.code == "OUCH_IN_DOUBT")
            engine.journal.close()
    finally:
        names["save_doubts"] = original_save
        adapter_module.OuchVenue._pre_note_replace_doubt = original_note  # type: ignore[method-assign]
        adapter_module.OuchVenue._resolve_unanswered = original_resolve  # type: ignore[method-assign]
    return doubted, writes[0], spent[0] * 1000


def main() -> None:
    """Run the scenarios and print a line each."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", default="1000,4000", help="comma-separated order counts (default 1000,4000)")
    parser.add_argument(
        "--per-replace-max",
        type=int,
        default=1000,
        help="run per-replace only up to this many orders (its writes grow quadratically; default 1000)",
    )
    args = parser.parse_args()
    if not str(adapter_module.__file__).endswith(".py"):
        raise SystemExit("the OUCH adapter is compiled: run with GATEWAY_PURE_PYTHON=1 (the scenarios patch it)")
    logging.disable(logging.ERROR)  # the per-request ERROR lines are not what is measured
    for orders in (int(n) for n in args.orders.split(",")):
        for batched in (False, True):
            if not batched and orders > args.per_replace_max:
                continue
            doubted, writes, ms = _run(orders, batched)
            name = "batched" if batched else "per-replace"
            print(
                f"{name:12s} orders {orders:6d}  replaces in doubt {doubted:6d}  writes {writes:6d}  login {ms:9.1f} ms"
            )


if __name__ == "__main__":
    main()

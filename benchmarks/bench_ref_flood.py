"""The loop time of a venue naming UserRefNums the OUCH adapter no longer maps, many of them (ouchflood42).

Each such message (an Executed of a number never sent, of another gateway's, or the same one again and again)
made the engine search the journal on the event loop (``Engine._order_of_ref``: a binary search over the replay
index, then a scan). This builds a real engine over a real journal file holding ``--orders`` orders (default
100,000; order ``n`` sent under UserRefNum ``2n``, so the odd numbers below the store's high-water mark were never
sent) and a real ``OuchVenue``, then feeds ``--messages`` Executed messages (default 2,000) straight to the
adapter (``on_sequenced``, sans-IO), timing each call, for:

- ``distinct-unbounded``: distinct never-sent numbers below the mark, the budget off and no answers kept (main's
  behaviour before ouchflood42: one search each);
- ``distinct``: the same with the defaults and the real clock (per 100 ms window at most 10 searches and 10 ms
  of searching, the rest wait for later windows): the time of the calls, then what the ``poll`` of each later
  window costs (for ``--drain`` seconds at most);
- ``repeated``: 20 never-sent numbers named again and again, the budget off (each searched once, then a dict hit);
- ``above``: numbers above the store's high-water mark (no search at all).

Prints per scenario: calls, total ms, us per message (mean, p99, max) and the engine's searches. Timing on a
shared machine is indicative only: compare the scenarios in the same run.

Run: ``.venv/bin/python -m benchmarks.bench_ref_flood [--orders 100000] [--messages 2000]``
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path

from tests.ouch.harness import PX, TS
from tests.ouch.test_unknown_ref_flood import Day
from venues.ouch.adapter import (
    REF_ANSWERS_KEPT,
    REF_LOOKUP_NS_PER_WINDOW,
    REF_LOOKUP_WINDOW_NS,
    REF_LOOKUPS_PER_WINDOW,
)
from venues.ouch.codec import encode_message
from venues.ouch.messages import OrderExecuted


def _feed(day: Day, numbers: list[int]) -> list[int]:
    """Feed an Executed for each number (sequenced); return each call's wall time in ns."""
    times = []
    venue = day.venue
    for n, urn in enumerate(numbers):
        day.seq += 1
        message = memoryview(encode_message(OrderExecuted(TS, urn, 10, PX, "A", n + 1)))
        start = time.perf_counter_ns()
        venue.on_sequenced(day.seq, message)
        times.append(time.perf_counter_ns() - start)
    return times


def _line(name: str, times: list[int], searches: int) -> str:
    ordered = sorted(times)
    total = sum(times)
    p99 = ordered[min(len(ordered) - 1, len(ordered) * 99 // 100)]
    return (
        f"{name:22} calls {len(times):6}  total {total / 1e6:9.1f} ms  per message mean {total / len(times) / 1e3:8.1f}"
        f" us  p99 {p99 / 1e3:8.1f} us  max {ordered[-1] / 1e3:8.1f} us  searches {searches}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--messages", type=int, default=2_000)
    parser.add_argument("--drain", type=float, default=10.0, help="seconds of polls at most for `distinct`")
    args = parser.parse_args()
    logging.disable(logging.CRITICAL)
    with tempfile.TemporaryDirectory() as tmp:
        built = time.perf_counter()
        day = Day(Path(tmp), args.orders, clock=time.monotonic_ns)
        size = day.journal.tell() / 1e6
        print(f"journal: {args.orders} orders, {size:.1f} MB, built in {time.perf_counter() - built:.1f} s")
        venue, engine = day.venue, day.engine
        try:
            step = max(1, args.orders // args.messages)
            distinct = [2 * (1 + (i * step) % args.orders) + 1 for i in range(args.messages)]

            venue.ref_lookups_per_window, venue.ref_lookup_ns_per_window, venue.ref_answers_kept = 1 << 60, 1 << 60, 0
            before = engine.ref_lookups
            times = _feed(day, distinct)
            print(_line("distinct-unbounded", times, engine.ref_lookups - before))
            venue.ref_lookups_per_window, venue.ref_answers_kept = REF_LOOKUPS_PER_WINDOW, REF_ANSWERS_KEPT
            venue.ref_lookup_ns_per_window = REF_LOOKUP_NS_PER_WINDOW

            time.sleep(REF_LOOKUP_WINDOW_NS / 1e9)
            before = engine.ref_lookups
            fresh = [2 * (1 + (i * step + 1) % args.orders) + 1 for i in range(args.messages)]
            times = _feed(day, fresh)
            print(_line("distinct (flood)", times, engine.ref_lookups - before))
            polls = []
            before = engine.ref_lookups
            drain_start = time.monotonic()
            while venue.status()["held_now"] and time.monotonic() - drain_start < args.drain:
                time.sleep(REF_LOOKUP_WINDOW_NS / 1e9)
                start = time.perf_counter_ns()
                venue.poll(time.monotonic_ns())
                polls.append(time.perf_counter_ns() - start)
            drained = engine.ref_lookups - before
            print(_line("distinct (each poll)", polls, drained))
            elapsed = time.monotonic() - drain_start
            print(
                f"{'':22} drained {drained} in {elapsed:.1f} s ({drained / elapsed:.0f} searches/s), still held "
                f"{venue.status()['held_now']}"
            )
            venue._held.clear()  # the bench stops here: what is left would be read in later windows

            venue.ref_lookups_per_window = venue.ref_lookup_ns_per_window = 1 << 60  # every number searched once
            before = engine.ref_lookups
            repeated = [2 * (1 + (i % 20) * step) + 1 + 4 for i in range(args.messages)]
            time.sleep(REF_LOOKUP_WINDOW_NS / 1e9)
            times = _feed(day, repeated)
            print(_line("repeated (20 numbers)", times, engine.ref_lookups - before))
            venue.ref_lookups_per_window = REF_LOOKUPS_PER_WINDOW
            venue.ref_lookup_ns_per_window = REF_LOOKUP_NS_PER_WINDOW

            before = engine.ref_lookups
            high = day.store.last_issued
            times = _feed(day, [high + 1 + i for i in range(args.messages)])
            print(_line("above the mark", times, engine.ref_lookups - before))
            print(f"adapter counters: { {k: v for k, v in venue.counters.items() if v} }")
        finally:
            day.close()


if __name__ == "__main__":
    main()

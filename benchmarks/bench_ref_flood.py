"""The loop time of a venue naming UserRefNums the OUCH adapter no longer maps, many of them (ouchflood42).

Each such message (an Executed of a number never sent, of another gateway's, or the same one again and again)
made the engine search the journal on the event loop (``Engine._order_of_ref``: a binary search over the replay
index, then a scan). This builds a real engine over a real journal file holding ``--orders`` orders (default
100,000; order ``n`` sent under UserRefNum ``2n``, so the odd numbers below the store's high-water mark were never
sent) and a real ``OuchVenue``, then feeds ``--messages`` Executed messages (default 2,000) straight to the
adapter (``on_sequenced``, sans-IO), timing each call, for:

- ``distinct-unbounded``: distinct never-sent numbers below the mark, the budget off and no answers kept (main's
  behaviour before ouchflood42: one search each);
- ``distinct``: the same with the defaults (``ref_lookups_per_second`` searches, the rest wait for later seconds:
  the time of the first second's calls, then what the ``poll`` of each later second costs);
- ``repeated``: 20 never-sent numbers named again and again (each searched once, then a dict hit);
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
from venues.ouch.adapter import REF_ANSWERS_KEPT, REF_LOOKUPS_PER_SECOND
from venues.ouch.codec import encode_message
from venues.ouch.messages import OrderExecuted

SECOND = 1_000_000_000


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
    args = parser.parse_args()
    logging.disable(logging.CRITICAL)
    with tempfile.TemporaryDirectory() as tmp:
        built = time.perf_counter()
        day = Day(Path(tmp), args.orders)
        size = day.journal.tell() / 1e6
        print(f"journal: {args.orders} orders, {size:.1f} MB, built in {time.perf_counter() - built:.1f} s")
        venue, engine = day.venue, day.engine
        try:
            step = max(1, args.orders // args.messages)
            distinct = [2 * (1 + (i * step) % args.orders) + 1 for i in range(args.messages)]

            venue.ref_lookups_per_second, venue.ref_answers_kept = 1 << 60, 0
            before = engine.ref_lookups
            times = _feed(day, distinct)
            print(_line("distinct-unbounded", times, engine.ref_lookups - before))
            venue.ref_lookups_per_second, venue.ref_answers_kept = REF_LOOKUPS_PER_SECOND, REF_ANSWERS_KEPT

            day.clock.advance(SECOND)
            before = engine.ref_lookups
            fresh = [2 * (1 + (i * step + 1) % args.orders) + 1 for i in range(args.messages)]
            times = _feed(day, fresh)
            print(_line("distinct (1st second)", times, engine.ref_lookups - before))
            polls = []
            while venue.status()["held_now"]:
                day.clock.advance(SECOND)
                start = time.perf_counter_ns()
                venue.poll(day.clock.now)
                polls.append(time.perf_counter_ns() - start)
            print(_line("distinct (each poll)", polls, engine.ref_lookups - before))

            before = engine.ref_lookups
            repeated = [2 * (1 + (i % 20) * step) + 1 + 4 for i in range(args.messages)]
            day.clock.advance(SECOND)
            times = _feed(day, repeated)
            print(_line("repeated (20 numbers)", times, engine.ref_lookups - before))

            before = engine.ref_lookups
            high = day.store.last_issued
            times = _feed(day, [high + 1 + i for i in range(args.messages)])
            print(_line("above the mark", times, engine.ref_lookups - before))
            print(f"adapter counters: { {k: v for k, v in venue.counters.items() if v} }")
        finally:
            day.close()


if __name__ == "__main__":
    main()

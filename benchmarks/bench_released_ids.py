"""The released-id table's costs that are not per order: allocating it at start-up, and a growth past it.

* ``start-up``: ``ReleasedIds(capacity)`` (an anonymous mapping, one slot written per page so
  that filling it later faults nothing in), wall time and the RSS it adds, for each ``--capacity``.
* ``growth``: a table of ``--grow-slots`` slots at 70 % gets one more id. Before (``array("q",
  bytes(16 * n))``: a zeroed temporary of the new size, then its copy into the array, both in the
  ``add`` call that crosses 70 %) against now (a mapping whose pages the kernel supplies as they are
  first written, the old slots moved 32 per ``add``): the crossing call, then the worst and the total
  of the ``add`` calls until the old table is gone (every page of the new table is faulted in by then).

Run: ``.venv/bin/python -m benchmarks.bench_released_ids [--capacity 1048576 ...] [--grow-slots 8388608]``
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from array import array

from gateway.strategy_state import ReleasedIds, slots_for


def rss_bytes() -> int:
    """Return this process's resident set size."""
    with open("/proc/self/statm", "rb") as fh:
        return int(fh.read().split()[1]) * 4096


def startup(capacity: int) -> dict[str, float]:
    """Return the wall time and RSS of allocating the table for ``capacity`` ids."""
    gc.collect()
    before = rss_bytes()
    t0 = time.perf_counter()
    ids = ReleasedIds(capacity)
    seconds = time.perf_counter() - t0
    grown = rss_bytes() - before
    slots = ids.slots
    del ids
    return {"capacity": capacity, "slots": slots, "ms": seconds * 1e3, "rss_mib": grown / (1 << 20)}


def growth_before(slots: int) -> float:
    """Return the milliseconds of the previous growth's allocation: a zeroed temporary copied into an array."""
    t0 = time.perf_counter()
    table = array("q", bytes(16 * slots))
    seconds = time.perf_counter() - t0
    del table
    return seconds * 1e3


def growth_now(slots: int) -> dict[str, float]:
    """Fill a table of ``slots`` to 70 %, add one more id; return the crossing call and the migration's adds."""
    ids = ReleasedIds(int(0.7 * slots), warn=False)
    assert ids.slots == slots, (ids.slots, slots)
    key = 1
    while ids.count < ids.holds_without_growing():
        ids.add_key(key * 0x9E3779B97F4A7C15 & 0x7FFF_FFFF_FFFF_FFFF or 1)
        key += 1
    t0 = time.perf_counter()
    ids.add_key(key * 0x9E3779B97F4A7C15 & 0x7FFF_FFFF_FFFF_FFFF or 1)
    crossing = time.perf_counter() - t0
    assert ids.grown == 1
    spent: list[float] = []
    clock = time.perf_counter
    while ids._old is not None:
        key += 1
        t0 = clock()
        ids.add_key(key * 0x9E3779B97F4A7C15 & 0x7FFF_FFFF_FFFF_FFFF or 1)
        spent.append(clock() - t0)
    spent.sort()
    n = len(spent)
    return {
        "crossing_ms": crossing * 1e3,
        "adds": n + 1,
        "p50_us": spent[n // 2] * 1e6,
        "p999_us": spent[int(n * 0.999)] * 1e6,
        "worst_ms": spent[-1] * 1e3,
        "over_1ms": sum(1 for s in spent if s > 1e-3),
        "migration_ms": (crossing + sum(spent)) * 1e3,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--capacity", type=int, action="append", help="capacities to allocate (repeatable)")
    parser.add_argument("--grow-slots", type=int, default=1 << 23, help="slots of the table that grows (2**n)")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    capacities = args.capacity or [16_384, 1_048_576, 2_097_152, 8_388_608]
    print("start-up: ReleasedIds(capacity), allocated and touched")
    for capacity in capacities:
        runs = [startup(capacity) for _ in range(args.rounds)]
        ms = sorted(r["ms"] for r in runs)
        print(
            f"  capacity {capacity:>11,} -> {runs[0]['slots']:>11,} slots ({8 * int(runs[0]['slots']) >> 20} MiB): "
            f"{' / '.join(f'{m:.1f}' for m in ms)} ms, RSS +{runs[0]['rss_mib']:.1f} MiB"
        )
    slots = args.grow_slots
    assert slots == slots_for(int(0.7 * slots)), "--grow-slots: a power of two"
    print(f"growth of a table of {slots:,} slots ({8 * slots >> 20} MiB) to {2 * slots:,} ({16 * slots >> 20} MiB):")
    for r in range(args.rounds):
        before = growth_before(slots)
        now = growth_now(slots)
        print(
            f"  round {r + 1}: before, the crossing add's allocation alone {before:.1f} ms; now the crossing add "
            f"{now['crossing_ms']:.2f} ms; the {now['adds']:,.0f} adds of the migration: p50 {now['p50_us']:.1f} us, "
            f"p99.9 {now['p999_us']:.1f} us, worst {now['worst_ms']:.2f} ms ({now['over_1ms']:.0f} over 1 ms), "
            f"all of them {now['migration_ms']:.0f} ms"
        )
        gc.collect()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Log-linear histograms in the HdrHistogram bucket layout: integer-only indexing, percentiles elsewhere.

Layout (``SUB_BITS = 7``, ``RANGE_BITS = 36``): values 0..255 have one bucket each; above that,
every power-of-two range [2^k, 2^(k+1)) is split into 128 equal buckets, so no bucket is wider
than 1/128 (0.78 %) of the values it holds: HdrHistogram with two significant digits. Values
from 2^36 (68.7 s in nanoseconds) up are counted in the last bucket, negative ones in the first.
That is ``BUCKETS`` = 3,840 buckets; a histogram is 30 KiB of int64 counts.

::

    index(v) = v                                  for v < 256
             = (s << 7) + (v >> s)                 otherwise, s = v.bit_length() - 8

The recording side is one index computation (``bucket_index``, or a lookup in ``index_table``
for the values most stages take) and one increment (of a byte per bucket with a carry into a
dict, as ``gateway.latency`` does for the order path, or of a dict entry, ``SparseHistogram``);
there is no float, no allocation beyond Python's integers, no sorting. Percentiles, bucket bounds
and exposition are computed from a copy of the counts (``percentile``, ``summary``,
``cumulative``), in whatever process reads them: the gateway only copies.

A reported value is the *highest equivalent value* of its bucket (as HdrHistogram reports it):
never below the true value, at most 0.78 % (or, below 1,024, 7 units) above it.
"""

from __future__ import annotations

import functools
from array import array
from collections.abc import Iterable, Sequence
from typing import Final

SUB_BITS: Final = 7
"""log2 of the buckets per power of two (128: two significant digits)."""
RANGE_BITS: Final = 36
"""Values up to 2^36 - 1 have their own bucket; larger ones are counted in the last one."""
LINEAR: Final = 2 << SUB_BITS
"""Values below this (256) have one bucket each."""
BUCKETS: Final = ((RANGE_BITS - SUB_BITS - 1) << SUB_BITS) + LINEAR
MAX_VALUE: Final = (1 << RANGE_BITS) - 1

TABLE_SHIFT: Final = 3
"""``index_table()[v >> TABLE_SHIFT]`` is the bucket of ``v``, for ``v < TABLE_LIMIT``."""
TABLE_LIMIT: Final = 1 << 20
"""1,048,576 (ns: 1 ms): the table covers every stage of an order in a batch of a loaded gateway."""


def bucket_index(value: int) -> int:
    """Return the bucket that counts ``value`` (clamped to the first and last bucket)."""
    if value < LINEAR:
        return value if value > 0 else 0
    if value > MAX_VALUE:
        return BUCKETS - 1
    shift = value.bit_length() - SUB_BITS - 1
    return (shift << SUB_BITS) + (value >> shift)


def bucket_low(index: int) -> int:
    """Return the lowest value counted in bucket ``index``."""
    if index < LINEAR:
        return index
    shift = (index >> SUB_BITS) - 1
    return (index - (shift << SUB_BITS)) << shift


def bucket_high(index: int) -> int:
    """Return the highest value counted in bucket ``index`` (its "highest equivalent value")."""
    if index < LINEAR:
        return index
    shift = (index >> SUB_BITS) - 1
    return ((index - (shift << SUB_BITS)) << shift) + (1 << shift) - 1


@functools.cache
def index_table() -> list[int]:
    """Return the bucket of every value below ``TABLE_LIMIT``, indexed by ``value >> TABLE_SHIFT``.

    A list lookup costs less than the ``bit_length`` arithmetic in CPython. Entry ``i`` is the
    bucket of the *highest* value it stands for (``(i << 3) | 7``): from 1,024 up every bucket
    is a multiple of 8 wide, so that is exact; below, a value may be counted up to 7 higher.
    Built once per process (131,072 entries, one int object per distinct bucket; about 30 ms).
    """
    table: list[int] = []
    step = 1 << TABLE_SHIFT
    for value in range(step - 1, TABLE_LIMIT, step):
        index = bucket_index(value)
        table.append(table[-1] if table and table[-1] == index else index)
    return table


def new_counts(histograms: int = 1) -> array[int]:
    """Return zeroed int64 counts for ``histograms`` histograms side by side (dense; for tests and tools)."""
    return array("q", bytes(8 * BUCKETS * histograms))


class SparseHistogram:
    """Counts by bucket in a dict: for values recorded now and then (fsync times, admin requests).

    A snapshot is a copy of the dict: as many entries as buckets ever hit, never the 3,840.
    """

    __slots__ = ("counts",)

    def __init__(self) -> None:
        self.counts: dict[int, int] = {}

    def record(self, value: int) -> None:
        """Count one value."""
        index = bucket_index(value)
        self.counts[index] = self.counts.get(index, 0) + 1

    def snapshot(self) -> dict[int, int]:
        """Return a copy of the counts (bucket index -> count)."""
        return dict(self.counts)


def merge_dense(counts: dict[int, int], first: int, dense: bytes | memoryview) -> dict[int, int]:
    """Return ``counts`` plus ``dense`` (native uint64 counts of the buckets from ``first`` on), as a new dict."""
    merged = dict(counts)
    for offset, count in enumerate(memoryview(dense).cast("Q")):
        if count:
            merged[first + offset] = merged.get(first + offset, 0) + count
    return merged


def dense(sparse: dict[int, int]) -> list[int]:
    """Return the ``BUCKETS`` counts of a sparse histogram (bucket index -> count)."""
    counts = [0] * BUCKETS
    for index, count in sparse.items():
        if not 0 <= index < BUCKETS:
            raise ValueError(f"bucket {index} outside 0..{BUCKETS - 1}")
        counts[index] += count
    return counts


def split_counts(low: bytes | bytearray, carried: dict[int, int], histograms: int) -> list[list[int]]:
    """Rebuild ``histograms`` side-by-side histograms from one byte per bucket plus the carried counts."""
    if len(low) != BUCKETS * histograms:
        raise ValueError(f"expected {BUCKETS * histograms} low-order counts, got {len(low)}")
    merged = list(low)
    for index, count in carried.items():
        if not 0 <= index < len(merged):
            raise ValueError(f"bucket {index} outside 0..{len(merged) - 1}")
        merged[index] += count
    return [merged[k * BUCKETS : (k + 1) * BUCKETS] for k in range(histograms)]


def total(counts: Sequence[int]) -> int:
    """Return the number of values counted."""
    return sum(counts)


def percentile(counts: Sequence[int], pct: float, count: int | None = None) -> int:
    """Return the nearest-rank ``pct`` percentile (highest equivalent value; 0 for an empty histogram)."""
    n = total(counts) if count is None else count
    if n == 0:
        return 0
    rank = min(max(int(-(-pct * n // 100)), 1), n)
    seen = 0
    for index, c in enumerate(counts):
        if c:
            seen += c
            if seen >= rank:
                return bucket_high(index)
    return bucket_high(len(counts) - 1)


def maximum(counts: Sequence[int]) -> int:
    """Return the highest equivalent value of the highest non-empty bucket (0 if empty)."""
    for index in range(len(counts) - 1, -1, -1):
        if counts[index]:
            return bucket_high(index)
    return 0


def summary(counts: Sequence[int], percentiles: Iterable[float], scale: float = 1.0) -> dict[str, float]:
    """Return ``count``, ``p<pct>`` for every percentile and ``max``, values divided by ``scale``."""
    n = total(counts)
    out: dict[str, float] = {"count": float(n)}
    for pct in percentiles:
        out[f"p{pct:g}"] = percentile(counts, pct, n) / scale
    out["max"] = maximum(counts) / scale
    return out


def estimated_sum(counts: Sequence[int]) -> int:
    """Return the sum of the counted values, each taken at its bucket's midpoint (within 0.4 %)."""
    return sum(c * ((bucket_low(i) + bucket_high(i)) // 2) for i, c in enumerate(counts) if c)


def cumulative(counts: Sequence[int], bounds: Sequence[int]) -> list[int]:
    """Return, for each upper bound (ascending), how many values are counted in buckets wholly at or below it.

    A bucket that straddles a bound counts towards the next bound: like the percentiles, this never
    reports a value as faster than it was (Prometheus ``le`` buckets, to within a bucket's width).
    """
    out: list[int] = []
    running = 0
    index = 0
    size = len(counts)
    for bound in bounds:
        while index < size and bucket_high(index) <= bound:
            running += counts[index]
            index += 1
        out.append(running)
    return out

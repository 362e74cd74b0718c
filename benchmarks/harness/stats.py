"""Latency statistics for the benchmark: percentiles, coordinated-omission correction, HdrHistogram output.

All inputs are integer nanoseconds from CLOCK_MONOTONIC (comparable across processes on one host);
summaries are in microseconds. Percentiles are exact nearest-rank over the raw samples (no
bucketing); the HdrHistogram (3 significant digits) is kept for the standard ``.hgrm`` percentile
files and plots.

Coordinated omission: an open-loop load generator has an intended send time for every order
(``start + i / rate``). When the system under test stalls, the generator is held up too and sends
late; measuring from the actual send time then hides the stall from every order that should have
been sent during it. ``corrected_latencies`` measures from the intended time instead (as wrk2
does), so a stall shows up in every order it delayed.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Final

import msgspec

if TYPE_CHECKING:
    from hdrh.histogram import HdrHistogram

PERCENTILES: Final = (50.0, 90.0, 99.0, 99.9, 99.99)
PERCENTILE_KEYS: Final = ("p50", "p90", "p99", "p99.9", "p99.99")
HIGHEST_TRACKABLE_NS: Final = 600 * 1_000_000_000
"""Largest latency the histogram holds (10 minutes); larger values are clamped to it."""
NOT_ANSWERED: Final = 0
"""Completion time of an action that never got an answer."""


class Summary(msgspec.Struct, frozen=True):
    """Count, exact percentiles and max of one latency series, in microseconds."""

    count: int
    p50: float
    p90: float
    p99: float
    p999: float
    p9999: float
    max: float
    mean: float

    def at(self, key: str) -> float:
        """Return the value for a percentile key ("p50", "p99.9", ...) or "max"."""
        return {
            "p50": self.p50,
            "p90": self.p90,
            "p99": self.p99,
            "p99.9": self.p999,
            "p99.99": self.p9999,
            "max": self.max,
        }[key]

    def as_dict(self) -> dict[str, float]:
        """Return the summary keyed like the tables ("p99.9", ...)."""
        out: dict[str, float] = {"count": float(self.count)}
        for key in (*PERCENTILE_KEYS, "max"):
            out[key] = self.at(key)
        out["mean"] = self.mean
        return out


EMPTY: Final = Summary(0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)


def percentile(ordered: Sequence[int], pct: float) -> int:
    """Return the nearest-rank ``pct`` percentile of an ascending sequence (0 for an empty one).

    Nearest rank: the smallest sample such that at least ``pct`` percent of all samples are at
    or below it, i.e. the sample at 1-based rank ``ceil(pct / 100 * n)``.
    """
    n = len(ordered)
    if n == 0:
        return 0
    rank = max(math.ceil(round(pct * n / 100, 9)), 1)
    return ordered[min(rank, n) - 1]


def summarize(values_ns: Iterable[int]) -> Summary:
    """Return count, exact percentiles, max and mean of ``values_ns`` in microseconds."""
    ordered = sorted(values_ns)
    if not ordered:
        return EMPTY
    p50, p90, p99, p999, p9999 = (percentile(ordered, pct) / 1000 for pct in PERCENTILES)
    return Summary(len(ordered), p50, p90, p99, p999, p9999, ordered[-1] / 1000, sum(ordered) / len(ordered) / 1000)


def latencies(start_ns: Sequence[int], done_ns: Sequence[int]) -> list[int]:
    """Return ``done - start`` for every answered action (``done`` of 0 means never answered)."""
    return [done - start for start, done in zip(start_ns, done_ns, strict=True) if done != NOT_ANSWERED]


def corrected_latencies(intended_ns: Sequence[int], done_ns: Sequence[int]) -> list[int]:
    """Return latencies measured from each action's intended send time (coordinated omission corrected)."""
    return latencies(intended_ns, done_ns)


def throughput(count: int, first_ns: int, last_ns: int) -> float:
    """Return ``count`` events over the span ``first_ns .. last_ns`` per second (0 for an empty span)."""
    span = last_ns - first_ns
    return count * 1e9 / span if span > 0 and count else 0.0


# ------------------------------------------------------------------------------------------------
# HdrHistogram (optional dependency: the ``bench`` extra)
# ------------------------------------------------------------------------------------------------


def histogram(values_ns: Iterable[int], *, expected_interval_ns: int = 0) -> HdrHistogram:
    """Return an HdrHistogram (1 ns .. 10 min, 3 significant digits) of ``values_ns``.

    With ``expected_interval_ns`` every value is recorded with HdrHistogram's own post-hoc
    coordinated-omission correction (``record_corrected_value``): a value longer than the interval
    also records the values the omitted samples would have had. The harness corrects at the
    source instead (``corrected_latencies``); this is the cross-check.
    """
    from hdrh.histogram import HdrHistogram  # noqa: PLC0415 - bench-only dependency

    hist = HdrHistogram(1, HIGHEST_TRACKABLE_NS, 3)
    record = hist.record_corrected_value if expected_interval_ns > 0 else None
    for value in values_ns:
        clamped = min(max(value, 1), HIGHEST_TRACKABLE_NS)
        if record is not None:
            record(clamped, expected_interval_ns)
        else:
            hist.record_value(clamped)
    return hist


def histogram_percentile_us(hist: HdrHistogram, pct: float) -> float:
    """Return the histogram's value at ``pct`` in microseconds."""
    return float(hist.get_value_at_percentile(pct)) / 1000


def write_hgrm(hist: HdrHistogram, path: str | Path) -> Path:
    """Write the standard HdrHistogram percentile distribution (values in microseconds) to ``path``."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("wb") as handle:
        hist.output_percentile_distribution(handle, 1000)
    return target


# ------------------------------------------------------------------------------------------------
# Comparisons
# ------------------------------------------------------------------------------------------------


class Comparison(msgspec.Struct, frozen=True):
    """One path against a baseline at one percentile: the difference and the ratio."""

    key: str
    baseline_us: float
    value_us: float
    added_us: float
    ratio: float


def compare(baseline: Summary, other: Summary) -> list[Comparison]:
    """Return ``other`` minus ``baseline`` and ``other / baseline`` per percentile and max (ratio 0: no baseline)."""
    out = []
    for key in (*PERCENTILE_KEYS, "max"):
        base = baseline.at(key)
        value = other.at(key)
        out.append(Comparison(key, base, value, value - base, value / base if base > 0 else 0.0))
    return out

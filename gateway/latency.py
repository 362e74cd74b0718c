"""Per-stage latency recording: cheap appends on the hot path, percentiles off it.

Each stage keeps a fixed-size ring of int64 nanosecond deltas (``array('q')``);
recording is one index store. ``snapshot`` copies and sorts a ring when asked
(status, demo summary, benchmark), never on the hot path.
"""

from __future__ import annotations

from array import array
from typing import Final

STAGES: Final = (
    "ingress_to_risk",
    "risk_to_wire",
    "ingress_to_wire",
    "venue_to_strategy",
    "decode",
    "order_checks",
    "risk",
    "encode",
    "encode_to_wire",
    "journal_write",
    "venue_write",
    "strategy_write",
)
"""Per order (strategy -> venue), from the gateway's own monotonic timestamps:

* ``decode``: strategy bytes read -> the read's frames decoded (the whole read);
* ``order_checks``: decoded -> risk starts (order created and journaled, entitlement, venue checks);
* ``risk``: the risk chain (``check_and_commit_new``);
* ``encode``: the venue adapter's ``send_new`` (venue encoding into its buffer);
* ``encode_to_wire``: encoded -> the venue socket write returned (the rest of the read's orders,
  the journal write, the socket write);
* ``ingress_to_risk`` / ``risk_to_wire`` / ``ingress_to_wire``: the same path in three parts.

Per venue event (venue -> strategy): ``venue_to_strategy``: the adapter hands the decoded event
to the engine -> the strategy socket write returned (journal, order state, event encoding, write).

Per batch (one ``flush``): ``journal_write`` (the journal's ``os.write``), ``venue_write``
(socket writes to venues), ``strategy_write`` (socket writes to strategies after venue events).
"""
PERCENTILES: Final = (50.0, 90.0, 99.0, 99.9, 99.99)


class StageRing:
    """A ring buffer of the most recent ``capacity`` samples of one stage."""

    __slots__ = ("capacity", "count", "samples")

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.samples = array("q", bytes(8 * capacity))
        self.count = 0

    def record(self, value_ns: int) -> None:
        """Store one sample, overwriting the oldest once full."""
        self.samples[self.count % self.capacity] = value_ns
        self.count += 1

    def record_n(self, value_ns: int, times: int) -> None:
        """Store the same sample ``times`` times (one per event of a batch)."""
        samples = self.samples
        capacity = self.capacity
        count = self.count
        for k in range(count, count + times):
            samples[k % capacity] = value_ns
        self.count = count + times

    def reset(self) -> None:
        """Forget every sample (the buffer is kept)."""
        self.count = 0

    def values(self, last: int | None = None) -> list[int]:
        """Return the retained samples (unordered), or only the most recent ``last`` of them."""
        n = min(self.count, self.capacity)
        if last is None or last >= n:
            return self.samples[:n].tolist()
        start = (self.count - last) % self.capacity
        if start + last <= self.capacity:
            return self.samples[start : start + last].tolist()
        return self.samples[start:].tolist() + self.samples[: start + last - self.capacity].tolist()


ORDER_MARKS: Final = ("t_in", "t_decoded", "t_checked", "t_risk", "t_encoded", "t_wire")
ORDER_STAGES: Final = {
    "ingress_to_risk": (0, 3),
    "risk_to_wire": (3, 5),
    "ingress_to_wire": (0, 5),
    "decode": (0, 1),
    "order_checks": (1, 2),
    "risk": (2, 3),
    "encode": (3, 4),
    "encode_to_wire": (4, 5),
}
"""Stage name -> (from mark, to mark) in an ``OrderRing`` row."""
_ROW: Final = len(ORDER_MARKS)


class OrderRing:
    """The timestamps of the most recent ``capacity`` orders sent to venues, one row of six per order.

    The hot path makes one call per order (``add``: five stores) and one per batch (``wire``:
    the write time of every order added since the previous call); stages are differences of
    marks, computed only when a snapshot is asked for.
    """

    __slots__ = ("_open", "capacity", "count", "rows")

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.rows = array("q", bytes(8 * _ROW * capacity))
        self.count = 0
        self._open = 0

    def add(self, t_in: int, t_decoded: int, t_checked: int, t_risk: int, t_encoded: int) -> None:
        """Store one order's marks up to its encoding (``wire`` adds the write time)."""
        rows = self.rows
        base = (self.count % self.capacity) * _ROW
        rows[base] = t_in
        rows[base + 1] = t_decoded
        rows[base + 2] = t_checked
        rows[base + 3] = t_risk
        rows[base + 4] = t_encoded
        self.count += 1

    def wire(self, t_wire: int) -> None:
        """Set the write time of every order added since the previous call."""
        rows = self.rows
        capacity = self.capacity
        for k in range(self._open, self.count):
            rows[(k % capacity) * _ROW + 5] = t_wire
        self._open = self.count

    def reset(self) -> None:
        """Forget every row."""
        self.count = 0
        self._open = 0

    def stage_values(self, start: int, stop: int, last: int | None = None) -> list[int]:
        """Return mark ``stop`` minus mark ``start`` for every retained order already written (or the last few)."""
        rows = self.rows
        n = min(self._open, self.capacity, last if last is not None else self.capacity)
        first = self._open - n
        capacity = self.capacity
        out = []
        for k in range(first, self._open):
            base = (k % capacity) * _ROW
            out.append(rows[base + stop] - rows[base + start])
        return out


def percentile_of_sorted(values: list[int], pct: float) -> int:
    """Return the nearest-rank percentile of an ascending list (0 for an empty list)."""
    if not values:
        return 0
    rank = max(int(-(-pct * len(values) // 100)), 1)
    return values[min(rank, len(values)) - 1]


def summarize(values: list[int]) -> dict[str, float]:
    """Return count, percentiles and max of ``values`` (ns) in microseconds."""
    ordered = sorted(values)
    out: dict[str, float] = {"count": float(len(ordered))}
    for pct in PERCENTILES:
        out[f"p{pct:g}"] = percentile_of_sorted(ordered, pct) / 1000
    out["max"] = (ordered[-1] / 1000) if ordered else 0.0
    return out


class StageLatencies:
    """One ring per gateway stage."""

    def __init__(self, capacity: int = 1 << 18) -> None:
        self.orders = OrderRing(capacity)
        """Per-order marks: every stage in ``ORDER_STAGES`` comes from here."""
        self.rings = {stage: StageRing(capacity) for stage in STAGES if stage not in ORDER_STAGES}
        self.venue_to_strategy = self.rings["venue_to_strategy"]
        self.journal_write = self.rings["journal_write"]
        self.venue_write = self.rings["venue_write"]
        self.strategy_write = self.rings["strategy_write"]

    def reset(self) -> None:
        """Forget every sample of every stage (e.g. after a benchmark's warm-up)."""
        self.orders.reset()
        for ring in self.rings.values():
            ring.reset()

    def snapshot(self, last: int | None = None) -> dict[str, dict[str, float]]:
        """Return percentile summaries (µs) for every stage, in ``STAGES`` order.

        ``last`` limits each stage to its most recent samples: summarising a full ring takes
        about half a second on the event loop, the default status window a few milliseconds.
        """
        out: dict[str, dict[str, float]] = {}
        for stage in STAGES:
            marks = ORDER_STAGES.get(stage)
            if marks is not None:
                out[stage] = summarize(self.orders.stage_values(*marks, last=last))
            else:
                out[stage] = summarize(self.rings[stage].values(last))
        return out

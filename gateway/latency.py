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
* ``risk``: the risk chain (``check_new``);
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

    def reset(self) -> None:
        """Forget every sample (the buffer is kept)."""
        self.count = 0

    def values(self) -> list[int]:
        """Return the retained samples (unordered)."""
        n = min(self.count, self.capacity)
        return self.samples[:n].tolist()


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
        self.rings = {stage: StageRing(capacity) for stage in STAGES}
        self.ingress_to_risk = self.rings["ingress_to_risk"]
        self.risk_to_wire = self.rings["risk_to_wire"]
        self.ingress_to_wire = self.rings["ingress_to_wire"]
        self.venue_to_strategy = self.rings["venue_to_strategy"]
        self.decode = self.rings["decode"]
        self.order_checks = self.rings["order_checks"]
        self.risk = self.rings["risk"]
        self.encode = self.rings["encode"]
        self.encode_to_wire = self.rings["encode_to_wire"]
        self.journal_write = self.rings["journal_write"]
        self.venue_write = self.rings["venue_write"]
        self.strategy_write = self.rings["strategy_write"]

    def reset(self) -> None:
        """Forget every sample of every stage (e.g. after a benchmark's warm-up)."""
        for ring in self.rings.values():
            ring.reset()

    def snapshot(self) -> dict[str, dict[str, float]]:
        """Return percentile summaries (µs) for every stage."""
        return {stage: summarize(ring.values()) for stage, ring in self.rings.items()}

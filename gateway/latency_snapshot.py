"""The copy of the stage histograms that status and metrics carry off the loop (a msgspec Struct).

Kept out of the compiled ``gateway.latency``: mypyc drops the class keywords of a ``msgspec.Struct`` subclass
(``frozen=True``, ``gc=False``, ...), so the Structs of a compiled module live in an interpreted sibling like this
one (see ``obs.native``). ``gateway.latency`` re-exports it.
"""

from __future__ import annotations

from typing import Final

import msgspec

from obs.histogram import RANGE_BITS, SUB_BITS, split_counts, summary

PERCENTILES: Final = (50.0, 90.0, 99.0, 99.9, 99.99)
"""The percentiles status and metrics show."""


class LatencySnapshot(msgspec.Struct, frozen=True):
    """A copy of every stage's counts: what status and metrics carry off the event loop."""

    stages: tuple[str, ...]
    sub_bits: int
    range_bits: int
    low: bytes
    """One byte per bucket, stage after stage in ``stages`` order."""
    carried: dict[int, int]
    """Bucket index (into ``low``) -> count to add to its byte."""

    def counts(self) -> dict[str, list[int]]:
        """Return every stage's bucket counts (checks that the layout is this code's)."""
        if (self.sub_bits, self.range_bits) != (SUB_BITS, RANGE_BITS):
            raise ValueError(
                f"histogram layout {self.sub_bits}/{self.range_bits} differs from this program's "
                f"{SUB_BITS}/{RANGE_BITS}: run the same version as the gateway"
            )
        per_stage = split_counts(self.low, self.carried, len(self.stages))
        return dict(zip(self.stages, per_stage, strict=True))

    def summaries(self) -> dict[str, dict[str, float]]:
        """Return count, percentiles and max per stage, in microseconds (the ``latency_us`` of status)."""
        return {stage: summary(counts, PERCENTILES, 1000.0) for stage, counts in self.counts().items()}

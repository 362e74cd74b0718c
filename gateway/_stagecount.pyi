"""The stage histograms' byte increments in one call (C, ``gateway/_stagecount.c``; built with the compiled modules)."""

def count(stages: tuple[object, ...], mid: bytearray, carried: dict[int, int], times: int, *buckets: object) -> None:
    """Add ``times`` to bucket ``buckets[k]`` of the k-th stage of ``stages`` (``(low, base, ...)``), carrying."""

def count_orders(
    stages: tuple[object, ...],
    mid: bytearray,
    carried: dict[int, int],
    t_wire: int,
    marks: list[int],
    t_in: int,
    t_decoded: int,
    t_checked: int,
    t_risk: int,
    t_encoded: int,
) -> None:
    """Count a batch of two orders or more written at ``t_wire`` in the eight order stages; empty ``marks``."""

def bucket(value: int) -> int:
    """Return ``obs.histogram.bucket_index(value)`` as ``count_orders`` finds it."""

SUB_BITS: int
RANGE_BITS: int
TABLE_LIMIT: int

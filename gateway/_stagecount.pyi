"""The stage histograms' byte increments in one call (C, ``gateway/_stagecount.c``; built with the compiled modules)."""

def count(stages: tuple[object, ...], mid: bytearray, carried: dict[int, int], times: int, *buckets: object) -> None:
    """Add ``times`` to bucket ``buckets[k]`` of the k-th stage of ``stages`` (``(low, base, ...)``), carrying."""

"""The OUCH adapter's send time on an order flush: the engine's journal mark when both read one clock (perf48)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

import benchmarks.bench_hotpath as bench


class Clock:
    """A clock that moves 1 us per read and keeps every value it returned."""

    def __init__(self) -> None:
        self.now = 1_000_000_000
        self.reads: list[int] = []

    def __call__(self) -> int:
        self.now += 1_000
        self.reads.append(self.now)
        return self.now


@pytest.fixture
def workdir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="perf48flush"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _one_order(rig: bench.Rig, clock: Clock, number: int) -> list[int]:
    """Send one order (not answered); return the engine clock's reads from its read to the end of its flush."""
    del clock.reads[:]
    rig.engine.link_data(rig.link, rig.frames(number, 1), clock())  # type: ignore[arg-type]
    return list(clock.reads)


def test_order_flush_when_the_adapter_reads_the_engine_clock_then_its_send_time_is_the_journal_mark(
    workdir: Path,
) -> None:
    clock = Clock()
    rig = bench.Rig(workdir, clock=clock)
    try:
        rig.ping_pong(0, 20, 1)
        sent = len(rig.wire)
        rig.engine.latency.reset()
        reads = _one_order(rig, clock, 1_000)
        assert len(rig.wire) == sent + 1  # the Enter went out in this flush
        order = rig.engine.orders[max(rig.engine.orders)]
        # the flush's reads, last: its start, the journal written, the venues written (the order's t_wire)
        assert order.t_wire == reads[-1]
        assert rig.venue._session._last_sent_ns == reads[-2]  # the journal mark, no read of the adapter's own
        summary = rig.engine.latency.snapshot().summaries()
        for stage in ("journal_write", "venue_write"):  # adjacent reads: no read of the adapter's between them
            assert summary[stage]["count"] == 1, stage
            assert 1.0 <= summary[stage]["p50"] <= 1.008, stage
    finally:
        rig.close()


def test_order_flush_when_the_adapter_has_another_clock_then_it_reads_its_own(workdir: Path) -> None:
    clock = Clock()
    rig = bench.Rig(workdir, clock=clock)
    try:
        rig.ping_pong(0, 20, 1)
        shared = _one_order(rig, clock, 1_000)
        venue_clock = Clock()
        venue_clock.now = 5_000_000_000
        rig.venue._clock = venue_clock
        own = _one_order(rig, clock, 1_001)
        assert len(own) == len(shared)  # the engine reads as many times either way
        assert venue_clock.reads and rig.venue._session._last_sent_ns == venue_clock.reads[-1]
    finally:
        rig.close()

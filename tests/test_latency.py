"""Per-stage latency rings: order marks, batch stages, windows after reset, and the engine's timestamps."""

from __future__ import annotations

from gateway.latency import STAGES, OrderRing, StageLatencies, StageRing
from tests.harness import Rig

US = 1_000


def test_order_ring_when_orders_written_then_stages_are_mark_differences() -> None:
    ring = OrderRing(8)
    ring.add(100, 150, 300, 700, 900)
    ring.add(200, 250, 400, 800, 950)
    assert ring.stage_values(0, 1) == []  # nothing written yet: not in any stage
    ring.wire(1_000)
    assert ring.stage_values(0, 5) == [900, 800]
    assert ring.stage_values(2, 3) == [400, 400]
    assert ring.stage_values(4, 5) == [100, 50]


def test_order_ring_when_full_then_keeps_the_most_recent_capacity_rows() -> None:
    ring = OrderRing(3)
    for k in range(5):
        ring.add(k * 10, k * 10, k * 10, k * 10 + k, k * 10 + k)
        ring.wire(k * 10 + 100)
    assert sorted(ring.stage_values(2, 3)) == [2, 3, 4]


def test_order_ring_when_reset_then_empty_and_counts_again() -> None:
    ring = OrderRing(4)
    ring.add(1, 2, 3, 4, 5)
    ring.wire(6)
    ring.reset()
    assert ring.stage_values(0, 5) == []
    ring.add(10, 11, 12, 13, 14)
    ring.wire(20)
    assert ring.stage_values(0, 5) == [10]


def test_stage_ring_when_record_n_then_one_sample_per_event() -> None:
    ring = StageRing(4)
    ring.record(7)
    ring.record_n(3, 5)
    assert ring.count == 6
    assert sorted(ring.values()) == [3, 3, 3, 3]


def test_snapshot_when_reset_then_every_stage_counts_from_zero_in_stage_order() -> None:
    latencies = StageLatencies(16)
    latencies.orders.add(0, 1_000, 2_000, 3_000, 4_000)
    latencies.orders.wire(9_000)
    latencies.journal_write.record(500)
    snapshot = latencies.snapshot()
    assert list(snapshot) == list(STAGES)
    assert snapshot["ingress_to_wire"]["p50"] == 9.0
    assert snapshot["journal_write"]["count"] == 1
    latencies.reset()
    assert all(stage["count"] == 0 for stage in latencies.snapshot().values())


def _stepping(rig: Rig, step_ns: int = US) -> None:
    """Make every engine clock read advance the rig's clock by ``step_ns``."""

    def clock() -> int:
        return rig.clock.advance(step_ns)

    rig.engine.clock = clock


def test_engine_when_order_sent_and_acked_then_each_stage_from_its_own_timestamps() -> None:
    rig = Rig()
    link = rig.connect("S1")
    link.received()
    rig.engine.latency.reset()
    _stepping(rig)
    rig.new_order(link, "A")
    rig.venue.accept(1, 1_000_000)
    rig.engine.flush()
    snapshot = rig.engine.latency.snapshot()
    # reads, in order: decoded, risk starts, risk done, encoded; flush: start, journal written, venues written
    expected = {
        "decode": 1.0,
        "order_checks": 1.0,
        "risk": 1.0,
        "encode": 1.0,
        "encode_to_wire": 3.0,
        "ingress_to_wire": 7.0,
        "ingress_to_risk": 3.0,
        "risk_to_wire": 4.0,
        "journal_write": 1.0,
        "venue_write": 1.0,
        "strategy_write": 1.0,
        "venue_to_strategy": 2.0,
    }
    for stage, value in expected.items():
        assert snapshot[stage]["count"] == 1, stage
        assert snapshot[stage]["p50"] == value, stage
    assert rig.order("S1", "A").t_wire - rig.order("S1", "A").t_in == 7 * US


def test_ring_values_when_last_n_asked_across_the_wrap_then_exactly_the_most_recent() -> None:
    from gateway.latency import StageRing

    ring = StageRing(8)
    for value in range(1, 12):  # 11 samples into 8 slots: 4..11 retained
        ring.record(value)
    assert sorted(ring.values()) == list(range(4, 12))
    assert sorted(ring.values(5)) == [7, 8, 9, 10, 11]
    assert sorted(ring.values(2)) == [10, 11]
    assert sorted(ring.values(100)) == list(range(4, 12))


def test_snapshot_when_window_given_then_only_recent_orders_summarised() -> None:
    from gateway.latency import StageLatencies

    lat = StageLatencies(capacity=64)
    for i in range(100):
        lat.orders.add(0, 0, 0, 0, 0)
        lat.orders.wire(1_000 * (i + 1))  # ingress_to_wire grows: 1 µs, 2 µs, ...
    recent = lat.snapshot(last=10)["ingress_to_wire"]
    assert recent["count"] == 10 and recent["p50"] >= 91 and recent["max"] == 100
    everything = lat.snapshot()["ingress_to_wire"]
    assert everything["count"] == 64

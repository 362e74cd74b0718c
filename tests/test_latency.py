"""Stage latency histograms: bucket layout, order marks, batch stages, carries, reset, the engine's timestamps."""

from __future__ import annotations

import importlib.util
import random
from typing import Any

import msgspec
import pytest

from gateway.latency import (
    COUNTER,
    STAGES,
    Counter,
    LatencySnapshot,
    NativeOrderStages,
    OrderStages,
    StageLatencies,
    orders_counter,
)
from gateway.protocol.messages import Cancel, NewOrder
from model.enums import Side
from obs import native
from obs.histogram import (
    BUCKETS,
    LINEAR,
    MAX_VALUE,
    TABLE_LIMIT,
    TABLE_SHIFT,
    bucket_high,
    bucket_index,
    bucket_low,
    cumulative,
    estimated_sum,
    index_table,
    maximum,
    new_counts,
    percentile,
)
from tests.harness import Rig

US = 1_000


# ---- the bucket layout (obs.histogram) -----------------------------------------------------------


def test_bucket_index_when_values_cross_powers_of_two_then_contiguous_and_within_resolution() -> None:
    previous = -1
    for value in sorted({*range(0, 5000), *(int(1.37**k) for k in range(20, 80)), MAX_VALUE}):
        index = bucket_index(value)
        assert bucket_low(index) <= value <= bucket_high(index)
        assert index >= previous
        previous = index
        width = bucket_high(index) - bucket_low(index) + 1
        assert width == 1 if value < LINEAR else width <= value / 128
    assert [bucket_index(v) for v in (0, 255, 256, 257, 511, 512)] == [0, 255, 256, 256, 383, 384]


def test_bucket_index_when_out_of_range_then_clamped_to_first_and_last_bucket() -> None:
    assert bucket_index(-5) == 0
    assert bucket_index(MAX_VALUE + 1) == bucket_index(10**15) == BUCKETS - 1


def test_bucket_bounds_when_walked_then_every_bucket_follows_the_previous() -> None:
    for index in range(1, BUCKETS):
        assert bucket_low(index) == bucket_high(index - 1) + 1
    assert bucket_high(BUCKETS - 1) == MAX_VALUE


def test_index_table_when_compared_with_the_arithmetic_then_bucket_of_the_highest_value_it_stands_for() -> None:
    table = index_table()
    assert len(table) == TABLE_LIMIT >> TABLE_SHIFT
    for i in [*range(0, 300), *random.Random(1).sample(range(len(table)), 3000)]:
        assert table[i] == bucket_index((i << TABLE_SHIFT) | 7)
    for value in random.Random(2).sample(range(1024, TABLE_LIMIT), 3000):  # exact from 1,024 up
        assert table[value >> TABLE_SHIFT] == bucket_index(value)


def test_percentile_when_compared_with_sorted_samples_then_never_below_and_within_resolution() -> None:
    rng = random.Random(3)
    values = [int(rng.lognormvariate(10, 1.2)) for _ in range(20_000)]
    counts = new_counts()
    for value in values:
        counts[bucket_index(value)] += 1
    ordered = sorted(values)
    for pct in (1, 50, 90, 99, 99.9, 99.99, 100):
        exact = ordered[max(int(-(-pct * len(ordered) // 100)), 1) - 1]
        assert exact <= percentile(counts, pct) <= exact * (1 + 1 / 128) + 1
    assert maximum(counts) == bucket_high(bucket_index(ordered[-1]))
    assert abs(estimated_sum(counts) - sum(values)) <= sum(values) / 256
    assert percentile(new_counts(), 99) == 0 and maximum(new_counts()) == 0


def test_cumulative_when_bounds_given_then_counts_buckets_wholly_at_or_below_each() -> None:
    counts = new_counts()
    for value in (5, 100, 1_000, 1_003, 50_000):
        counts[bucket_index(value)] += 1
    # 1,000 and 1,003 share the bucket [1000, 1003]: below a bound of 1,000 it does not fit wholly
    assert cumulative(counts, [10, 999, 1_000, 1_003, 10**6]) == [1, 2, 2, 4, 5]


# ---- StageLatencies -------------------------------------------------------------------------------


def _summary(latencies: StageLatencies) -> dict[str, dict[str, float]]:
    return latencies.snapshot().summaries()


def test_orders_when_written_then_each_stage_is_a_mark_difference_counted_once() -> None:
    latencies = StageLatencies()
    latencies.orders.add(0, 1_000, 3_000, 7_000, 9_000)
    assert all(s["count"] == 0 for s in _summary(latencies).values())  # nothing written yet: no stage
    latencies.orders.wire(20_000)
    summary = _summary(latencies)
    expected_ns = {
        "decode": 1_000,
        "order_checks": 2_000,
        "risk": 4_000,
        "encode": 2_000,
        "ingress_to_risk": 7_000,
        "risk_to_wire": 13_000,
        "ingress_to_wire": 20_000,
        "encode_to_wire": 11_000,
    }
    for stage, value in expected_ns.items():
        assert summary[stage]["count"] == 1, stage
        assert value <= summary[stage]["p50"] * 1000 <= value * 1.008, stage
    assert summary["journal_write"]["count"] == 0
    assert latencies.orders.orders == 1


def test_orders_when_one_read_batched_then_shared_stages_weighted_and_per_order_stages_each_counted() -> None:
    latencies = StageLatencies()
    for k in range(60):  # one read: every order shares t_in and t_decoded
        latencies.orders.add(0, 2_000, 3_000 + k * 10_000, 8_000 + k * 10_000, 9_000 + k * 10_000)
    latencies.orders.wire(700_000)
    summary = _summary(latencies)
    assert {summary[stage]["count"] for stage in summary if stage in {"decode", "ingress_to_wire", "risk"}} == {60}
    assert summary["decode"]["max"] == pytest.approx(2, rel=0.008)
    assert summary["ingress_to_wire"]["p50"] == pytest.approx(700, rel=0.008)
    assert summary["order_checks"]["max"] == pytest.approx(591, rel=0.008)  # the wait behind earlier orders


def test_orders_when_marks_of_several_reads_written_together_then_every_order_counted_in_every_stage() -> None:
    latencies = StageLatencies()
    latencies.orders.add(0, 1_000, 2_000, 3_000, 4_000)
    latencies.orders.add(50_000, 52_000, 53_000, 54_000, 55_000)
    latencies.orders.wire(60_000)
    summary = _summary(latencies)
    assert summary["decode"]["count"] == 2 and summary["decode"]["max"] == pytest.approx(2, rel=0.008)
    assert summary["ingress_to_wire"]["p50"] == pytest.approx(10, rel=0.008) and summary["ingress_to_wire"][
        "max"
    ] == pytest.approx(60, 0.008)


def test_orders_when_same_bucket_counted_past_255_then_carried_exactly() -> None:
    latencies = StageLatencies()
    for _ in range(1_000):
        latencies.orders.add(0, 1_000, 2_000, 3_000, 4_000)
        latencies.orders.wire(5_000)
    assert {s["count"] for name, s in _summary(latencies).items() if name in latencies.snapshot().stages[:3]} == {
        1_000.0
    }
    assert all(_summary(latencies)[stage]["count"] == 1_000 for stage in ("risk", "encode", "encode_to_wire"))


def test_orders_when_stage_over_the_table_or_marks_out_of_order_then_arithmetic_clamps() -> None:
    latencies = StageLatencies()
    latencies.orders.add(0, 10, 20, 30, 40)
    latencies.orders.wire(5_000_000_000)  # 5 s to the wire: beyond the table
    latencies.orders.add(100, 90, 200, 300, 400)  # decoded before read: impossible, but never an error
    latencies.orders.wire(500)
    summary = _summary(latencies)
    assert summary["risk_to_wire"]["max"] == pytest.approx(5_000_000, rel=0.008)
    assert summary["decode"]["count"] == 2 and summary["decode"]["p50"] == 0.0


def test_batch_stages_when_recorded_then_counted_with_their_weight() -> None:
    latencies = StageLatencies()
    latencies.journal_write.record(3_000)
    latencies.venue_to_strategy.record_n(40_000, 5)
    latencies.venue_to_strategy.record_n(40_000, 600)  # more than a byte holds at once: carried
    latencies.strategy_write.record(2 * TABLE_LIMIT)  # over the table: arithmetic index
    summary = _summary(latencies)
    assert summary["journal_write"] == pytest.approx(
        {"count": 1, "p50": 3.0, "p90": 3.0, "p99": 3.0, "p99.9": 3.0, "p99.99": 3.0, "max": 3.0}, rel=0.008
    )
    assert summary["venue_to_strategy"]["count"] == 605
    assert summary["strategy_write"]["max"] == pytest.approx(2 * TABLE_LIMIT / 1000, rel=0.008)


def test_batch_stages_when_counted_in_one_call_then_as_the_per_stage_records_count_them() -> None:
    one_by_one, at_once = StageLatencies(), StageLatencies()
    flushes = [(0, 3_000, 7_000), (10, 2 * TABLE_LIMIT, 2 * TABLE_LIMIT + 50), (5, 5, 5)] * 100  # carries past 255
    for t_flush, t_journal, t_wire in flushes:
        one_by_one.journal_write.record(t_journal - t_flush)
        one_by_one.venue_write.record(t_wire - t_journal)
        one_by_one.orders.wire(t_wire)
        at_once.orders.wire(t_wire, t_flush, t_journal)
    deliveries = [(100, 2_100, 50, 1), (0, 3 * TABLE_LIMIT, 0, 600), (7, 7, 9, 3)] * 100
    for t_write, t_done, t_event, events in deliveries:
        one_by_one.strategy_write.record(t_done - t_write)
        one_by_one.venue_to_strategy.record_n(t_done - t_event, events)
        at_once.delivered(t_write, t_done, t_event, events)
    assert at_once.snapshot() == one_by_one.snapshot()
    summary = _summary(at_once)
    assert summary["journal_write"]["count"] == summary["venue_write"]["count"] == 300
    assert summary["strategy_write"]["count"] == 300 and summary["venue_to_strategy"]["count"] == 60_400


def test_reset_when_called_then_every_stage_counts_from_zero_and_recording_goes_on() -> None:
    latencies = StageLatencies()
    for _ in range(300):
        latencies.orders.add(0, 1, 2, 3, 4)
        latencies.orders.wire(5)
    latencies.orders.add(0, 1, 2, 3, 4)  # added, not yet written: forgotten too
    latencies.journal_write.record(500)
    latencies.reset()
    assert all(stage["count"] == 0 for stage in _summary(latencies).values())
    latencies.orders.add(10, 11, 12, 13, 14)
    latencies.orders.wire(20)
    latencies.journal_write.record(500)
    summary = _summary(latencies)
    assert summary["ingress_to_wire"]["count"] == 1 and summary["journal_write"]["count"] == 1


def test_snapshot_when_orders_grow_then_same_size_every_time_and_stages_in_order() -> None:
    latencies = StageLatencies()
    empty = latencies.snapshot()
    for k in range(10_000):
        latencies.orders.add(k, k + 1_000, k + 2_000, k + 5_000, k + 6_000)
        latencies.orders.wire(k + 30_000)
    full = latencies.snapshot()
    assert list(full.stages) == list(STAGES)
    assert len(full.low) == len(empty.low) == BUCKETS * len(STAGES)
    # carried counts: one entry per bucket that reached 256, however many orders
    assert 0 < len(full.carried) <= 20 * len(STAGES)
    assert len(msgspec.msgpack.encode(full)) < len(msgspec.msgpack.encode(empty)) + 20 * len(STAGES) * 14


def test_view_when_summarised_then_same_as_the_copy_in_the_flat_layout() -> None:
    """``view`` joins the stages' arrays in ``STAGES`` order: the flat layout ``snapshot`` and the status reply use."""
    latencies = StageLatencies()
    latencies.journal_write.record(3_000)
    latencies.venue_to_strategy.record_n(40_000, 300)
    view = latencies.view()
    assert view.summaries() == latencies.snapshot().summaries()
    assert view.summaries()["venue_to_strategy"]["count"] == 300
    journal = STAGES.index("journal_write") * BUCKETS + bucket_index(3_000)
    assert view.low[journal] == 1 and sum(view.low) == 1 + 300 % 256
    latencies.journal_write.record(3_000)  # a copy: later counts are not in it
    assert view.low[journal] == 1


def test_snapshot_when_layout_differs_then_refused_with_the_reason() -> None:
    snapshot = StageLatencies().snapshot()
    other = msgspec.structs.replace(snapshot, sub_bits=snapshot.sub_bits + 1)
    with pytest.raises(ValueError, match="run the same version"):
        other.counts()
    assert isinstance(msgspec.msgpack.decode(msgspec.msgpack.encode(snapshot), type=LatencySnapshot), LatencySnapshot)


# ---- the engine's timestamps -----------------------------------------------------------------------


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
    summary = rig.engine.latency.snapshot().summaries()
    # reads, in order: decoded, risk starts, risk done, encoded; flush: journal written, venues written (the flush
    # starts at the last order's encoding mark: journal_write is its journal record and the batch's copy, no read)
    expected = {
        "decode": 1.0,
        "order_checks": 1.0,
        "risk": 1.0,
        "encode": 1.0,
        "encode_to_wire": 2.0,
        "ingress_to_wire": 6.0,
        "ingress_to_risk": 3.0,
        "risk_to_wire": 3.0,
        "journal_write": 1.0,
        "venue_write": 1.0,
        "strategy_write": 1.0,
        "venue_to_strategy": 2.0,
    }
    for stage, value in expected.items():
        assert summary[stage]["count"] == 1, stage
        assert value <= summary[stage]["p50"] <= value * 1.008, stage
    assert rig.order("S1", "A").t_wire - rig.order("S1", "A").t_in == 6 * US


def test_engine_when_a_request_follows_the_last_order_in_its_read_then_journal_write_starts_at_the_flush() -> None:
    rig = Rig()
    link = rig.connect("S1")
    link.received()
    rig.new_order(link, "B")
    rig.venue.accept(1, 1_000_000)
    rig.engine.flush()
    rig.engine.latency.reset()
    _stepping(rig)
    # one read: an order, then a Cancel of the earlier order (its work reads the clock): the Cancel is not
    # journal writing
    rig.send(link, NewOrder("A", "ACC1", "V1", "AAPL", Side.BUY, 100, 1_000_000), Cancel("B"))
    summary = rig.engine.latency.snapshot().summaries()
    assert summary["journal_write"]["count"] == 1
    assert 1.0 <= summary["journal_write"]["p50"] <= 1.008, summary["journal_write"]


def test_bucket_when_counted_past_65536_by_every_path_then_low_mid_and_carried_hold_it_exactly() -> None:
    latencies = StageLatencies()
    for _ in range(70_000):  # one at a time: the byte wraps 273 times, mid once
        latencies.journal_write.record(3_000)
    latencies.venue_to_strategy.record_n(40_000, 200_000)  # at once: 781 256s, mid wraps three times
    for _ in range(66_000):
        latencies.orders.add(0, 1_000, 2_000, 3_000, 4_000)
        latencies.orders.wire(5_000)
    latencies.delivered(0, 2_000, 0, 70_000)
    summary = _summary(latencies)
    assert summary["journal_write"]["count"] == 70_000
    assert summary["venue_to_strategy"]["count"] == 270_000
    assert summary["risk"]["count"] == summary["decode"]["count"] == 66_000
    assert summary["strategy_write"]["count"] == 1
    assert 0 < len(latencies.carried) <= len(STAGES)  # only the buckets past 65,536 have an entry
    assert all(count % 65_536 == 0 for count in latencies.carried.values())
    snapshot = latencies.snapshot()
    assert all(count % 256 == 0 for count in snapshot.carried.values())
    assert sum(snapshot.low) + sum(snapshot.carried.values()) == 70_000 + 270_000 + 66_000 * 8 + 1


def test_orders_when_one_order_decoded_long_after_its_read_then_decode_counted_past_the_table() -> None:
    latencies = StageLatencies()
    latencies.orders.add(0, 5_000_000, 5_001_000, 5_003_000, 5_004_000)  # read 5 ms before decoded: beyond the table
    latencies.orders.wire(5_010_000)
    summary = _summary(latencies)
    assert summary["decode"]["count"] == 1 and summary["decode"]["max"] == pytest.approx(5_000, rel=0.008)
    assert summary["ingress_to_wire"]["max"] == pytest.approx(5_010, rel=0.008)
    assert summary["risk"]["max"] == pytest.approx(2, rel=0.008)
    assert summary["encode_to_wire"]["max"] == pytest.approx(6, rel=0.008)
    assert latencies.orders.orders == 1


def test_orders_when_one_order_then_a_batch_then_one_order_then_every_order_counted_once() -> None:
    latencies = StageLatencies()
    latencies.orders.add(0, 1_000, 2_000, 3_000, 4_000)
    latencies.orders.wire(5_000)
    for k in range(3):
        latencies.orders.add(10_000, 11_000, 12_000 + k, 13_000 + k, 14_000 + k)
    latencies.orders.wire(20_000)
    latencies.orders.add(30_000, 31_000, 32_000, 33_000, 34_000)
    latencies.orders.wire(40_000)
    summary = _summary(latencies)
    assert all(summary[stage]["count"] == 5 for stage in ("decode", "ingress_to_wire", "risk", "encode"))
    assert summary["ingress_to_wire"]["max"] == pytest.approx(10, rel=0.008)
    assert latencies.orders.orders == 5


# ---- the C increments (gateway._stagecount, built with the compiled modules) -------------------------


def _c_module() -> Any:
    """Return ``gateway._stagecount``: imported with the compiled modules, loaded from the build under pure Python."""
    if COUNTER is not None:
        from gateway import _stagecount

        return _stagecount
    found = sorted((native.BUILD / "gateway").glob("_stagecount.*.so"))
    if not found or not native.MANIFEST.exists():
        pytest.skip("the C extension is not built (make venv builds it)")
    spec = importlib.util.spec_from_file_location("gateway._stagecount", found[0])
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _c_count() -> Counter:
    """Return the C ``count``."""
    count: Counter = _c_module().count
    return count


def _c_counters() -> tuple[Counter, Counter]:
    """Return the C ``count`` and ``count_orders`` (``StageLatencies``'s two counters)."""
    module = _c_module()
    return module.count, orders_counter(module)


def _table(value_ns: int) -> int:
    """Return the bucket the hot path's table gives ``value_ns`` (under 1 ms)."""
    return index_table()[value_ns >> TABLE_SHIFT]


def _same_counts(ours: StageLatencies, inline: StageLatencies) -> None:
    assert [bytes(low) for low in ours.lows] == [bytes(low) for low in inline.lows]
    assert bytes(ours.mid) == bytes(inline.mid)
    assert ours.carried == inline.carried
    assert ours.orders.orders == inline.orders.orders
    assert ours.snapshot() == inline.snapshot()


def _feed(latencies: StageLatencies, seed: int) -> None:
    """Drive every path of ``wire`` and ``delivered``: single orders, shared and separate reads, slow marks, weights."""
    rng = random.Random(seed)
    orders = latencies.orders
    now = 1_000_000
    for _ in range(3_000):
        now += rng.randrange(1, 50_000)
        kind = rng.random()
        batch = 1 if kind < 0.6 else rng.randrange(2, 70)
        shared = rng.random() < 0.7
        t_in = now
        for k in range(batch):
            if not shared and k:
                t_in = now + k * rng.randrange(0, 3_000)
            t_decoded = t_in + rng.choice((0, 8, 800, rng.randrange(0, 5_000), 2 * TABLE_LIMIT))
            t_checked = t_decoded + rng.choice((16, 24, rng.randrange(0, 9_000)))
            t_risk = t_checked + rng.choice((40, rng.randrange(0, 9_000), -5))  # now and then out of order
            t_encoded = t_risk + rng.choice((8, rng.randrange(0, 2_000)))
            orders.add(t_in, t_decoded, t_checked, t_risk, t_encoded)
        t_wire = now + batch * 10_000 + rng.choice((0, 3 * TABLE_LIMIT, rng.randrange(0, 20_000)))
        if rng.random() < 0.8:
            t_flush = t_wire - rng.choice((900, 5_000, 2 * TABLE_LIMIT))
            orders.wire(t_wire, t_flush, t_flush + rng.choice((-10, 300, rng.randrange(0, 4 * TABLE_LIMIT))))
        else:
            orders.wire(t_wire)
        if rng.random() < 0.5:
            t_done = t_wire + rng.choice((5_000, 2 * TABLE_LIMIT))
            latencies.delivered(t_wire, t_done, t_wire - rng.randrange(-100, 9_000), rng.choice((0, 1, 1, 7, 400)))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_c_counter_when_fed_any_marks_then_every_byte_and_carry_as_the_inline_increments(seed: int) -> None:
    ours, inline = StageLatencies(*_c_counters()), StageLatencies(None)
    assert type(ours.orders) is NativeOrderStages and type(inline.orders) is OrderStages
    _feed(ours, seed)
    _feed(inline, seed)
    assert bytes(inline.mid).count(0) < len(inline.mid)  # some low bytes wrapped into mid
    _same_counts(ours, inline)


def test_c_counter_when_one_bucket_passes_256_and_65536_then_mid_and_carried_as_the_inline_increments() -> None:
    ours, inline = StageLatencies(*_c_counters()), StageLatencies(None)
    for latencies in (ours, inline):
        for n in range(66_000):  # ping-pong: one order per batch, the same buckets every time
            latencies.orders.add(0, 1_000, 2_000, 3_000, 4_000)
            latencies.orders.wire(5_000, 4_500, 4_800)
            latencies.delivered(0, 2_000, 0, 1)
            if n in (255, 256, 65_535):  # the first wrap, one past it, the mid byte's wrap
                assert bytes(latencies.lows[STAGES.index("risk")]).count(0) == BUCKETS - (n == 256)
                assert latencies.mid[STAGES.index("risk") * BUCKETS + _table(1_000)] == ((n + 1) >> 8) & 255
        for _ in range(3):  # batches of 64 sharing one read: decode and ingress_to_wire with the batch's weight
            for k in range(64):
                latencies.orders.add(10_000, 11_000, 12_000 + k, 13_000 + k, 14_000 + k)
            latencies.orders.wire(20_000, 19_000, 19_500)
        latencies.delivered(0, 2_000, 0, 70_000)  # one write of 70,000 events: carried at once
    _same_counts(ours, inline)
    counts = ours.snapshot().counts()
    assert counts["risk"][_table(1_000)] == counts["decode"][_table(1_000)] == 66_000 + 192  # the batches too
    assert sum(counts["decode"]) == 66_000 + 192
    assert counts["journal_write"][_table(300)] == 66_000 and sum(counts["journal_write"]) == 66_003
    assert counts["venue_to_strategy"][_table(2_000)] == 136_000
    past = {
        STAGES.index(stage) * BUCKETS + bucket: (value >> 16) << 16
        for stage in STAGES
        for bucket, value in enumerate(counts[stage])
        if value >= 65_536
    }
    assert ours.carried == past and len(past) == len(STAGES)  # each stage's ping-pong bucket


def test_c_counter_when_given_wrong_arguments_then_refused_and_nothing_written() -> None:
    count = _c_count()
    low, mid = bytearray(4), bytearray(8)
    carried: dict[int, int] = {}
    with pytest.raises(IndexError):
        count((low, 4), mid, carried, 1, 4)
    with pytest.raises(IndexError):
        count((low, 4), mid, carried, 1, -1)
    with pytest.raises(TypeError):
        count([low, 4], mid, carried, 1, 0)
    with pytest.raises(TypeError):
        count((b"abcd", 4), mid, carried, 1, 0)
    with pytest.raises(ValueError, match="more buckets"):
        count((low, 4), mid, carried, 1, 0, 1)
    with pytest.raises(ValueError, match="negative"):
        count((low, 4), mid, carried, -1, 0)
    low[3] = 255
    with pytest.raises(IndexError):  # its carry would land past mid's end
        count((low, 5), mid, carried, 1, 3)
    assert low == bytearray(b"\0\0\0\xff") and mid == bytearray(8) and carried == {}
    count((low, 4), mid, carried, 1, 3)  # 255 + 1: carried into mid[4 + 3]
    assert low == bytearray(4) and mid[7] == 1 and carried == {}
    mid[7] = 255
    count((low, 4), mid, carried, 258, 3)  # 258 = 256 + 2: mid[7] wraps, 65,536 into carried[7]
    assert low[3] == 2 and mid[7] == 0 and carried == {7: 65_536}


def test_c_bucket_when_given_any_value_then_bucket_index_and_the_table_bucket_of_value_or_7() -> None:
    bucket = _c_module().bucket
    rng = random.Random(7)
    values = [*range(-3, 3_000), MAX_VALUE - 1, MAX_VALUE, MAX_VALUE + 1, 2**62, TABLE_LIMIT - 1, TABLE_LIMIT]
    values += [rng.randrange(0, 2 * TABLE_LIMIT) for _ in range(20_000)]
    values += [rng.randrange(0, 2**40) for _ in range(2_000)]
    table = index_table()
    for value in values:
        assert bucket(value) == bucket_index(value), value
        if 0 <= value < TABLE_LIMIT:  # what count_orders takes for the hot path's table
            assert bucket(value | 7) == table[value >> TABLE_SHIFT], value


def test_c_count_orders_when_given_wrong_arguments_then_refused_and_nothing_written() -> None:
    ours = StageLatencies(*_c_counters())
    orders = ours.orders
    assert isinstance(orders, NativeOrderStages)
    stages, count_orders = orders._order, orders._batch
    first = (10, 20, 30, 40, 50)
    for bad_marks in ([], [1, 2, 3, 4], [1, 2, 3, 4, 5, 6]):
        with pytest.raises(ValueError, match="five per order"):
            count_orders(stages, ours.mid, ours.carried, 60, bad_marks, *first)
    with pytest.raises(TypeError):
        count_orders(stages[:14], ours.mid, ours.carried, 60, [10, 20, 30, 40, 50], *first)
    with pytest.raises(TypeError):
        count_orders((bytearray(4), 0) * 8, ours.mid, ours.carried, 60, [10, 20, 30, 40, 50], *first)
    with pytest.raises(TypeError, match="must be an int"):
        count_orders(stages, ours.mid, ours.carried, 60.0, [10, 20, 30, 40, 50], *first)
    with pytest.raises(OverflowError):
        count_orders(stages, ours.mid, ours.carried, 2**64, [10, 20, 30, 40, 50], *first)
    assert not any(any(low) for low in ours.lows) and not any(ours.mid) and ours.carried == {}
    marks = [10, 20, 31, 41, 51]
    count_orders(stages, ours.mid, ours.carried, 60, marks, *first)  # two orders of one read
    assert marks == []  # emptied once counted
    summary = _summary(ours)
    assert summary["decode"]["count"] == summary["ingress_to_risk"]["count"] == 2


def test_c_count_orders_when_layout_differs_from_obs_histogram_then_not_used() -> None:
    class Other:
        SUB_BITS, RANGE_BITS, TABLE_LIMIT = 6, 36, TABLE_LIMIT
        count_orders = staticmethod(lambda *_: None)

    with pytest.raises(ImportError, match="layout"):
        orders_counter(Other())
    module = _c_module()
    assert orders_counter(module) is module.count_orders


def test_stage_latencies_when_compiled_modules_run_then_the_c_counter_counts_and_not_otherwise() -> None:
    latencies = StageLatencies()
    if native.active():
        assert COUNTER is not None and type(latencies.orders) is NativeOrderStages
    else:
        assert COUNTER is None and type(latencies.orders) is OrderStages

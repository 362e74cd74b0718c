"""The harness's statistics: nearest-rank percentiles and coordinated-omission correction on known series."""

from __future__ import annotations

import math
import random
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from benchmarks.harness.stats import (
    compare,
    corrected_latencies,
    histogram,
    histogram_percentile_us,
    latencies,
    percentile,
    summarize,
    throughput,
    write_hgrm,
)

MS = 1_000_000
US = 1_000


def test_percentile_when_hundred_values_then_nearest_rank() -> None:
    values = list(range(1, 101))
    assert percentile(values, 50) == 50
    assert percentile(values, 90) == 90
    assert percentile(values, 99) == 99
    assert percentile(values, 99.9) == 100
    assert percentile(values, 100) == 100
    assert percentile(values, 0.001) == 1


def test_percentile_when_ten_thousand_values_then_p9999_is_second_largest() -> None:
    values = list(range(1, 10_001))
    assert percentile(values, 99.99) == 9_999
    assert percentile(values, 99.9) == 9_990


def test_percentile_when_empty_then_zero() -> None:
    assert percentile([], 99) == 0
    assert summarize([]).count == 0


@given(st.lists(st.integers(min_value=0, max_value=10**12), min_size=1, max_size=300), st.floats(0.01, 100))
def test_percentile_when_any_series_then_at_least_pct_at_or_below_and_fewer_strictly_below(
    values: list[int], pct: float
) -> None:
    ordered = sorted(values)
    value = percentile(ordered, pct)
    at_or_below = sum(1 for v in ordered if v <= value)
    below = sum(1 for v in ordered if v < value)
    assert at_or_below >= math.ceil(round(pct * len(ordered) / 100, 9))
    assert below < max(math.ceil(round(pct * len(ordered) / 100, 9)), 1)


def test_summarize_when_shuffled_then_microseconds_of_sorted_order() -> None:
    values = [i * US for i in range(1, 1001)]
    random.Random(3).shuffle(values)
    summary = summarize(values)
    assert summary.count == 1000
    assert (summary.p50, summary.p90, summary.p99, summary.p999, summary.p9999) == (500.0, 900.0, 990.0, 999.0, 1000.0)
    assert summary.max == 1000.0
    assert summary.mean == pytest.approx(500.5)


def _stalled_open_loop() -> tuple[list[int], list[int], list[int]]:
    """1,000 orders intended 1 ms apart, 100 us service; the system freezes from 500 ms to 600 ms.

    The order sent at 500 ms completes at 600.1 ms; the generator is held up by the freeze,
    so the orders intended at 501..599 ms go out at 600 ms and complete 100 us later.
    """
    intended = [i * MS for i in range(1000)]
    sent = list(intended)
    done = [t + 100 * US for t in intended]
    for i in range(500, 600):
        if i > 500:
            sent[i] = 600 * MS
        done[i] = 600 * MS + 100 * US
    return intended, sent, done


def test_latencies_when_stall_measured_from_send_then_only_one_order_shows_it() -> None:
    _intended, sent, done = _stalled_open_loop()
    raw = summarize(latencies(sent, done))
    assert raw.p50 == 100.0
    assert raw.p99 == 100.0
    assert raw.p999 == 100.0
    assert raw.max == 100_100.0


def test_corrected_latencies_when_stall_then_every_omitted_order_counts_from_its_intended_time() -> None:
    intended, _sent, done = _stalled_open_loop()
    corrected = corrected_latencies(intended, done)
    assert sorted(corrected)[-100:] == [(k * 1000 + 100) * US for k in range(1, 101)]
    summary = summarize(corrected)
    assert summary.p50 == 100.0
    assert summary.p90 == 100.0
    assert summary.p99 == 90_100.0  # rank 990 = the 90th of the 100 delayed orders
    assert summary.p999 == 99_100.0
    assert summary.max == 100_100.0


def test_histogram_when_post_hoc_correction_then_agrees_with_correction_at_source() -> None:
    intended, sent, done = _stalled_open_loop()
    at_source = summarize(corrected_latencies(intended, done))
    post_hoc = histogram(latencies(sent, done), expected_interval_ns=MS)
    assert post_hoc.get_total_count() == 1000 + 100  # 99.1, 98.1, ..., 0.1 ms added for the 100.1 ms one
    # 3 significant digits: within 0.1 % of the exact figures
    assert histogram_percentile_us(post_hoc, 50) == pytest.approx(at_source.p50, rel=1e-3)
    assert histogram_percentile_us(post_hoc, 99.9) == pytest.approx(at_source.p999, rel=2e-2)


def test_latencies_when_unanswered_then_left_out() -> None:
    assert latencies([1, 2, 3], [11, 0, 33]) == [10, 30]


def test_write_hgrm_when_series_then_standard_percentile_file(tmp_path: Path) -> None:
    path = write_hgrm(histogram([i * US for i in range(1, 10_001)]), tmp_path / "x.hgrm")
    text = path.read_text()
    assert text.splitlines()[0].split() == ["Value", "Percentile", "TotalCount", "1/(1-Percentile)"]
    assert "TotalCount     =    10000.000]" in text
    max_line = next(line for line in text.splitlines() if line.startswith("#[Max"))
    assert float(max_line.split("=")[1].split(",")[0]) == pytest.approx(10_000, rel=1e-3)


def test_compare_when_other_slower_then_added_and_ratio_per_percentile() -> None:
    base = summarize([10 * US] * 100)
    other = summarize([30 * US] * 100)
    rows = {row.key: row for row in compare(base, other)}
    assert rows["p50"].added_us == 20.0
    assert rows["p99.99"].ratio == 3.0
    assert rows["max"].baseline_us == 10.0


def test_throughput_when_span_then_per_second() -> None:
    assert throughput(1000, 0, 10 * MS) == pytest.approx(100_000.0)
    assert throughput(0, 0, 0) == 0.0

"""benchmarks/harness/hiccup.py: the probe writes its late wake-ups, and overlap is judged on the late span."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from benchmarks.harness.hiccup import Hiccup, read_hiccups, worst_overlapping

PROBE = Path(__file__).resolve().parents[2] / "benchmarks" / "harness" / "hiccup.py"


def test_worst_overlapping_when_spans_touch_or_miss_then_counts_only_the_late_span() -> None:
    hiccups = [Hiccup(end_ns=10_000, late_ns=4_000), Hiccup(end_ns=30_000, late_ns=2_000)]
    assert hiccups[0].start_ns == 6_000
    assert worst_overlapping(hiccups, 0, 5_999) == 0  # before the first wake-up was due
    assert worst_overlapping(hiccups, 0, 6_000) == 4_000
    assert worst_overlapping(hiccups, 10_000, 27_999) == 4_000  # touches the first's end only
    assert worst_overlapping(hiccups, 10_001, 27_999) == 0
    assert worst_overlapping(hiccups, 0, 40_000) == 4_000
    assert worst_overlapping([], 0, 40_000) == 0


def test_probe_when_run_briefly_then_writes_every_wakeup_later_than_the_floor(tmp_path: Path) -> None:
    out = tmp_path / "hiccups.json"
    # a floor of 0 us notes every wake-up: each is at least a little late, so the count equals the wake-ups
    subprocess.run(
        [sys.executable, str(PROBE), "--out", str(out), "--seconds", "0.2", "--min-us", "0"], check=True, timeout=30
    )
    hiccups = read_hiccups(out)
    assert 20 <= len(hiccups) <= 200  # 1 ms sleeps for 0.2 s
    assert all(h.late_ns > 0 for h in hiccups)
    assert [h.end_ns for h in hiccups] == sorted(h.end_ns for h in hiccups)

"""Deterministic counters: strace summaries, call counts with the spinner set apart, per-order arithmetic."""

from __future__ import annotations

import cProfile
import importlib.util
import sys
from pathlib import Path

import pytest

from benchmarks.harness.counters import (
    CallCounts,
    count_calls,
    marginal,
    package_of,
    parse_strace_summary,
    per_order,
)

STRACE = """\
% time     seconds  usecs/call     calls    errors syscall
------ ----------- ----------- --------- --------- ----------------
 45.10    0.004510           1      4002           write
 30.00    0.003000           1      2001           read
 20.00    0.002000           0     52000        11 epoll_wait
  4.90    0.000490          12        40           fdatasync
  0.00    0.000000           0         1         1 connect
------ ----------- ----------- --------- --------- ----------------
100.00    0.010000           0     58044        12 total
"""


def test_parse_strace_summary_when_table_then_calls_by_name_without_total() -> None:
    assert parse_strace_summary(STRACE) == {
        "write": 4002,
        "read": 2001,
        "epoll_wait": 52000,
        "fdatasync": 40,
        "connect": 1,
    }
    assert parse_strace_summary("strace: Process 12 attached\n") == {}


def test_per_order_when_two_sizes_then_start_up_cancels() -> None:
    # 500 calls of set-up, 7 per order
    assert per_order(500 + 7 * 1_000, 500 + 7 * 3_000, 1_000, 3_000) == 7
    with pytest.raises(ValueError, match="two run sizes"):
        per_order(1, 2, 3, 3)


def _counts(python: int, builtin: int, spinner: int, functions: dict[str, int]) -> CallCounts:
    return CallCounts(python, builtin, spinner, functions, {"gateway": python})


def test_marginal_when_two_runs_then_per_order_figures_and_time_driven_set_apart() -> None:
    small = (1_000, _counts(20_000 + 100_000, 5_000 + 110_000, 9_000, {"f": 1_000 + 1, "g": 3_000}), None)
    large = (3_000, _counts(20_000 + 300_000, 5_000 + 330_000, 50_000, {"f": 3_000 + 1, "g": 3_000}), None)
    small_sys = {"write": 10 + 4_000, "read": 2_000, "epoll_wait": 90_000, "connect": 1, "futex": 300}
    large_sys = {"write": 10 + 12_000, "read": 6_000, "epoll_wait": 70_000, "connect": 1, "futex": 900}
    result = marginal("gw-spin", (*small[:2], small_sys), (*large[:2], large_sys), spinning=True, top=5)
    assert result.orders == (1_000, 3_000)
    assert result.python_calls == 100 and result.builtin_calls == 110
    assert result.spinner_calls == pytest.approx(50_000 / 3_000, abs=0.01)  # an average: it follows the clock
    assert result.syscalls == {"write": 4.0, "read": 2.0}  # connect is a one-off; time-driven ones are apart
    assert result.syscalls_total == 6.0
    assert result.time_driven == {"epoll_wait": pytest.approx(23.33), "futex": 0.3}
    assert result.top_functions == [("f", 1.0)]  # g: set-up only
    assert result.packages == {"gateway": 100.0}


def test_marginal_when_loop_blocks_then_its_waits_are_a_cost_of_the_order() -> None:
    # a ping-pong order through a loop that does not spin: per direction one wait, one read, one write
    calls = (_counts(0, 0, 0, {}), _counts(0, 0, 0, {}))
    small_sys = {"epoll_pwait": 40 + 4_000, "read": 4_000, "write": 4_000, "futex": 60}
    large_sys = {"epoll_pwait": 40 + 12_000, "read": 12_000, "write": 12_000, "futex": 180}
    blocking = marginal("gw-kernel", (2_000, calls[0], small_sys), (6_000, calls[1], large_sys), spinning=False)
    assert blocking.syscalls == {"epoll_pwait": 2.0, "read": 2.0, "write": 2.0}
    assert blocking.syscalls_total == 6.0  # the kernel-mode floor (docs/performance.md 9a), not 4
    assert blocking.time_driven == {"futex": 0.03}  # the fsync side stays time-driven
    # the same counts from a spinning loop: its polls follow the clock and are set apart
    spinning = marginal("gw-spin", (2_000, calls[0], small_sys), (6_000, calls[1], large_sys), spinning=True)
    assert spinning.syscalls == {"read": 2.0, "write": 2.0} and spinning.syscalls_total == 4.0
    assert spinning.time_driven == {"epoll_pwait": 2.01, "futex": 0.03}


def test_spins_when_default_paths_then_only_the_spinning_ones_set_their_waits_apart() -> None:
    from benchmarks.harness.runner import counted, default_paths, spins

    kinds = {p.name: spins(p) for p in default_paths(-1) if counted(p)}
    assert kinds["gw-kernel"] is False and kinds["relay"] is False and kinds["fix-gw-kernel"] is False
    assert kinds["gw-spin"] is True and kinds["relay-spin"] is True and kinds["fix-gw-spin"] is True
    assert all(spins(p) for p in default_paths(50) if p.name == "gw-spin")


def test_marginal_when_no_strace_then_no_system_call_figures() -> None:
    small = (100, _counts(1_000, 1_000, 0, {}), None)
    large = (300, _counts(3_000, 3_000, 0, {}), None)
    result = marginal("relay", small, large, spinning=False, note="strace not installed")
    assert result.syscalls is None and result.syscalls_total is None and result.time_driven is None
    assert result.python_calls == 10 and result.note == "strace not installed"


def _load(path: Path, name: str) -> object:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def test_count_calls_when_profiled_then_spinner_and_its_callees_kept_apart(tmp_path: Path) -> None:
    (tmp_path / "spinner.py").write_text(
        "import time\ndef _spin():\n    time.monotonic_ns()\n    time.monotonic_ns()\n"
    )
    (tmp_path / "work.py").write_text(
        "import time\ndef helper():\n    return len('abc')\ndef order():\n    time.monotonic_ns()\n    helper()\n"
    )
    spinner = _load(tmp_path / "spinner.py", "bench_test_spinner")
    work = _load(tmp_path / "work.py", "bench_test_work")
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(10):
        work.order()  # type: ignore[attr-defined]
    for _ in range(7):
        spinner._spin()  # type: ignore[attr-defined]
    profiler.disable()
    out = tmp_path / "p.pstats"
    profiler.dump_stats(out)
    counts = count_calls(out)
    assert counts.spinner == 7 + 14  # _spin itself and the two clock reads in each
    monotonic = next(v for k, v in counts.functions.items() if "monotonic_ns" in k)
    assert monotonic == 10  # the spinner's 14 are not the order's
    assert next(v for k, v in counts.functions.items() if k.endswith("(order)")) == 10
    assert next(v for k, v in counts.functions.items() if k.endswith("(helper)")) == 10
    assert counts.python >= 20 and counts.builtin >= 20  # order + helper; monotonic_ns + len (+ profiler's own)


def test_package_of_when_project_library_or_stdlib_file() -> None:
    assert package_of("/work/repo/gateway/protocol/framing.py") == "gateway"
    assert package_of("/work/repo/venues/fix/session/session.py") == "venues"
    assert package_of("/x/.venv/lib/python3.11/site-packages/msgspec/_utils.py") == "msgspec"
    assert package_of("/usr/lib/python3.11/asyncio/events.py") == "stdlib"

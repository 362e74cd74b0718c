"""Deterministic counters: Python calls per order and system calls per order, free of timing noise.

A counting run is a ping-pong of ``n`` orders through one path with the process under test (the
gateway, or the do-nothing relay) run under ``cProfile`` (``benchmarks.harness.profiled``) and,
when ``strace`` is installed, with ``strace -c -f`` attached to it for exactly the orders (it is
attached once the venue session is up and detached when the load generator has its last answer).
Two runs of ``n1 < n2`` orders give per-order figures as the difference divided by ``n2 - n1``:
start-up, connection set-up and shutdown are in both runs and cancel.

What is *not* a per-order cost, and is reported apart:

* the event-loop spinner's iterations (``LoopSpinner._spin`` and the calls it makes): with
  ``loop_spin_us: -1`` the loop polls for as long as it runs, so its count follows the clock;
* time-driven system calls: ``epoll_wait`` in a spinning loop (one per spin iteration),
  ``fdatasync`` and ``futex`` of the journal's fsync thread (every ``fsync_interval_ms``), timer
  sleeps. They are left out of the per-order figures and shown as an average over the larger run.
  A loop that does not spin blocks in ``epoll_wait`` once per wake-up, i.e. once per direction of a
  ping-pong order: there the waits are a cost of the order and are counted per order
  (``marginal(..., spinning=False)``).
"""

from __future__ import annotations

import pstats
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Final

import msgspec

SPINNER_FUNCTION: Final = ("spinner.py", "_spin")
"""(file name suffix, function name) of ``gateway.ops.spinner.LoopSpinner._spin``."""
TIME_DRIVEN_SYSCALLS: Final = frozenset(
    {"epoll_wait", "epoll_pwait", "epoll_pwait2", "fdatasync", "fsync", "futex", "clock_nanosleep", "nanosleep"}
)
"""System calls whose count follows the clock (spinning, the fsync thread, timers), not the orders."""
WAIT_SYSCALLS: Final = frozenset({"epoll_wait", "epoll_pwait", "epoll_pwait2"})
"""The event loop's waits: time-driven in a spinning loop, one per wake-up (a cost of the order) in one that blocks."""


def time_driven(spinning: bool) -> frozenset[str]:
    """Return the system calls that follow the clock for a loop that spins (``spinning``) or blocks."""
    return TIME_DRIVEN_SYSCALLS if spinning else TIME_DRIVEN_SYSCALLS - WAIT_SYSCALLS


MIN_PER_ORDER: Final = 0.01
"""Per-order figures below this are one-off events (a connection, a log line), not a cost of the order."""
_ADDRESS: Final = re.compile(r" at 0x[0-9a-f]+")
_Key = tuple[str, int, str]
_STRACE_LINE: Final = re.compile(r"^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:(\d+)\s+)?(\w+)\s*$")


class CallCounts(msgspec.Struct, frozen=True):
    """Calls counted by one profiled run (main thread)."""

    python: int
    """Calls of Python functions (spinner excluded)."""
    builtin: int
    """Calls of C functions and methods made from Python (spinner excluded)."""
    spinner: int
    """Calls made by and to the idle spinner (time-driven)."""
    functions: dict[str, int]
    """``file:line(name)`` (or a builtin's name) -> calls, spinner excluded."""
    packages: dict[str, int]
    """Python calls by the package their function lives in (``gateway``, ``risk``, ``venues``, ...)."""


class PathCounters(msgspec.Struct):
    """Per-order counters of one path (marginal over two counting runs)."""

    path: str
    orders: tuple[int, int]
    python_calls: float
    builtin_calls: float
    spinner_calls: float
    """Time-driven: the spinner's calls in the larger run divided by its orders (not a cost of the order)."""
    syscalls: dict[str, float] | None
    """System call name -> calls per order, marginal, time-driven calls left out (None: strace not available)."""
    syscalls_total: float | None
    """Sum of ``syscalls``: the system calls an order costs."""
    time_driven: dict[str, float] | None
    """Time-driven system calls (``time_driven(spinning)``): calls in the larger run divided by its orders."""
    packages: dict[str, float]
    """Python calls per order by package (``gateway``, ``risk``, ``venues``, ``model``, a library, ``stdlib``)."""
    top_functions: list[tuple[str, float]]
    """The functions (Python and builtin) called most per order: (function, calls/order)."""
    note: str = ""


def _label(key: tuple[str, int, str]) -> str:
    file, line, name = key
    if file == "~":
        return _ADDRESS.sub("", name)
    parts = Path(file).parts
    short = "/".join(parts[-2:]) if len(parts) >= 2 else file
    return f"{short}:{line}({name})"


PROJECT_PACKAGES: Final = ("gateway", "risk", "venues", "model", "obs", "simulators", "benchmarks")


def package_of(file: str) -> str:
    """Return the package a function's file belongs to: a project package, an installed library, or ``stdlib``."""
    parts = Path(file).parts
    if "site-packages" in parts:
        at = parts.index("site-packages")
        return parts[at + 1].split(".")[0] if at + 1 < len(parts) else "site-packages"
    for part in reversed(parts[:-1]):
        if part in PROJECT_PACKAGES:
            return part
    return "stdlib"


def _is_spinner(key: tuple[str, int, str]) -> bool:
    return key[0].endswith(SPINNER_FUNCTION[0]) and key[2] == SPINNER_FUNCTION[1]


def count_calls(stats_file: str | Path) -> CallCounts:
    """Read a ``pstats`` file and count calls, keeping the spinner's apart."""
    raw: Mapping[_Key, tuple[int, int, float, float, Mapping[_Key, tuple[int, int, float, float]]]] = pstats.Stats(
        str(stats_file)
    ).stats  # type: ignore[attr-defined]
    python = builtin = spinner = 0
    functions: dict[str, int] = {}
    packages: dict[str, int] = {}
    for key, (_cc, calls, _own, _cum, callers) in raw.items():
        from_spinner = sum(int(v[1]) for caller, v in callers.items() if _is_spinner(caller))
        if _is_spinner(key):
            spinner += calls
            continue
        spinner += from_spinner
        kept = calls - from_spinner
        if not kept:
            continue
        if key[0] == "~":
            builtin += kept
        else:
            python += kept
            package = package_of(key[0])
            packages[package] = packages.get(package, 0) + kept
        label = _label(key)
        functions[label] = functions.get(label, 0) + kept
    return CallCounts(python, builtin, spinner, functions, packages)


def parse_strace_summary(text: str) -> dict[str, int]:
    """Return syscall name -> calls from ``strace -c`` output (the summary table)."""
    out: dict[str, int] = {}
    for line in text.splitlines():
        match = _STRACE_LINE.match(line)
        if match and match.group(3) != "total":
            out[match.group(3)] = out.get(match.group(3), 0) + int(match.group(1))
    return out


def per_order(small: float, large: float, n_small: int, n_large: int) -> float:
    """Return the marginal count per order between a run of ``n_small`` and one of ``n_large`` orders."""
    if n_large <= n_small:
        raise ValueError(f"need two run sizes, got {n_small} and {n_large}")
    return (large - small) / (n_large - n_small)


def marginal(
    path: str,
    small: tuple[int, CallCounts, dict[str, int] | None],
    large: tuple[int, CallCounts, dict[str, int] | None],
    *,
    spinning: bool,
    note: str = "",
    top: int = 12,
) -> PathCounters:
    """Combine two counting runs of ``path`` into per-order counters.

    ``spinning``: the process's loop polls (``loop_spin_us`` != 0), so its ``epoll_wait`` calls follow
    the clock and are set apart; a loop that blocks waits once per wake-up, which is counted per order.
    """
    n1, calls1, sys1 = small
    n2, calls2, sys2 = large
    syscalls: dict[str, float] | None = None
    total: float | None = None
    timed: dict[str, float] | None = None
    if sys1 is not None and sys2 is not None:
        clock = time_driven(spinning)
        names = sorted((set(sys1) | set(sys2)) - clock)
        marginals = {name: round(per_order(sys1.get(name, 0), sys2.get(name, 0), n1, n2), 3) for name in names}
        syscalls = {k: v for k, v in sorted(marginals.items(), key=lambda kv: -kv[1]) if abs(v) >= MIN_PER_ORDER}
        total = round(sum(syscalls.values()), 2)
        timed = {
            name: round(sys2[name] / n2, 2)
            for name in sorted(sys2, key=lambda k: -sys2[k])
            if name in clock and sys2[name] / n2 >= MIN_PER_ORDER
        }
    functions = [
        (name, per_order(calls1.functions.get(name, 0), calls2.functions.get(name, 0), n1, n2))
        for name in set(calls1.functions) | set(calls2.functions)
    ]
    functions.sort(key=lambda item: (-item[1], item[0]))
    packages = {
        name: round(per_order(calls1.packages.get(name, 0), calls2.packages.get(name, 0), n1, n2), 2)
        for name in set(calls1.packages) | set(calls2.packages)
    }
    return PathCounters(
        path=path,
        orders=(n1, n2),
        python_calls=round(per_order(calls1.python, calls2.python, n1, n2), 2),
        builtin_calls=round(per_order(calls1.builtin, calls2.builtin, n1, n2), 2),
        spinner_calls=round(calls2.spinner / n2, 2),
        syscalls=syscalls,
        syscalls_total=total,
        time_driven=timed,
        packages={k: v for k, v in sorted(packages.items(), key=lambda kv: -kv[1]) if abs(v) >= 0.005},
        top_functions=[(name, round(calls, 2)) for name, calls in functions[:top] if calls >= 0.5],
        note=note,
    )

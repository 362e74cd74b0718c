"""Python calls per OUCH order round trip, counted deterministically (no timing involved).

The order path (``Engine.link_data`` of one NewOrder frame: decode, checks, risk, OUCH encode,
journal, venue write) and the ack path (``OuchVenue.data_received`` of one Order Accepted and
``Engine.flush``: decode, venue event, order state, OrderAccepted to the strategy) of the
production pieces wired as ``benchmarks/bench_hotpath.py`` wires them, in one process, run under
``sys.setprofile``. Only the gateway's own calls count:

* a Python function call when the function lives in one of the gateway's packages (``gateway``,
  ``risk``, ``venues``, ``model``, ``obs``): the bench's fake transports are not counted;
* a call of a C function or method (``len``, ``dict.get``, ``struct.pack_into``, ...) when the
  calling frame is in one of those packages;
* the bench's own work between the two halves (building the Accepted bytes from what the adapter
  wrote) runs with the profiler off.

Per order = (calls over ``n2`` orders - calls over ``n1`` orders) / (n2 - n1): set-up, warm-up and
anything that happens once cancels. Calls of a module compiled with mypyc are C calls (one when
interpreted code calls into it, none between compiled functions); ``GATEWAY_PURE_PYTHON=1`` (the
default of ``count``) counts the pure-Python modules, as the call budget test does.

Run: ``.venv/bin/python -m benchmarks.hotpath_calls [--orders 200,600] [--top 40] [--json]``
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any, Final

import benchmarks.bench_hotpath as bench

PACKAGES: Final = ("gateway", "risk", "venues", "model", "obs")
"""The gateway's runtime packages: calls made by (C calls) or to (Python calls) their code count."""
WARM_UP: Final = 500
WORKDIR_PREFIX: Final = "gwcalls-"
"""A count's work directory in /tmp is ``gwcalls-<pid>-<random>``: the pid tells a left-over from a running count."""


def _roots() -> tuple[str, tuple[str, ...]]:
    """Return the checkout the bench rig is imported from, and the path prefixes of its packages."""
    root = str(Path(bench.__file__).resolve().parent.parent) + os.sep
    return root, tuple(root + package + os.sep for package in PACKAGES)


def _run(orders: int) -> tuple[int, int, dict[str, int]]:
    """Ping-pong ``orders`` orders under the profiler; return (Python calls, C calls, calls by function)."""
    _sweep_left_overs()
    workdir = Path(tempfile.mkdtemp(prefix=f"{WORKDIR_PREFIX}{os.getpid()}-", dir="/tmp"))
    try:
        return _count(bench.Rig(workdir, clock=_counting_clock()), orders)
    finally:  # the journal preallocates 64 MiB: a left-over directory per run filled /tmp
        shutil.rmtree(workdir, ignore_errors=True)


def _sweep_left_overs(parent: Path = Path("/tmp")) -> list[Path]:
    """Remove the work directories of count processes that no longer run (killed mid-count); return them.

    A count's ``finally`` removes its own directory, but not when the process is killed (a CI
    timeout, SIGKILL): each left-over holds a journal preallocated to 64 MiB.
    """
    removed: list[Path] = []
    for workdir in parent.glob(f"{WORKDIR_PREFIX}*-*"):
        pid_text = workdir.name[len(WORKDIR_PREFIX) :].partition("-")[0]
        if not pid_text.isdigit() or _running(int(pid_text)):
            continue
        shutil.rmtree(workdir, ignore_errors=True)
        removed.append(workdir)
    return removed


def _running(pid: int) -> bool:
    """Return whether process ``pid`` exists (a process of another user counts as running)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _counting_clock(reads: int = 200_000) -> Callable[[], int]:
    """Return a clock that moves 1 us per read: a builtin method, so each read still counts as one C call.

    With the real clock, work that depends on elapsed time entered the count when a run happened to
    last longer than a window (the duplicate filter drops entries older than its window: a ``popleft``
    and a ``dict.get`` per order once a run outlasts it, so a slow run on a loaded machine counted ~4
    calls more per order). At 1 us per read no window of the bench's limits ends within a count, and
    every stage time, so every histogram bucket and carry, is the same in every run. The times are
    made beforehand and handed out by ``list.pop`` (``sys.setprofile`` reports builtin functions and
    methods as C calls, not slot wrappers such as an iterator's ``__next__``); ``reads`` is far more
    than a count of 600 orders makes (about 20 per order).
    """
    start = time.monotonic_ns()
    return list(range(start + reads * 1_000, start, -1_000)).pop


def _count(rig: bench.Rig, orders: int) -> tuple[int, int, dict[str, int]]:
    """Warm ``rig`` up, then ping-pong ``orders`` orders under the profiler."""
    root, project = _roots()
    clock = rig.clock
    engine, link, venue = rig.engine, rig.link, rig.venue
    rig.ping_pong(0, WARM_UP, 50)
    rig.ping_pong(WARM_UP, WARM_UP + 20, 1)  # one order per read, as measured below
    frames = [rig.frames(1_000_000 + i, 1) for i in range(orders)]
    python = 0
    builtin = 0
    by_function: dict[str, int] = {}
    skip = len(root)

    def profile(frame: FrameType, event: str, arg: Any) -> None:
        nonlocal python, builtin
        if event == "call":
            code = frame.f_code
            if code.co_filename.startswith(project):
                python += 1
                key = f"{code.co_filename[skip:]}:{code.co_firstlineno}({code.co_name})"
                by_function[key] = by_function.get(key, 0) + 1
        elif event == "c_call" and frame.f_code.co_filename.startswith(project):
            builtin += 1
            key = f"<{getattr(arg, '__qualname__', None) or getattr(arg, '__name__', repr(arg))}>"
            by_function[key] = by_function.get(key, 0) + 1

    setprofile: Callable[[Any], None] = sys.setprofile
    for frame_bytes in frames:
        t_in = clock()
        setprofile(profile)
        engine.link_data(link, frame_bytes, t_in)  # type: ignore[arg-type]
        setprofile(None)
        answer = rig.accepted_for_wire()  # the bench's own work: not counted
        t_in = clock()
        setprofile(profile)
        venue.data_received(answer, t_in)
        engine.flush()
        setprofile(None)
    accepted = engine.counters.accepted
    assert engine.counters.orders_sent >= orders and accepted >= orders, engine.counters
    return python, builtin, by_function


def count_here(n1: int, n2: int, top: int = 40) -> dict[str, Any]:
    """Count in this process (whatever modules it imported: compiled ones count as C calls)."""
    p1, c1, f1 = _run(n1)
    p2, c2, f2 = _run(n2)
    span = n2 - n1
    functions = {name: (f2.get(name, 0) - f1.get(name, 0)) / span for name in set(f1) | set(f2)}
    ranked = sorted(((v, k) for k, v in functions.items() if v >= 0.01), key=lambda item: (-item[0], item[1]))
    return {
        "orders": [n1, n2],
        "python_calls": (p2 - p1) / span,
        "c_calls": (c2 - c1) / span,
        "calls": (p2 + c2 - p1 - c1) / span,
        "functions": [[name, round(value, 3)] for value, name in ranked[:top]],
    }


def count(
    n1: int = 200, n2: int = 600, *, pure_python: bool = True, cwd: str | None = None, top: int = 40
) -> dict[str, Any]:
    """Count in a fresh interpreter (``GATEWAY_PURE_PYTHON=1`` unless ``pure_python`` is False)."""
    env = dict(os.environ)
    if pure_python:
        env["GATEWAY_PURE_PYTHON"] = "1"
    else:
        env.pop("GATEWAY_PURE_PYTHON", None)
    if cwd is not None:
        env["PYTHONPATH"] = cwd + os.pathsep + env.get("PYTHONPATH", "")
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.hotpath_calls",
            "--orders",
            f"{n1},{n2}",
            "--json",
            "--here",
            "--top",
            str(top),
        ],
        capture_output=True,
        text=True,
        check=True,
        env=env,
        cwd=cwd,
    )
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--orders", default="200,600", help="the two run sizes N1,N2 (default 200,600)")
    parser.add_argument("--top", type=int, default=40, help="how many functions to list")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--here", action="store_true", help="count in this interpreter as it is (no fresh process)")
    parser.add_argument("--compiled", action="store_true", help="count with compiled modules, if built")
    args = parser.parse_args()
    n1, n2 = (int(part) for part in args.orders.split(","))
    if args.here:
        result = count_here(n1, n2, args.top)
    else:
        result = count(n1, n2, pure_python=not args.compiled, top=args.top)
    if args.json:
        print(json.dumps(result))
        return 0
    print(
        f"calls per OUCH order round trip (order path + ack path, marginal {n1} -> {n2} orders): "
        f"{result['calls']:.1f} = {result['python_calls']:.1f} Python + {result['c_calls']:.1f} C"
    )
    for name, value in result["functions"]:
        print(f"  {value:7.2f}  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

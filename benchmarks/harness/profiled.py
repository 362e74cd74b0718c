"""Run a Python module under cProfile and write its statistics when it exits (the bench's counting runs).

``python -m benchmarks.harness.profiled OUT MODULE [ARGS...]`` runs ``python -m MODULE ARGS...``
in this process with ``cProfile`` enabled on the main thread (the event loop's: the order path)
and writes ``pstats`` data to ``OUT`` when the module returns or exits (``gateway run`` and the
relay leave cleanly on SIGTERM). Other threads (the journal's fsync thread, the UserRefNum
prefetch) are not profiled. The counts are what matter here, not the times: the profiler
makes every call slower but does not change which calls an order makes.

The module runs on the pure-Python hot modules (``GATEWAY_PURE_PYTHON=1``, set here before anything
of the project is imported): functions compiled with mypyc are invisible to cProfile, so a compiled
run's counts would not be comparable with any other.
"""

from __future__ import annotations

import cProfile
import os
import runpy
import sys


def main(argv: list[str] | None = None) -> int:
    """Run the module under the profiler; return its exit code."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) < 2:
        print("usage: python -m benchmarks.harness.profiled OUT MODULE [ARGS...]", file=sys.stderr)
        return 2
    out, module, rest = args[0], args[1], args[2:]
    sys.argv = [module, *rest]
    os.environ["GATEWAY_PURE_PYTHON"] = "1"  # count the pure-Python path (see the module's docstring)
    profiler = cProfile.Profile()
    code = 0
    profiler.enable()
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        profiler.disable()
        profiler.dump_stats(out)
    return code


if __name__ == "__main__":
    sys.exit(main())

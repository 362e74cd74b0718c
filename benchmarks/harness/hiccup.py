"""A machine hiccup probe: how late does this host wake a sleeping process? (the jHiccup idea).

The ping-pong benchmarks' processes sleep in ``epoll_wait`` between messages, so every round trip
includes a few wake-ups. On a shared VM a wake-up can be late by milliseconds for reasons that have
nothing to do with the gateway: another tenant's task holding the vCPU for its time slice, or the
hypervisor running the halted vCPU late. This probe runs as a process of its own, at the scheduling
policy and nice value it inherits from the benchmark, sleeps ``--period-us`` at a time doing no work,
and notes every wake-up that came more than ``--min-us`` late, with CLOCK_MONOTONIC times that the
benchmark compares with its round trips (same clock, same host).

It allocates nothing while it runs (a preallocated list of slots) and disables the GC, so a late
wake-up is the machine's, not the probe's.

Run (normally started by a benchmark): ``python -m benchmarks.harness.hiccup --out FILE --seconds S``;
SIGTERM ends it early. ``FILE`` gets JSON: ``{"period_ns", "min_ns", "wakeups", "late": [[end_ns, late_ns], ...]}``.
"""

from __future__ import annotations

import argparse
import gc
import json
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Hiccup:
    """One late wake-up: when the probe woke (``end_ns``) and how late it was (``late_ns``)."""

    end_ns: int
    late_ns: int

    @property
    def start_ns(self) -> int:
        """Return when the wake-up was due."""
        return self.end_ns - self.late_ns


def read_hiccups(path: Path) -> list[Hiccup]:
    """Return the late wake-ups a probe wrote to ``path``."""
    document: dict[str, Any] = json.loads(path.read_text())
    return [Hiccup(int(end), int(late)) for end, late in document["late"]]


def worst_overlapping(hiccups: list[Hiccup], start_ns: int, end_ns: int) -> int:
    """Return the largest late wake-up (ns) whose lateness overlaps [start_ns, end_ns], or 0."""
    return max((h.late_ns for h in hiccups if h.start_ns <= end_ns and h.end_ns >= start_ns), default=0)


def probe(out: Path, seconds: float, period_ns: int, min_ns: int, slots: int = 200_000) -> int:
    """Sleep ``period_ns`` at a time for ``seconds`` (or until SIGTERM); write the late wake-ups to ``out``."""
    gc.disable()
    stop = [False]

    def on_term(_signum: int, _frame: object) -> None:
        stop[0] = True

    signal.signal(signal.SIGTERM, on_term)
    ends = [0] * slots
    lates = [0] * slots
    count = 0
    wakeups = 0
    period_s = period_ns / 1e9
    monotonic_ns = time.monotonic_ns
    sleep = time.sleep
    deadline = monotonic_ns() + int(seconds * 1e9)
    now = monotonic_ns()
    while now < deadline and not stop[0]:
        due = now + period_ns
        sleep(period_s)
        now = monotonic_ns()
        wakeups += 1
        late = now - due
        if late > min_ns and count < slots:
            ends[count] = now
            lates[count] = late
            count += 1
    document = {
        "period_ns": period_ns,
        "min_ns": min_ns,
        "wakeups": wakeups,
        "late": [[ends[i], lates[i]] for i in range(count)],
    }
    out.write_text(json.dumps(document))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run the probe."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="JSON file the late wake-ups are written to")
    parser.add_argument("--seconds", type=float, required=True, help="how long to probe (SIGTERM ends it early)")
    parser.add_argument("--period-us", type=int, default=1000, help="sleep per wake-up (default 1000)")
    parser.add_argument("--min-us", type=int, default=200, help="note wake-ups later than this (default 200)")
    args = parser.parse_args(argv)
    return probe(args.out, args.seconds, args.period_us * 1000, args.min_us * 1000)


if __name__ == "__main__":
    sys.exit(main())

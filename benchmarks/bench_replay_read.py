"""What a far-back replay reads: the indexed, stepwise read (``gateway.replay``) against a full ``recover()``.

Given a journal file with a strategy that sent orders (the default ``--strategy replayer`` is the one of the
journal ``bench_replay_stall.py`` leaves when run with ``GATEWAY_KEEP_WORKDIR=1``: its working directory's
``journal/*.journal``; any other journal needs ``--strategy NAME`` of one of its strategies), it
recovers the day once with the index (``recover(records, scan)``: what a restart does), then rebuilds
``--strategy``'s events after ``--last-seq`` up to its in-memory window (``--kept``, as
``memory.events_kept``) the way the gateway now does: from the indexed position, in steps of
``STEP_RECORDS`` records of its own (passing over up to ``STEP_SKIPPED`` of the others' undecoded), each
timed in thread CPU time (the share of the interpreter a step takes from the event loop). Printed: records
decoded and passed over, steps, CPU per step (p50 / p99 / max) and in total, against the time of the full
``recover()`` the replay used before. A journal of several strategies (``gateway run`` under load) shows
what the others' records cost a strategy's replay.

With ``--loop-ticks`` the read runs again as ``gateway run`` runs it (``memory.replay_read: loop``: steps for
about 0.2 ms per callback of a uvloop loop, more when the loop is busy) beside a probe that runs once per
loop iteration: printed, the loop's ticks (the longest is the worst wait another strategy's order could
meet), idle and during the read.

Run: ``.venv/bin/python benchmarks/bench_replay_read.py JOURNAL [--strategy replayer] [--last-seq 1]
[--kept 10000] [--loop-ticks]``
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time

from gateway.app import LoopReplayReader
from gateway.journal import JournalReader, JournalScan, read_journal
from gateway.protocol.messages import OrderEvent
from gateway.recovery import recover
from gateway.replay import JournalRead, ReplayJob, replay_start

KEEP_HINT = (
    "The default strategy 'replayer' is in the journal bench_replay_stall.py keeps: run it with "
    "GATEWAY_KEEP_WORKDIR=1 and pass the journal/*.journal of the working directory it prints."
)


def main(argv: list[str] | None = None) -> int:
    """Time the full recovery, then the indexed stepwise read; print both."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=KEEP_HINT)
    parser.add_argument("journal", help="a gateway journal file (*.journal)")
    parser.add_argument(
        "--strategy", default="replayer", help="the strategy whose events are replayed (default: replayer)"
    )
    parser.add_argument("--last-seq", type=int, default=1)
    parser.add_argument("--kept", type=int, default=10_000, help="events the strategy keeps in memory")
    parser.add_argument("--loop-ticks", action="store_true", help="also run the read on a loop beside a 0.5 ms timer")
    args = parser.parse_args(argv)
    scan = JournalScan()
    started = time.process_time()
    recovered = recover(read_journal(args.journal, scan), scan)
    full_s = time.process_time() - started
    st = recovered.strategies.get(args.strategy)
    if st is None:
        known = ", ".join(sorted(recovered.strategies)) or "none"
        print(
            f"bench_replay_read: strategy {args.strategy!r} is not in {args.journal} (its strategies: {known}); "
            f"give --strategy NAME. {KEEP_HINT}",
            file=sys.stderr,
        )
        return 2
    upto = st.next_seq - 1 - args.kept
    start = replay_start(st.marks, args.last_seq)
    job = ReplayJob(JournalReader(args.journal, start), args.strategy, args.last_seq, upto)
    steps: list[float] = []
    while True:
        t0 = time.thread_time()
        result = job.step()
        steps.append(time.thread_time() - t0)
        if result is not None:
            break
    if isinstance(result, str):
        print(f"replay refused: {result}")
        return 1
    steps.sort()
    total = sum(steps)
    print(
        f"journal: {scan.records} records, {scan.good_bytes} bytes; full recover(): {full_s:.2f} s CPU\n"
        f"replay of {len(result)} events (seq {args.last_seq + 1}..{upto}) from byte {start}: "
        f"{job.records} records decoded, {job.skipped} passed over undecoded (of {job.reader.bytes_read} bytes "
        f"read), in {len(steps)} steps, {total:.2f} s CPU ({total / max(1, len(result)) * 1e6:.2f} us per event); "
        f"per step "
        f"p50 {steps[len(steps) // 2] * 1e6:.0f} us, p99 {steps[int(len(steps) * 0.99)] * 1e6:.0f} us, "
        f"max {steps[-1] * 1e6:.0f} us; index: {len(st.marks)} entries for the strategy, "
        f"{len(recovered.order_marks)} for orders ({st.marks.nbytes + recovered.order_marks.nbytes} bytes)"
    )
    if args.loop_ticks:
        import uvloop

        again = ReplayJob(JournalReader(args.journal, start), args.strategy, args.last_seq, upto)
        quiet = uvloop.run(_ticks(None, 1.0))
        during = uvloop.run(_ticks(again, 0.0))
        print(f"loop ticks, ms: idle {quiet}; during the read on the loop {during}")
    return 0


async def _ticks(job: ReplayJob | None, seconds: float) -> str:
    """Run ``job`` step by step on this loop (or wait ``seconds``); return the loop's ticks.

    A probe callback schedules itself again with ``call_soon``: it runs once per loop iteration, so the time
    between two of its runs is one tick (the sockets polled, every ready callback run: a read step among them).
    """
    loop = asyncio.get_running_loop()
    ticks: list[float] = []
    finished = asyncio.Event()
    last = [time.perf_counter()]

    def probe() -> None:
        now = time.perf_counter()
        ticks.append(now - last[0])
        last[0] = now
        if not finished.is_set():
            loop.call_soon(probe)

    loop.call_soon(probe)
    if job is None:
        await asyncio.sleep(seconds)
        finished.set()
    else:

        def done(result: list[OrderEvent] | str) -> None:
            finished.set()

        LoopReplayReader(loop).submit(JournalRead(job.strategy_id, lambda: job, done))
        await finished.wait()
    await asyncio.sleep(0)
    late = sorted(ticks)
    return (
        f"p50 {late[len(late) // 2] * 1e3:.2f}, p99 {late[int(len(late) * 0.99)] * 1e3:.2f}, "
        f"max {late[-1] * 1e3:.2f} ({len(late)} ticks)"
    )


if __name__ == "__main__":
    sys.exit(main())

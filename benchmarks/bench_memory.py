"""Gateway memory per order: RSS over 100,000 and 1,000,000 orders, in one process, without sockets.

The production pieces are wired as in ``benchmarks/bench_hotpath.py`` (``Engine``, ``RiskEngine``
with the bench limits, ``OuchVenue``, ``FileJournal`` in a tmpfs directory when there is one);
every order goes new -> accepted -> filled (half of them) or canceled by the venue (the other
half), so it ends terminal, as most of a day's orders do. After a warm-up of ``--warmup`` orders
the resident set size (``/proc/self/statm``) is sampled every ``--every`` orders; reported:

* ``bytes/order (100k)``: RSS growth over the first 100,000 orders after the warm-up, per order;
* ``slope after 100k``: least-squares slope of the RSS samples after the first 100,000 orders, in
  bytes per order (flat means ~0: memory no longer grows with the day's orders); the total RSS (anon +
  file + shmem: the journal's mapped pages too) and the anonymous RSS (the heap) each. The journal's written
  pages are released as ``gateway run``'s 0.25 s journal check does (``MmapJournal.release_pages``, every
  0.25 s of the run; ``--no-release``: never, as before stop 43); ``--journal-dir`` puts the journal on a
  disk (the default, /dev/shm, counts its pages as RssShmem);
* the engine's object counts at the end (orders, events, the OUCH adapter's per-order maps);
* ``--slow``: a slow-consumer episode after the run: the strategy stops reading (its bytes pile
  up as a transport's would) until 8 MiB are queued, is cut off, reconnects with the last
  ``seq`` it processed and reads the replay; RSS before the episode and after the drain.

Risk's order and cancel rate limits are ``--rate-limit`` per second (default 1,000,000, as a desk that
does not want the throttle in the way sets them, and as the review of issue 13 ran ``gateway run``).
Until the windows forgot times older than their second, each window kept the latest ``limit`` times
(~40 bytes each): with 1,000,000/s that was a cost per order of the day (137 B/order here, ~200 in
``gateway run``), which a bench run at 50,000/s with a longer warm-up never showed.

``--fills-only`` fills every order (no venue cancels); ``--far-replay-every N`` reconnects the strategy
with ``last_seq`` 0 every ``N`` orders and reads the whole replay (as a strategy that restarts without
its last ``seq`` does), through ``gateway run``'s replay path (``SyncReplay``: the shared runner's steps and
the engine's slices in turn, without a loop). Until replay41 the journal read rebuilt all the strategy's
events of the day at once, and the heap it left behind (pymalloc arenas the rebuilt events spread over,
pinned by the orders allocated meanwhile) was what grew, not anything kept per order (docs/performance.md,
Stop 40); it now rebuilds them a chunk at a time as they are written. ``--replay-peak`` adds, after the
run, one far replay measured alone: the loop CPU per replayed event (thread CPU time), the anonymous RSS
before, at its highest and after; then one under ``tracemalloc``: the peak of the Python heap above its
level before the Hello. The same script runs against an older tree (the engine calls ``resume`` only
where it exists) for a before/after in one run.

The garbage collector is frozen after set-up, young collections stay on, as in ``gateway run``.

Run: ``.venv/bin/python -m benchmarks.bench_memory [--orders 1000000] [--slow] [--json]``
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import sys
import tempfile
import time
import tracemalloc
from collections import deque
from collections.abc import Callable
from pathlib import Path

import yaml

from benchmarks import bench_hotpath
from benchmarks.bench_hotpath import Link, Rig
from benchmarks.bench_journal_pages import mapping_rss
from benchmarks.harness.plan import QTY, SYMBOL
from benchmarks.harness.runner import bench_limits
from gateway.ops.heap import set_mmap_threshold
from gateway.protocol.framing import encode_frame
from gateway.protocol.messages import PROTOCOL_VERSION, Hello
from gateway.replay import JournalRead, ReplayRunner
from venues.ouch.codec import encode_message
from venues.ouch.messages import OrderAccepted, OrderCanceled, OrderExecuted
from venues.ouch.soupbin import encode_sequenced

PAGE = os.sysconf("SC_PAGE_SIZE")
SLOW_CONSUMER_BYTES = 8 * 1024 * 1024


def memory_limits(rate: int) -> Callable[[Path], Path]:
    """Return a writer of the bench limits with every order and cancel rate limit set to ``rate`` per second."""

    def write(directory: Path) -> Path:
        path = bench_limits(directory)
        doc = yaml.safe_load(path.read_text())
        for key in ("orders_per_s", "cancels_per_s"):
            doc["defaults"][key] = dict.fromkeys(doc["defaults"][key], rate)
        path.write_text(yaml.safe_dump(doc, sort_keys=False))
        return path

    return write


def rss_bytes() -> int:
    """Return this process's resident set size."""
    with open("/proc/self/statm", "rb") as fh:
        return int(fh.read().split()[1]) * PAGE


def anon_bytes() -> int:
    """Return the anonymous part of the resident set (the heap: not the journal's file mapping)."""
    with open("/proc/self/status", "rb") as fh:
        for line in fh:
            if line.startswith(b"RssAnon:"):
                return int(line.split()[1]) * 1024
    return 0


class MemoryRig(Rig):
    """The hot-path rig whose venue answers every order with Accepted and then a fill or a cancel."""

    fills_only = False
    """Fill every order (else orders 0, 1 mod 4 are filled and the others canceled by the venue)."""

    def answers_for_wire(self) -> bytes:
        """Return Sequenced Data packets: Accepted, then Executed (orders 0, 1 mod 4) or Canceled, per Enter Order."""
        out = []
        for data in self.wire:
            pos = 0
            while pos < len(data):
                length = int.from_bytes(data[pos : pos + 2], "big")
                packet = data[pos + 2 : pos + 2 + length]
                pos += 2 + length
                if packet[:2] != b"UO":
                    continue
                urn = int.from_bytes(packet[2:6], "big")
                side = chr(packet[6])
                price = int.from_bytes(packet[19:27], "big")
                self.orn += 1
                accepted = OrderAccepted(
                    34_200_000_000_000, urn, side, QTY, SYMBOL, price, "0", "Y", self.orn, "A", "N", "N", "L",
                    packet[30:44].decode().strip(),
                )  # fmt: skip
                out.append(encode_sequenced(encode_message(accepted)))
                if self.fills_only or self.orn % 4 < 2:
                    done: object = OrderExecuted(34_200_000_000_001, urn, QTY, price, "A", self.orn)
                else:
                    done = OrderCanceled(34_200_000_000_001, urn, QTY, "U")
                out.append(encode_sequenced(encode_message(done)))  # type: ignore[arg-type]
        self.wire.clear()
        return b"".join(out)


class BufferingLink(Link):
    """A strategy connection that can stop reading: its bytes pile up as in a transport's buffer."""

    def __init__(self, now_ns: int) -> None:
        super().__init__(now_ns)
        self.reading = True
        self.unread = bytearray()

    def write_buffer_size(self) -> int:
        return 0

    def write_out(self, data: bytearray) -> None:
        self.written += len(data)
        if not self.reading:
            self.unread += data

    def set_replaying(self, replaying: bool) -> None:
        """Note a long replay (the engine's sliced writing calls it; nothing to do here)."""


class SyncReplay:
    """``gateway run``'s replay path without a loop: a step of the shared runner, then the engine's scheduled slices.

    The engine's ``replay_reader`` (``submit``/``cancel``/``resume``) and ``replay_scheduler`` (``schedule``).
    """

    def __init__(self) -> None:
        self.runner = ReplayRunner()
        self.callbacks: deque[Callable[[], None]] = deque()

    def submit(self, read: JournalRead) -> None:
        self.runner.submit(read)

    def cancel(self, read: JournalRead) -> None:
        self.runner.cancel(read, close_now=True)

    def resume(self, read: JournalRead) -> None:
        self.runner.resume(read)  # absent before replay41: never called by an older engine

    def schedule(self, callback: Callable[[], None], delay: float) -> None:
        self.callbacks.append(callback)

    def drain(self, on_turn: Callable[[], None] | None = None) -> int:
        """Run steps and callbacks in turn until nothing is left; return the turns."""
        turns = 0
        runner = self.runner
        callbacks = self.callbacks
        while runner.busy or callbacks:
            finished = runner.step()
            if finished is not None and not finished[0].cancelled:
                finished[0].done(finished[1])
            for _ in range(len(callbacks)):
                callbacks.popleft()()
            turns += 1
            if on_turn is not None:
                on_turn()
        return turns


def counts(rig: Rig) -> dict[str, int]:
    """Return the sizes of what the gateway keeps per order (engine, strategy state, OUCH adapter)."""
    engine = rig.engine
    out = {
        "engine.orders": len(engine.orders),
        "engine.open_orders": len(engine.open_orders),
        "strategy.orders": sum(len(st.orders) for st in engine.strategies.values()),
        "strategy.events": sum(len(st.events) for st in engine.strategies.values()),
    }
    out["strategy.released_ids"] = sum(len(st.released) for st in engine.strategies.values())
    out["released_ids_bytes"] = engine.released_ids.nbytes  # one table for the gateway
    out["released_ids_grown"] = engine.released_ids.grown
    risk = engine.risk
    windows = (*risk._order_windows, *risk._cancel_windows)  # type: ignore[attr-defined]
    out["risk.window_times"] = sum(len(w) for by_key in windows for w in by_key.values())
    venue = rig.venue
    for name in ("_chains", "_refs", "_inflight", "_replace_refs", "_restored"):
        value = getattr(venue, name, None)
        if value is not None:
            out[f"ouch.{name.lstrip('_')}"] = len(value)
    return out


JOURNAL_CHECK_NS = 250_000_000
"""As ``gateway run``'s journal check (``JOURNAL_FILE_CHECK_S``): the journal's written pages are released then."""


class JournalTimer:
    """``gateway run``'s 0.25 s journal check, as far as memory goes: release the journal's written pages."""

    def __init__(self, journal: object, release: bool) -> None:
        self.release_pages = getattr(journal, "release_pages", None) if release else None
        self.grow_ahead = getattr(journal, "grow_ahead", None) if release else None
        self.due = time.monotonic_ns() + JOURNAL_CHECK_NS
        self.calls = 0

    def tick(self, now: int) -> None:
        """Release every written page behind the write position (one step per loop turn in ``gateway run``)."""
        if now < self.due or self.release_pages is None:
            return
        self.due = now + JOURNAL_CHECK_NS
        while self.release_pages():
            self.calls += 1
        self.calls += 1
        if self.grow_ahead is not None:
            self.grow_ahead()


def drive(rig: MemoryRig, start: int, count: int, batch: int, timer: JournalTimer | None = None) -> None:
    """Send ``count`` orders from index ``start`` in reads of ``batch``, each answered and closed by the venue."""
    engine = rig.engine
    clock = time.monotonic_ns
    for i in range(start, start + count, batch):
        engine.link_data(rig.link, rig.frames(i, min(batch, start + count - i)), clock())  # type: ignore[arg-type]
        rig.venue.data_received(rig.answers_for_wire(), clock())
        engine.flush()
        if timer is not None:
            timer.tick(clock())


def far_replay(rig: MemoryRig, on_turn: Callable[[], None] | None = None) -> int:
    """Reconnect the strategy with last_seq 0 and read its whole replay (as ``gateway run``); return its events."""
    engine = rig.engine
    clock = time.monotonic_ns
    before = engine.strategies["bench"].next_seq - 1
    engine.link_closed(rig.link)  # type: ignore[arg-type]
    link = BufferingLink(clock())
    replay = SyncReplay()
    engine.replay_reader = replay
    engine.replay_scheduler = replay.schedule
    try:
        engine.link_opened(link)  # type: ignore[arg-type]
        engine.link_data(link, encode_frame(Hello("bench", PROTOCOL_VERSION, 0, 60_000)), clock())  # type: ignore[arg-type]
        replay.drain(on_turn)
    finally:
        engine.replay_reader = None
        engine.replay_scheduler = None
    assert link.session.state.value == "ACTIVE", link.session.close_reason
    rig.link = link
    return before


def replay_peak(rig: MemoryRig) -> dict[str, int | float]:
    """Measure one far replay alone: CPU per event and anonymous RSS; then another's Python heap peak."""
    gc.collect()
    anon_before = anon_bytes()
    highest = [anon_before]
    turns = [0]

    def sample() -> None:
        turns[0] += 1
        if turns[0] % 8 == 0:
            highest[0] = max(highest[0], anon_bytes())

    cpu = time.thread_time()
    events = far_replay(rig, sample)
    cpu = time.thread_time() - cpu
    gc.collect()
    anon_after = anon_bytes()
    tracemalloc.start()
    level = tracemalloc.get_traced_memory()[0]
    tracemalloc.reset_peak()
    far_replay(rig)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {
        "events": events,
        "cpu_s": round(cpu, 3),
        "cpu_us_per_event": round(cpu * 1e6 / events, 2),
        "anon_before": anon_before,
        "anon_highest": highest[0],
        "anon_after": anon_after,
        "tracemalloc_peak_over_level": peak - level,
    }


def _at(samples: list[tuple[int, int]], orders: int) -> int:
    """Return the first sample at or after ``orders`` (the last one if none)."""
    return next((value for n, value in samples if n >= orders), samples[-1][1])


def slope(samples: list[tuple[int, int]]) -> float:
    """Return the least-squares slope of (orders, rss) samples in bytes per order."""
    n = len(samples)
    if n < 2:
        return 0.0
    mx = sum(x for x, _ in samples) / n
    my = sum(y for _, y in samples) / n
    sxx = sum((x - mx) ** 2 for x, _ in samples)
    return sum((x - mx) * (y - my) for x, y in samples) / sxx if sxx else 0.0


def slow_consumer(rig: MemoryRig, batch: int, start: int) -> dict[str, int]:
    """Stop reading until 8 MiB pile up, cut the strategy off, reconnect with its last seq, drain; RSS around it."""
    engine = rig.engine
    clock = time.monotonic_ns
    st = engine.strategies["bench"]
    gc.collect()
    before = rss_bytes()
    anon_before = anon_bytes()
    last_read = st.next_seq - 1
    link = BufferingLink(clock())
    engine.link_closed(rig.link)  # type: ignore[arg-type]
    engine.link_opened(link)  # type: ignore[arg-type]
    engine.link_data(link, encode_frame(Hello("bench", PROTOCOL_VERSION, last_read, 60_000)), clock())  # type: ignore[arg-type]
    rig.link = link
    link.reading = False
    index = start
    while len(link.unread) < SLOW_CONSUMER_BYTES:
        drive(rig, index, batch, batch)
        index += batch
    piled = len(link.unread)
    peak = rss_bytes()
    engine.link_closed(link)  # type: ignore[arg-type]  # cut off as a slow consumer
    link.unread = bytearray()
    again = BufferingLink(clock())
    again.reading = False  # the replay is kept (as the transport's buffer would), then read
    engine.link_opened(again)  # type: ignore[arg-type]
    engine.link_data(again, encode_frame(Hello("bench", PROTOCOL_VERSION, last_read, 60_000)), clock())  # type: ignore[arg-type]
    replay = len(again.unread)
    replay_peak = rss_bytes()
    again.unread = bytearray()  # drained
    again.reading = True
    rig.link = again
    drive(rig, index, 10_000, batch)  # trading goes on
    index += 10_000
    gc.collect()
    after = rss_bytes()
    return {
        "anon_before": anon_before,
        "anon_after": anon_bytes(),
        "orders_during": index - start,
        "unread_bytes": piled,
        "replay_bytes": replay,
        "rss_before": before,
        "rss_peak": max(peak, replay_peak),
        "rss_after": after,
        "next_index": index,
    }


def run(
    orders: int,
    warmup: int,
    every: int,
    batch: int,
    slow: bool,
    rate: int = 1_000_000,
    mmap_threshold: int = 1 << 20,
    fills_only: bool = False,
    far_replay_every: int = 0,
    peak: bool = False,
    journal_dir: str = "",
    release: bool = True,
) -> dict[str, object]:
    set_mmap_threshold(mmap_threshold)  # as ``gateway run`` does (memory.malloc_mmap_threshold)
    base_dir = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else "/tmp"
    workdir = Path(tempfile.mkdtemp(prefix="gwmem", dir=journal_dir or base_dir))
    bench_hotpath.bench_limits = memory_limits(rate)  # type: ignore[attr-defined,assignment]  # Rig writes its limits with it
    rig = MemoryRig(workdir)
    rig.fills_only = fills_only
    timer = JournalTimer(rig.engine.journal, release)
    drive(rig, 0, warmup, batch, timer)
    gc.collect()
    gc.freeze()
    gc.set_threshold(700, 10, 2**31 - 1)  # gateway run's policy: young collections, no full ones
    start_rss = rss_bytes()
    samples: list[tuple[int, int]] = [(0, start_rss)]
    anon: list[tuple[int, int]] = [(0, anon_bytes())]
    journal_path = Path(getattr(rig.engine.journal, "path", ""))
    mapped: list[tuple[int, int]] = [(0, mapping_rss(journal_path))]
    t0 = time.perf_counter()
    index = warmup
    done = 0
    replays = replayed = 0
    while done < orders:
        step = min(every, orders - done)
        drive(rig, index, step, batch, timer)
        index += step
        done += step
        if far_replay_every and done % far_replay_every < step:
            replayed += far_replay(rig)
            replays += 1
        samples.append((done, rss_bytes()))
        anon.append((done, anon_bytes()))
        mapped.append((done, mapping_rss(journal_path)))
    seconds = time.perf_counter() - t0
    engine = rig.engine
    counters = engine.counters
    assert counters.rejected_risk == 0 and counters.rejected_gateway == 0, counters
    assert not engine.open_orders, len(engine.open_orders)
    at_100k = next((rss for n, rss in samples if n >= 100_000), samples[-1][1])
    n_100k = min(100_000, done)
    tail = [(n, rss) for n, rss in samples if n >= 100_000]
    result: dict[str, object] = {
        "python": sys.version.split()[0],
        "orders": orders,
        "warmup": warmup,
        "seconds": round(seconds, 1),
        "rss_start": start_rss,
        "rss_100k": at_100k,
        "rss_end": samples[-1][1],
        "bytes_per_order_100k": round((at_100k - start_rss) / n_100k, 1),
        "bytes_per_order_run": round((samples[-1][1] - start_rss) / done, 1),
        "slope_after_100k": round(slope(tail), 2) if len(tail) >= 2 else None,
        "rss_growth_after_100k": samples[-1][1] - at_100k,
        "anon_start": anon[0][1],
        "anon_end": anon[-1][1],
        "anon_bytes_per_order_100k": round((_at(anon, 100_000) - anon[0][1]) / n_100k, 1),
        "anon_slope_after_100k": round(slope([a for a in anon if a[0] >= 100_000]), 2)
        if len([a for a in anon if a[0] >= 100_000]) >= 2
        else None,
        "journal_rss_start": mapped[0][1],
        "journal_rss_end": mapped[-1][1],
        "journal_rss_highest": max(m for _, m in mapped),
        "journal_pages_released": release and timer.release_pages is not None,
        "journal_release_calls": timer.calls,
        "journal_dir": str(workdir.parent),
        "counts": counts(rig),
        "fills_only": fills_only,
        "far_replays": replays,
        "far_replayed_events": replayed,
        "journal_bytes": engine.journal.bytes_written,
    }
    if peak:
        result["replay_peak"] = replay_peak(rig)
    if slow:
        result["slow_consumer"] = slow_consumer(rig, batch, index)
        result["counts_after_slow"] = counts(rig)
    engine.journal.close()
    shutil.rmtree(workdir, ignore_errors=True)  # tmpfs: the journal is memory
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--orders", type=int, default=100_000, help="orders after the warm-up")
    parser.add_argument("--warmup", type=int, default=60_000, help="orders before the measurement")
    parser.add_argument("--rate-limit", type=int, default=1_000_000, help="risk order and cancel limits, per second")
    parser.add_argument(
        "--mmap-threshold", type=int, default=1 << 20, help="glibc mmap threshold as gateway run sets it (0: default)"
    )
    parser.add_argument("--every", type=int, default=10_000, help="orders between two RSS samples")
    parser.add_argument("--batch", type=int, default=64, help="orders per strategy read")
    parser.add_argument("--slow", action="store_true", help="add the slow-consumer episode after the run")
    parser.add_argument("--fills-only", action="store_true", help="fill every order (default: half of them)")
    parser.add_argument(
        "--far-replay-every", type=int, default=0, help="reconnect with last_seq 0 and read the replay every N orders"
    )
    parser.add_argument(
        "--replay-peak", action="store_true", help="after the run, measure one far replay alone (CPU, RSS, heap peak)"
    )
    parser.add_argument(
        "--journal-dir", default="", help="where the journal is written (default /dev/shm: its pages count as RssShmem)"
    )
    parser.add_argument(
        "--no-release", action="store_true", help="never release the journal's written pages (as before stop 43)"
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = run(
        args.orders,
        args.warmup,
        args.every,
        args.batch,
        args.slow,
        args.rate_limit,
        args.mmap_threshold,
        args.fills_only,
        args.far_replay_every,
        args.replay_peak,
        args.journal_dir,
        not args.no_release,
    )
    if args.json:
        print(json.dumps(result))
        return 0
    mib = 1 << 20
    print(f"python {result['python']}; {args.orders:,} orders after {args.warmup:,} of warm-up; {result['seconds']} s")
    print(
        f"RSS start {result['rss_start'] / mib:.1f} MiB, at 100k {result['rss_100k'] / mib:.1f} MiB, "  # type: ignore[operator]
        f"end {result['rss_end'] / mib:.1f} MiB"  # type: ignore[operator]
    )
    print(
        f"anonymous RSS (the heap; RSS also maps the journal file): start {result['anon_start'] / mib:.1f} MiB, "  # type: ignore[operator]
        f"end {result['anon_end'] / mib:.1f} MiB, {result['anon_bytes_per_order_100k']} B/order over the first "  # type: ignore[operator]
        f"100k, slope after 100k {result['anon_slope_after_100k']} B/order"
    )
    print(
        f"journal mapping's resident pages (smaps, journal in {result['journal_dir']}; released: "
        f"{result['journal_pages_released']}, {result['journal_release_calls']} release calls): "
        f"start {result['journal_rss_start'] / mib:.1f} MiB, end {result['journal_rss_end'] / mib:.1f} MiB, "  # type: ignore[operator]
        f"highest {result['journal_rss_highest'] / mib:.1f} MiB"  # type: ignore[operator]
    )
    print(f"total RSS (anon + file + shmem) bytes/order over the first 100k: {result['bytes_per_order_100k']}")
    print(f"total RSS bytes/order over the run:                            {result['bytes_per_order_run']}")
    print(
        f"total RSS slope after 100k:                                    {result['slope_after_100k']} B/order "
        f"(RSS growth after 100k: {result['rss_growth_after_100k'] / mib:.1f} MiB)"  # type: ignore[operator]
    )
    if result["far_replays"]:
        n, events = result["far_replays"], result["far_replayed_events"]
        print(f"far replays (last_seq 0): {n}, {events:,} events rebuilt in all")
    peak = result.get("replay_peak")
    if isinstance(peak, dict):
        print(
            f"one far replay of {peak['events']:,} events: CPU {peak['cpu_s']} s "
            f"({peak['cpu_us_per_event']} us/event); "
            f"anonymous RSS {peak['anon_before'] / mib:.1f} MiB before, highest {peak['anon_highest'] / mib:.1f}, "
            f"after {peak['anon_after'] / mib:.1f}; Python heap peak (tracemalloc) "
            f"+{peak['tracemalloc_peak_over_level'] / mib:.1f} MiB"
        )
    print("kept at the end: " + ", ".join(f"{k} {v:,}" for k, v in result["counts"].items()))  # type: ignore[attr-defined]
    slow = result.get("slow_consumer")
    if isinstance(slow, dict):
        print(
            f"slow consumer: {slow['unread_bytes'] / mib:.1f} MiB unread over {slow['orders_during']:,} orders, "
            f"replay {slow['replay_bytes'] / mib:.1f} MiB; RSS before {slow['rss_before'] / mib:.1f} MiB, "
            f"peak {slow['rss_peak'] / mib:.1f} MiB, after the drain {slow['rss_after'] / mib:.1f} MiB "
            f"(+{(slow['rss_after'] - slow['rss_before']) / mib:.1f} MiB); anonymous "
            f"+{(slow['anon_after'] - slow['anon_before']) / mib:.1f} MiB"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

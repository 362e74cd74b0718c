"""The loop time of rebuilding a released order from the journal (``gateway.replay.rebuild_order``), filtered or not.

A fill for an order released from memory makes the engine read the order back on the event loop, from the
index position at or before its creation to the journal's end (``Engine._released_order``). This builds a
journal of ``--records`` records (default 100,000 and 1,000,000): the order's life first (created by a
version-3 request, accepted, partly filled, cancelled, then a fill after its end), then other strategies'
orders (a request creating each, its acceptance and its fill: three records per order) up to the total, and a
second late fill of the order at the very end. It then rebuilds the order from the journal's start the old way
(every record decoded: ``select=False``, main's loop) and the new way (other records passed over by their
first bytes, CRC still checked: ``select=True``), alternating, ``--repeats`` times each, and prints wall and
thread CPU time per rebuild (best and median) and the records decoded and passed over. Both must give the
same order (checked). Timing on a shared machine is indicative only: compare the two in the same run.

Run: ``.venv/bin/python -m benchmarks.bench_rebuild [--records 100000 1000000] [--repeats 5]``
"""

from __future__ import annotations

import argparse
import statistics
import struct
import sys
import tempfile
import time
import zlib
from pathlib import Path

import msgspec

from gateway.entitlements import StrategyEntitlement
from gateway.journal import FileJournal, JournalReader, JournalRecord, JRequest, JVenueApplied, read_journal
from gateway.replay import rebuild_order
from model.fsync import FsyncPolicy
from model.venue_events import VenueExecuted
from tests.harness import Rig

ORDER_ID = 1
"""The order rebuilt (the first of the day)."""


def _template(workdir: Path) -> tuple[list[JournalRecord], list[JournalRecord]]:
    """Return (order 1's records, one other order's records: request, acceptance, fill) from a real engine."""
    path = workdir / "template.journal"
    path.unlink(missing_ok=True)
    journal = FileJournal(path, fsync=FsyncPolicy.NONE)
    rig = Rig(
        journal=journal,
        strategies={
            "S1": StrategyEntitlement(accounts=["ACC1"], uids=[1000]),
            "S2": StrategyEntitlement(accounts=["ACC2"], uids=[1000]),
        },
    )
    s1 = rig.connect("S1", version=3)
    rig.new_order(s1, "A", qty=100)
    rig.venue.accept(1, 1_000_000)
    rig.venue.fill(1, 20, 1_000_000)
    rig.venue.cancel(1)
    rig.venue.emit(VenueExecuted(rig.venue._next(), 1, 10, 1_000_100, "A", "LATE1"))
    rig.engine.flush()
    s2 = rig.connect("S2", version=3)
    rig.new_order(s2, "B", qty=100, account="ACC2")
    rig.venue.accept(2, 1_000_000)
    rig.venue.fill(2, 100, 1_000_000)
    rig.engine.flush()
    journal.close()
    records = list(read_journal(path))
    own = [r for r in records if _order_of(r) == 1]
    other = [r for r in records if _order_of(r) == 2]
    assert len(other) == 3, other
    return own, other


def _order_of(record: object) -> int:
    rec = record.record if isinstance(record, JRequest) else record
    if isinstance(rec, JVenueApplied) or type(rec).__name__ == "JVenueEvent":
        return int(rec.event.order_id)  # type: ignore[attr-defined]
    return int(getattr(rec, "order_id", -1))


def _renumbered(record: JournalRecord, order_id: int) -> JournalRecord:
    """Return ``record`` (another order's) about order ``order_id`` instead."""
    replace = msgspec.structs.replace
    if isinstance(record, JRequest):
        assert record.record is not None
        inner = replace(record.record, order_id=order_id, cl_ord_id=f"B{order_id}")
        return replace(record, record=inner, req_seq=order_id)
    assert isinstance(record, JVenueApplied)
    return replace(record, event=replace(record.event, order_id=order_id))


def _frame(payload: bytes) -> bytes:
    return struct.pack(">II", len(payload), zlib.crc32(payload)) + payload


def build(path: Path, total: int, workdir: Path) -> None:
    """Write a journal of about ``total`` records: order 1's life, others' orders, a late fill of order 1 last."""
    own, other = _template(workdir)
    encode = msgspec.msgpack.encode
    late = own[-1]
    with open(path, "wb") as fh:
        for rec in own:
            fh.write(_frame(encode(rec)))
        order_id = 2
        written = len(own)
        chunk: list[bytes] = []
        while written < total - 1:
            for rec in other:
                chunk.append(_frame(encode(_renumbered(rec, order_id))))
            written += len(other)
            order_id += 1
            if len(chunk) >= 30_000:
                fh.write(b"".join(chunk))
                chunk.clear()
        fh.write(b"".join(chunk))
        fh.write(_frame(encode(late)))  # the same late fill again at the end: the rebuild must reach it


def main(argv: list[str] | None = None) -> int:
    """Build each journal, then time the rebuild of order 1 both ways, alternating."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench_rebuild_") as tmp:
        workdir = Path(tmp)
        for total in args.records:
            path = workdir / f"day{total}.journal"
            build(path, total, workdir)
            times: dict[bool, list[tuple[float, float]]] = {False: [], True: []}
            results: dict[bool, tuple[bytes, int, int]] = {}
            for _ in range(args.repeats):
                for select in (False, True):
                    reader = JournalReader(path, 0)
                    wall0, cpu0 = time.perf_counter(), time.thread_time()
                    order, decoded = rebuild_order(reader, ORDER_ID, select=select)
                    times[select].append((time.perf_counter() - wall0, time.thread_time() - cpu0))
                    results[select] = (msgspec.msgpack.encode(order), decoded, reader.skipped)
            if results[False][0] != results[True][0]:
                print(f"bench_rebuild: the two rebuilds differ for {total} records", file=sys.stderr)
                return 1
            for select in (False, True):
                walls = sorted(w for w, _c in times[select])
                cpus = sorted(c for _w, c in times[select])
                _o, decoded, skipped = results[select]
                name = "filtered (new)" if select else "every record decoded (old)"
                print(
                    f"{total:>9,} records, {name:27}: wall best {walls[0] * 1e3:8.1f} ms, median "
                    f"{statistics.median(walls) * 1e3:8.1f} ms; CPU best {cpus[0] * 1e3:8.1f} ms, median "
                    f"{statistics.median(cpus) * 1e3:8.1f} ms; decoded {decoded:,}, passed over {skipped:,} "
                    f"({statistics.median(cpus) / max(1, decoded + skipped) * 1e9:.0f} ns CPU per record)"
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Start-up (crash recovery) time for a journal of 1,000,000 records, as ``gateway run`` does it.

What is measured: ``GatewayProcess.recover()`` on a built process (real risk engine with the
deployed example limits, real OUCH adapter and its UserRefNum store): read and CRC-check every
record, replay it into the engine (orders, per-strategy event logs, risk exposure), hand the
open orders' venue references to the adapter, open the journal for appending. Also, apart, the
read + decode alone. The journal is a realistic day: per order, created -> sent -> accepted
(venue event + strategy event) -> filled (partly in two fills) or canceled (cancel sent, venue
event, strategy event) or still open; 3% refused by risk; two strategies, two accounts.

    .venv/bin/python -m benchmarks.bench_recovery                 # 1,000,000 records, 3 runs
    .venv/bin/python -m benchmarks.bench_recovery --records 200000 --runs 1
"""

from __future__ import annotations

import argparse
import gc
import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from gateway.app import GatewayProcess, journal_path
from gateway.config import GatewayConfig, JournalConfig
from gateway.entitlements import StrategyEntitlement
from gateway.journal import (
    FileJournal,
    JOrderCreated,
    JOrderRefused,
    JSentCancel,
    JSentNew,
    JStrategyEvent,
    JVenueEvent,
    read_journal,
)
from gateway.protocol.messages import Canceled, Executed, OrderAccepted, OrderRejected
from model.enums import OrderType, RejectSource, Side, TimeInForce
from model.fsync import FsyncPolicy
from model.venue_events import VenueAccepted, VenueCanceled, VenueExecuted
from tests.e2e.support import e2e_limits

SYMBOLS = {"AAPL": 2_301_000, "MSFT": 4_205_500, "SPY": 5_802_500, "NVDA": 1_356_000}


def write_day(path: Path, records: int, seed: int = 1) -> dict[str, int]:
    """Write a realistic journal of about ``records`` records; return what it holds."""
    rng = random.Random(seed)
    journal = FileJournal(path, fsync=FsyncPolicy.NONE)
    seqs = {"S1": 0, "S2": 0}
    stats = {"orders": 0, "open": 0, "filled": 0, "canceled": 0, "refused": 0}
    venue_seq = 0
    urn = 0
    order_id = 0
    written = 0

    def strategy_event(sid: str, event: object) -> None:
        journal.append(JStrategyEvent(sid, event))  # type: ignore[arg-type]

    while written < records:
        order_id += 1
        sid = "S1" if order_id % 2 else "S2"
        account = "ACC1" if sid == "S1" else "ACC2"
        symbol = rng.choice(list(SYMBOLS))
        price = SYMBOLS[symbol] - rng.randint(0, 100) * 100
        qty = rng.randint(1, 20) * 100
        cl = f"{sid}-{order_id}"
        side = Side.BUY if rng.random() < 0.5 else Side.SELL
        day, limit = TimeInForce.DAY, OrderType.LIMIT
        journal.append(JOrderCreated(order_id, sid, cl, account, "OUCH", symbol, side, qty, price, day, limit, 0))
        stats["orders"] += 1
        roll = rng.random()
        if roll < 0.03:
            journal.append(JOrderRefused(order_id))
            seqs[sid] += 1
            strategy_event(sid, OrderRejected(seqs[sid], cl, RejectSource.RISK, "MAX_ORDER_QTY", "qty 2000 > max 1000"))
            stats["refused"] += 1
            written += 3
            continue
        urn += 1
        journal.append(JSentNew(order_id, str(urn)))
        venue_seq += 1
        journal.append(JVenueEvent("OUCH", VenueAccepted(venue_seq, order_id, str(100_000_000 + urn), qty, price)))
        seqs[sid] += 1
        strategy_event(sid, OrderAccepted(seqs[sid], cl, str(100_000_000 + urn), qty, price))
        written += 4
        if roll < 0.05:
            stats["open"] += 1
            continue
        if roll < 0.55:
            fills = [qty] if rng.random() < 0.7 else [qty // 2, qty - qty // 2]
            cum = 0
            for fill in fills:
                cum += fill
                venue_seq += 1
                match = f"M{venue_seq}"
                journal.append(JVenueEvent("OUCH", VenueExecuted(venue_seq, order_id, fill, price, "A", match)))
                seqs[sid] += 1
                strategy_event(sid, Executed(seqs[sid], cl, fill, price, "A", match, cum, qty - cum))
                written += 2
            stats["filled"] += 1
        else:
            journal.append(JSentCancel(order_id))
            venue_seq += 1
            journal.append(JVenueEvent("OUCH", VenueCanceled(venue_seq, order_id, qty, "U", "user requested")))
            seqs[sid] += 1
            strategy_event(sid, Canceled(seqs[sid], cl, qty, 0, "U", "user requested"))
            written += 3
            stats["canceled"] += 1
        if order_id % 5000 == 0:
            journal.flush()
    journal.close()
    stats["records"] = written
    stats["bytes"] = path.stat().st_size
    return stats


def make_process(workdir: Path) -> GatewayProcess:
    """A gateway process built from a config in ``workdir`` (risk, OUCH venue, entitlements)."""
    config = GatewayConfig(
        gateway_id="bench",
        strategy_socket=str(workdir / "s.sock"),
        admin_socket=str(workdir / "a.sock"),
        risk_limits=str(e2e_limits(workdir)),
        risk_audit_log=str(workdir / "audit.jsonl"),
        journal=JournalConfig(directory=str(workdir / "journal"), fsync=FsyncPolicy.NONE),
        strategies={
            "S1": StrategyEntitlement(accounts=["ACC1"]),
            "S2": StrategyEntitlement(accounts=["ACC2"]),
        },
        venues=[
            {
                "protocol": "ouch",
                "name": "OUCH",
                "host": "127.0.0.1",
                "port": 9,
                "username": "USER",
                "password": "PASS",
                "state_dir": str(workdir / "ouch"),
            }
        ],
        base_dir=str(workdir),
    )
    process = GatewayProcess(config)
    process.build()
    return process


def main() -> None:
    """Write the journal once, then time recovery ``--runs`` times, each in a freshly built process."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="gwbench-recovery"))
    try:
        probe = make_process(workdir)
        path = journal_path(probe.config)
        path.parent.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        stats = write_day(path, args.records)
        print(
            f"journal: {stats['records']:,} records, {stats['bytes'] / 1e6:.1f} MB, {stats['orders']:,} orders "
            f"({stats['filled']:,} filled, {stats['canceled']:,} canceled, {stats['refused']:,} refused, "
            f"{stats['open']:,} open); written in {time.perf_counter() - started:.1f} s"
        )
        original = path.read_bytes()
        reads, recoveries = [], []
        for _ in range(args.runs):
            gc.collect()
            started = time.perf_counter()
            count = sum(1 for _ in read_journal(path))
            reads.append(time.perf_counter() - started)
            assert count == stats["records"], (count, stats["records"])
            process = make_process(workdir)
            gc.collect()
            started = time.perf_counter()
            process.recover()
            recoveries.append(time.perf_counter() - started)
            assert process.engine is not None
            assert len(process.engine.open_orders) == stats["open"], len(process.engine.open_orders)
            assert process.recovery["records"] == stats["records"]
            process.journal.close()
            path.write_bytes(original)
        print(f"read + CRC + decode only : median {statistics.median(reads):.2f} s  (runs: {_fmt(reads)})")
        median = statistics.median(recoveries)
        print(
            f"full recovery (start-up): median {median:.2f} s  (runs: {_fmt(recoveries)}), "
            f"{stats['records'] / median / 1e3:,.0f} k records/s"
        )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _fmt(values: list[float]) -> str:
    return ", ".join(f"{v:.2f}" for v in values)


if __name__ == "__main__":
    main()

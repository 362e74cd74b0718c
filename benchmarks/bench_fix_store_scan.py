"""How long does a restarted FIX venue's first connection hold the event loop? (fixfix46)

At its first connection a restarted ``FixVenue`` takes back from its message store the status questions still out
about open orders (``_questions_from_store``). This builds a ``FileStore`` of ``--messages`` stored messages (new
orders, every ``--every``-th an OrderStatusRequest about the order before it), reopens it as a restart does, restores
``--open`` orders (the newest; a third of them with a question stored), then runs an asyncio loop with a 1 ms ticker
and makes the first connection on it, polling the venue as the connector does until the store's search ends (on a
checkout before fixfix46 the connection call does it all). Printed: the time from the connection to the questions
taken back, the ticker's longest gap (the loop's longest stall) meanwhile, the questions taken back, and the
longest gap of an equal window with no connection (this machine's noise). Broker dialect (OrderStatusRequest).
Pure Python or compiled as the environment says.

Run: ``.venv/bin/python -m benchmarks.bench_fix_store_scan [--messages 200000] [--open 50] [--repeat 5] [--json]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path

from model.clock import FakeClock
from model.enums import OrderType, Side, TimeInForce
from model.order import Order, OrderState
from venues.fix.adapter import FixVenue
from venues.fix.config import FixVenueConfig, StoreKind, session_config
from venues.fix.dialect import load_dialect
from venues.fix.store.file import FileStore

WALL_OFFSET_NS = 1_704_189_600_000_000_000 - 1_000_000_000


def _order(order_id: int) -> Order:
    order = Order(
        order_id,
        "S1",
        f"C{order_id}",
        "ACC1",
        "FIXV",
        "MSFT",
        Side.BUY,
        100,
        1_500_000,
        TimeInForce.DAY,
        OrderType.LIMIT,
    )
    order.leaves_qty = 100
    return order


def _venue(path: Path) -> FixVenue:
    dialect = load_dialect("broker-fix44")
    cfg = FixVenueConfig(name="FIXV", host="127.0.0.1", port=1, dialect="broker-fix44", store=StoreKind.FILE)
    return FixVenue(
        "FIXV", dialect, session_config(cfg, dialect), FileStore(path), FakeClock(), wall_offset_ns=WALL_OFFSET_NS
    )


def build(path: Path, messages: int, every: int, open_orders: int) -> None:
    """Write ``messages`` stored messages: new orders, every ``every``-th a status question about the last one
    (every fourth message of the last ``2 * open_orders`` too: some open orders have a question out)."""
    venue = _venue(path)
    store = venue.session.store
    templates = venue.templates
    stamp = b"20240102-10:00:00.000"
    order_id = 0
    for seq in range(1, messages + 1):
        if order_id and (seq % every == 0 or (seq > messages - 2 * open_orders and seq % 4 == 0)):
            order = _order(order_id)
            raw = templates.status_request(seq, stamp, venue._new_ref(order), order)
        else:
            order_id += 1
            order = _order(order_id)
            raw = templates.new_order(seq, stamp, venue._new_ref(order), order)
        store.save_sent(seq, raw)
    venue.close()


def restarted(path: Path, open_orders: int) -> tuple[FixVenue, int]:
    """Reopen the store, restore the newest ``open_orders`` orders (pending new: unanswered); return the venue."""
    venue = _venue(path)
    last_new = venue.order_id_floor()  # the last new order stored
    for order_id in range(max(1, last_new - open_orders + 1), last_new + 1):
        order = _order(order_id)
        order.state = OrderState.PENDING_NEW
        venue.restore(order, venue._new_ref(order).decode())
    return venue, last_new


async def _longest_gap(venue: FixVenue | None) -> tuple[float, float]:
    """Connect ``venue`` (None: nothing) on the loop among 1 ms ticks, then poll it as the connector does (its
    next poll after the wait ``poll`` returns) until the store's search ends; return (the time from the connection
    to the end of the search, the longest tick gap), ms."""
    loop = asyncio.get_running_loop()
    gaps: list[int] = []
    done: list[int] = []
    started: list[int] = []

    def polled() -> None:
        assert venue is not None
        wait = venue.poll(venue.clock())
        if getattr(venue, "_scan_cursor", -1) < 0:  # no such search before fixfix46: all done in the connection
            done.append(time.perf_counter_ns())
        else:
            loop.call_later(wait / 1e9, polled)

    def connect() -> None:
        started.append(time.perf_counter_ns())
        if venue is None:
            done.append(started[0])
            return
        venue.connection_made(venue.clock())
        loop.call_soon(polled)  # the connector polls at once after a connection

    last = time.perf_counter_ns()
    for tick in range(100):
        if tick == 20:
            loop.call_soon(connect)
        await asyncio.sleep(0.001)
        now = time.perf_counter_ns()
        gaps.append(now - last)
        last = now
    assert done, "the search did not end within the window"
    return (done[0] - started[0]) / 1e6, max(gaps) / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--open", type=int, default=50)
    parser.add_argument("--every", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "FIX.4.4-GW-BRKR.fixstore"
        build(path, args.messages, args.every, args.open)
        rows: list[dict[str, float]] = []
        questions = 0
        for _ in range(args.repeat):
            venue, _last = restarted(path, args.open)
            venue.attach(lambda data: None, lambda: None)
            connect_ms, stall_ms = asyncio.run(_longest_gap(venue))
            _, quiet_ms = asyncio.run(_longest_gap(None))
            if not args.json:
                print(
                    f"connection to questions taken {connect_ms:.1f} ms, longest gap {stall_ms:.1f} ms "
                    f"(quiet {quiet_ms:.1f} ms)"
                )
            rows.append(
                {
                    "connect_ms": connect_ms,
                    "stall_ms": stall_ms,
                    "quiet_ms": quiet_ms,
                }
            )
            questions = int(str(venue.status()["questions_open"]))
            venue.close()
    result = {
        "messages": args.messages,
        "open": args.open,
        "connect_ms_median": sorted(r["connect_ms"] for r in rows)[len(rows) // 2],
        "stall_ms_max": max(r["stall_ms"] for r in rows),
        "stall_ms_median": sorted(r["stall_ms"] for r in rows)[len(rows) // 2],
        "quiet_ms_max": max(r["quiet_ms"] for r in rows),
        "questions": questions,
    }
    if args.json:
        print(json.dumps(result))
        return
    for key, value in result.items():
        print(f"{key:18} {value:.1f}" if isinstance(value, float) else f"{key:18} {value}")


if __name__ == "__main__":
    main()

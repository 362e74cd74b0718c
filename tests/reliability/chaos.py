"""Chaos run: bursts of orders with ``gateway run`` SIGKILLed at random points and restarted, many times.

Run by the suite for a few cycles (``tests/reliability/test_chaos.py``) and standalone for the
figures in docs/reliability.md::

    .venv/bin/python -m tests.reliability.chaos --cycles 50 --seed 7

Each cycle: the strategy (one SDK client for the whole run, strategy ``S1``, policy ``keep``,
protocol version 3, ``auto_reconnect``) sends a burst of marketable, resting and IOC orders plus
cancels of orders still working; the gateway is killed with SIGKILL after a random number of
events (or before any); it is restarted; the client reconnects by itself and, from the Welcome's
``last_req_seq``, sends again exactly the requests the gateway never got (those still in the
dead socket's buffer, or read but not journaled). Nothing is probed. At the end every order is
canceled and the whole history is checked against the simulator's own record and stream: every
request answered exactly once, every order carried out once.

With a BOE venue (the default of the command line; ``--no-boe`` leaves it out) a quarter of the
orders go to ``gateway sim boe`` (venue ``CBOE``), checked against its record: no request the
venue already had (``simulators.boe.exchange.violations``), each order entered at most once and
ending as the venue has it.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from gateway.client import ConnectionState, GatewayError
from gateway.protocol.messages import CancelRejected, OrderEvent, OrderRejected
from model.enums import Side, TimeInForce
from simulators.boe.exchange import violations
from tests.reliability.support import (
    BoeSimulatorProcess,
    Gateway,
    RecordingClient,
    Simulator,
    StrategyView,
    entered_at_venue,
    final_state,
    order_ids_by_cl_ord_id,
    venue_orders,
    wait_for,
    wait_until,
    write_config,
)

RESTING = 2_290_000
BOE_VENUE = "CBOE"
MARKETABLE = 2_301_500
IOC_AWAY = 2_280_000


@dataclass
class ChaosReport:
    """What a chaos run did and found."""

    cycles: int = 0
    kills: int = 0
    requests: int = 0
    cancels_sent: int = 0
    resent: int = 0
    unanswered: int = 0
    orders_sent: int = 0
    orders_known: int = 0
    never_reached_gateway: int = 0
    events: int = 0
    replayed_after_restart: int = 0
    filled: int = 0
    canceled: int = 0
    rejected: int = 0
    venue_resends_ignored: int = 0
    boe_orders: int = 0
    """Orders sent to the BOE venue (0 without one)."""
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """Return a one-paragraph human summary."""
        return (
            f"{self.cycles} kill -9/restart cycles in {self.seconds:.1f} s: {self.requests} requests "
            f"({self.orders_sent} orders, {self.cancels_sent} cancels, 1 mass cancel), {self.resent} sent again "
            f"after restarts (the gateway never got them), requests never answered: {self.unanswered}; "
            f"{self.orders_known} orders reached the gateway ({self.filled} filled, {self.canceled} canceled, "
            f"{self.rejected} rejected), {self.never_reached_gateway} never did; {self.events} events delivered "
            f"exactly once ({self.replayed_after_restart} replayed after restarts); {self.venue_resends_ignored} "
            f"re-sent Enter Orders ignored by the venue as repeats; {self.boe_orders} orders to the BOE venue, "
            f"none sent to it twice; probing Cancels: 0; problems: {len(self.problems)}"
        )


def add_boe_venue(config: Path, port: int) -> None:
    """Add a BOE venue (``CBOE``) on ``port`` to a gateway.yaml written by ``write_config``."""
    doc = yaml.safe_load(config.read_text())
    doc["venues"].append(
        {
            "protocol": "boe",
            "name": BOE_VENUE,
            "host": "127.0.0.1",
            "port": port,
            "session_sub_id": "0001",
            "username": "USER",
            "password": "PASS",
            "state_dir": "boe",
            "reconnect_initial_ms": 20,
            "reconnect_max_ms": 200,
        }
    )
    config.write_text(yaml.safe_dump(doc))


class BoeAndOuchGateway(Gateway):
    """``gateway run`` with an OUCH and a BOE venue: up when both are."""

    def wait_up(self, timeout_s: float = 30.0) -> None:
        """Wait until the admin socket answers and both venues are UP."""

        def up() -> bool:
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"gateway exited with {self.proc.returncode}:\n{self.log_text()[-3000:]}")
            status = self.status_or_none()
            return status is not None and all(status["venues"][v]["state"] == "UP" for v in ("OUCH", BOE_VENUE))

        wait_until(up, timeout_s, "the gateway to start with its OUCH and BOE venues UP")


def _order_only(events: list[OrderEvent]) -> list[OrderEvent]:
    return [e for e in events if not isinstance(e, CancelRejected)]


class Chaos:
    """One simulator, one gateway restarted after every kill, one strategy client across all of them."""

    def __init__(
        self, workdir: Path, sim: Simulator, seed: int, burst: int = 60, boe: BoeSimulatorProcess | None = None
    ) -> None:
        self.workdir = workdir
        self.sim = sim
        self.boe = boe
        self.rng = random.Random(seed)
        self.burst = burst
        config = write_config(workdir, sim.port)
        if boe is not None:
            add_boe_venue(config, boe.port)
        self.gateway = BoeAndOuchGateway(workdir, config) if boe is not None else Gateway(workdir, config)
        self.boe_sent: set[str] = set()
        self.client = RecordingClient(
            self.gateway.socket,
            "S1",
            cl_ord_id_prefix="K-",
            auto_reconnect=True,
            reconnect_initial_s=0.02,
            reconnect_max_s=0.2,
        )
        self.canceled: set[str] = set()
        """Orders the strategy sent a Cancel for (at most one each)."""
        self.report = ChaosReport()

    def _live(self) -> list[str]:
        return [
            c
            for c, evs in StrategyView(self.client.order_events()).per_order().items()
            if _order_only(evs) and final_state(_order_only(evs))[0] == "LIVE" and c not in self.canceled
        ]

    async def _connected(self) -> None:
        """Wait for the client's next session (it reconnects by itself) and for the replay that follows the Welcome."""
        client = self.client
        if client.connections == 0:
            await client.connect()
        else:
            expected = self.report.kills + 1
            await wait_for(
                lambda: client.connections == expected and client.state is ConnectionState.CONNECTED,
                20,
                "the client to reconnect",
            )
        welcome = client.welcome
        assert welcome is not None and welcome.protocol_version == 3
        await wait_for(lambda: client.last_seq >= welcome.next_seq - 1, 15, "the replayed events")
        self.report.replayed_after_restart += welcome.replayed

    async def cycle(self) -> None:
        """Reconnect, settle what the last crash left, send a burst and kill the gateway somewhere in it."""
        client = self.client
        await self._connected()
        await self._settle()
        live = self._live()
        kill_at = self.rng.randint(0, self.burst)
        client.kill_after(kill_at, self.gateway.send_kill)
        try:
            for i in range(self.burst):
                roll = self.rng.random()
                qty = self.rng.randint(1, 500)
                venue = BOE_VENUE if self.boe is not None and self.rng.random() < 0.25 else "OUCH"
                handle = None
                if roll < 0.35:
                    handle = client.submit_nowait("ACC1", venue, "AAPL", Side.BUY, qty, price_ticks=MARKETABLE)
                elif roll < 0.75:
                    handle = client.submit_nowait("ACC1", venue, "AAPL", Side.BUY, qty, price_ticks=RESTING)
                elif roll < 0.85:
                    handle = client.submit_nowait(
                        "ACC1", venue, "AAPL", Side.BUY, qty, price_ticks=IOC_AWAY, tif=TimeInForce.IOC
                    )
                elif live:
                    target = live.pop(self.rng.randrange(len(live)))
                    await client.cancel(target)
                    self.canceled.add(target)
                if handle is not None and venue == BOE_VENUE:
                    self.boe_sent.add(handle.cl_ord_id)
                if i % 8 == 7:
                    await asyncio.sleep(0.0005)
            if kill_at == self.burst:
                await asyncio.sleep(0.01)
                self.gateway.send_kill()
        except GatewayError:
            pass  # the client saw the connection go: requests are refused until it is back
        await wait_for(lambda: not client.connected, 15, "the connection to drop after the kill")
        self.gateway.kill9()
        self.report.kills += 1

    def _unanswered(self) -> list[str]:
        """Requests with no answer yet: orders with no event at all, cancels of orders neither ended nor refused."""
        grouped = StrategyView(self.client.order_events()).per_order()
        missing = [f"NewOrder {c}" for c in self.client.orders if not grouped.get(c)]
        for cl_ord_id in self.canceled:
            events = grouped.get(cl_ord_id, [])
            orders = _order_only(events)
            ended = bool(orders) and final_state(orders)[0] in ("FILLED", "CANCELED", "REJECTED")
            if not ended and not any(isinstance(e, CancelRejected) for e in events):
                missing.append(f"Cancel {cl_ord_id}")
        return missing

    async def _settle(self) -> None:
        """Wait until every request sent so far has its answer and no order is still PENDING_NEW."""

        def settled() -> bool:
            if self._unanswered():
                return False
            grouped = StrategyView(self.client.order_events()).per_order()
            return all(final_state(_order_only(grouped[c]))[0] != "PENDING_NEW" for c in self.client.orders)

        try:
            await wait_for(settled, 20, "every request sent to be answered")
        except AssertionError:
            self.report.problems.append(f"not answered after a restart: {self._unanswered()[:20]}")

    async def finish(self) -> None:
        """Reconnect one last time, settle, cancel everything left, wait until all is terminal."""
        client = self.client
        await self._connected()
        await self._settle()
        await client.mass_cancel(timeout=20)

        def all_terminal() -> bool:
            grouped = StrategyView(client.order_events()).per_order()
            return all(
                final_state(_order_only(grouped.get(c, [])))[0] in ("FILLED", "CANCELED", "REJECTED")
                for c in client.orders
            )

        await wait_for(all_terminal, 20, "every order to be terminal")
        await client.close()

    def check(self) -> None:
        """Compare the strategy's view with the venue's record and stream; fill the report."""
        report = self.report
        problems = report.problems
        client = self.client
        view = StrategyView(client.order_events())
        try:
            view.assert_exactly_once()
        except AssertionError as exc:
            problems.append(str(exc)[:500])
        report.requests = client.req_seq
        report.cancels_sent = len(self.canceled)
        report.resent = client.resent
        unanswered = self._unanswered()
        report.unanswered = len(unanswered)
        if unanswered:
            problems.append(f"requests never answered: {unanswered[:20]}")
        twice = [
            e
            for e in view.events
            if isinstance(e, OrderRejected | CancelRejected) and e.code in ("DUPLICATE_CL_ORD_ID", "CANCEL_PENDING")
        ]
        if twice:
            problems.append(f"requests carried out twice: {twice[:5]}")
        if client.not_received or client.outcome_unknown:
            problems.append(f"requests given up: {client.not_received[:5]} {client.outcome_unknown[:5]}")
        ids = order_ids_by_cl_ord_id(self.gateway.journal(), "S1")
        entered = entered_at_venue(self.sim.records())
        report.venue_resends_ignored = sum(
            1 for r in self.sim.records() if r.type == "O" and r.outcome.startswith("ignored")
        )
        for cl_ord_id, records in entered.items():
            if len(records) > 1:
                problems.append(f"order {cl_ord_id} entered {len(records)} times at the venue")
        venue = venue_orders(self.sim.outbound())
        grouped = view.per_order()
        report.orders_sent = len(client.orders)
        report.events = len(view.events)
        boe_records = self.boe.records() if self.boe is not None else []
        boe_entered: dict[str, int] = {}
        for record in boe_records:
            if record.type == "New Order":
                oid = int(record.cl_ord_id[3:])  # <day><order id>
                boe_entered[str(oid)] = boe_entered.get(str(oid), 0) + 1
        problems.extend(f"BOE venue: {v}" for v in violations(boe_records))
        report.boe_orders = len(self.boe_sent)
        for cl_ord_id in client.orders:
            events = grouped.get(cl_ord_id, [])
            orders = _order_only(events)
            if cl_ord_id not in ids:
                report.never_reached_gateway += 1
                problems.append(f"{cl_ord_id}: sent but never reached the gateway; the strategy saw {events}")
                continue
            if cl_ord_id in self.boe_sent:
                self._check_boe(cl_ord_id, orders, boe_entered.get(str(ids[cl_ord_id]), 0))
                continue
            report.orders_known += 1
            try:
                state, cum, leaves = final_state(orders)
            except AssertionError as exc:
                problems.append(f"{cl_ord_id}: events do not add up: {exc}")
                continue
            if state in ("LIVE", "PENDING_NEW"):
                problems.append(f"{cl_ord_id}: left {state} after the final mass cancel")
            report.filled += state == "FILLED"
            report.canceled += state == "CANCELED"
            report.rejected += state == "REJECTED"
            at_venue = venue.get(ids[cl_ord_id])
            if at_venue is None:
                if state != "REJECTED":
                    problems.append(f"{cl_ord_id}: {state} for the strategy but the venue never had it")
                continue
            if at_venue.accepted + at_venue.rejected != 1:
                problems.append(f"{cl_ord_id}: venue answered the entry {at_venue.accepted + at_venue.rejected} times")
            if (cum, leaves) != (at_venue.executed, at_venue.open_qty):
                problems.append(f"{cl_ord_id}: strategy {state} cum {cum} leaves {leaves}, venue {at_venue}")
        status = self.gateway.status()
        if status["orders_open"] != 0 or status["risk"]["accounts"]["ACC1"]["open_orders"] != 0:
            problems.append(f"gateway still shows open orders: {status['orders_open']}")

    def _check_boe(self, cl_ord_id: str, orders: list[OrderEvent], entered: int) -> None:
        """One BOE order: entered at most once, terminal after the final mass cancel, fills add up."""
        report = self.report
        problems = report.problems
        report.orders_known += 1
        try:
            state, _cum, _leaves = final_state(orders)
        except AssertionError as exc:
            problems.append(f"{cl_ord_id} (BOE): events do not add up: {exc}")
            return
        if state in ("LIVE", "PENDING_NEW"):
            problems.append(f"{cl_ord_id} (BOE): left {state} after the final mass cancel")
        report.filled += state == "FILLED"
        report.canceled += state == "CANCELED"
        report.rejected += state == "REJECTED"
        if entered > 1:
            problems.append(f"{cl_ord_id} (BOE): entered {entered} times at the venue")
        if entered == 0 and state != "REJECTED":
            problems.append(f"{cl_ord_id} (BOE): {state} for the strategy but the venue never had it")

    async def run(self, cycles: int) -> ChaosReport:
        """Run ``cycles`` kill/restart cycles, finish and check."""
        started = time.monotonic()
        self.gateway.start()
        for _ in range(cycles):
            await self.cycle()
            self.gateway.start()
            self.report.cycles += 1
        await self.finish()
        self.check()
        self.report.seconds = time.monotonic() - started
        return self.report


def main(argv: list[str] | None = None) -> int:
    """Run a chaos session from the command line; exit 1 if anything was lost, duplicated or unknown."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cycles", type=int, default=50)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--burst", type=int, default=60)
    parser.add_argument("--no-boe", action="store_true", help="OUCH only: no BOE venue beside it")
    args = parser.parse_args(argv)
    from tests.e2e.support import short_tmp

    logging.getLogger("gateway.client").setLevel(logging.ERROR)  # one "reconnecting" warning per kill otherwise

    workdir = short_tmp()
    sim = Simulator(workdir)
    boe = None if args.no_boe else BoeSimulatorProcess(workdir)
    chaos = Chaos(workdir, sim, args.seed, args.burst, boe)
    try:
        report = asyncio.run(chaos.run(args.cycles))
    finally:
        chaos.gateway.stop()
        sim.stop()
        if boe is not None:
            boe.stop()
    print(report.summary())
    for problem in report.problems[:50]:
        print("PROBLEM:", problem)
    print(f"work directory (logs, journal, venue record): {workdir}")
    return 1 if report.problems else 0


if __name__ == "__main__":
    sys.exit(main())

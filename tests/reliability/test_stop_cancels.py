"""A stop (SIGTERM, `systemctl stop`) applies each strategy's disconnect policy (opsfix37).

The ops review stopped a gateway with resting orders of an ``on_disconnect: cancel`` strategy: the stop took
0.05 s and left them working at the venue. A stop now cuts every strategy off as a disconnection would, waits
(bounded by ``stop_cancel_timeout_s``) for the venue to answer the cancels, and logs what stays open.
A real gateway (``GatewayProcess``) and the real OUCH simulator over loopback TCP; the simulator's book is the
venue's truth.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import msgspec
import pytest

from gateway.app import GatewayProcess
from gateway.entitlements import StrategyEntitlement
from gateway.journal import FileJournal
from model.enums import Side
from model.order import OrderState
from model.venue_events import VenueState
from simulators.ouch.exchange import ExchangeConfig
from simulators.ouch.simulator import OuchSimulator, SimulatorConfig
from tests.e2e.support import e2e_limits, gateway_config, running_gateway, short_tmp
from tests.reliability.support import Gateway, RecordingClient, Simulator, wait_for, write_config

REFS = {"AAPL": 2_301_000}
RESTING = 2_290_000


def _strategies() -> dict[str, StrategyEntitlement]:
    uid = os.getuid()
    return {
        "S1": StrategyEntitlement(accounts=["ACC1"], uids=[uid], on_disconnect="cancel"),
        "S2": StrategyEntitlement(accounts=["ACC2"], uids=[uid], on_disconnect="keep"),
    }


async def test_stop_when_strategies_hold_resting_orders_then_cancel_policy_canceled_keep_left_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    exchange = ExchangeConfig(reference_prices=REFS)
    async with running_gateway(short_tmp(), exchange=exchange, strategies=_strategies()) as (process, sim):
        sock = Path(process.config.path(process.config.strategy_socket))
        cancel_side = RecordingClient(sock, "S1")
        keep_side = RecordingClient(sock, "S2")
        await cancel_side.connect()
        await keep_side.connect()
        for client, account in ((cancel_side, "ACC1"), (keep_side, "ACC2")):
            for i in range(3):
                handle = await client.submit(account, "OUCH", "AAPL", Side.BUY, 10 + i, price_ticks=RESTING)
                await handle.wait_accepted(15)
        assert len(sim.exchange.orders) == 6

        await process.stop()  # what SIGTERM / SIGINT lead to (request_stop, then serve returns)

        cancels = [r.outcome for r in sim.exchange.records if r.type == "X"]
        assert cancels == ["canceled"] * 3  # answered by the venue before the session ended
        assert len(sim.exchange.orders) == 3  # S2's, left working (on_disconnect keep)
        assert process.engine is not None
        assert {o.strategy_id for o in process.engine.open_orders.values()} == {"S2"}
        text = caplog.text
        assert "stop: 3 of 3 open orders of on_disconnect cancel strategies canceled at the venues" in text
        assert "stop: strategy S2: 3 orders still open at the venues at exit (on_disconnect keep: left working)" in text
        assert "strategy S1 disconnected (the gateway is stopping); 3 open orders: canceling" in text
        await cancel_side.close()
        await keep_side.close()


def test_sigterm_when_a_cancel_strategy_has_resting_orders_then_canceled_at_the_venue_and_exit_0() -> None:
    workdir = short_tmp()
    sim = Simulator(workdir)
    strategies = {"S1": {"accounts": ["ACC1"], "on_disconnect": "cancel"}}
    gateway = Gateway(workdir, write_config(workdir, sim.port, strategies=strategies))
    try:
        gateway.start()
        code = (
            "import sys\n"
            "from gateway.client import BlockingGatewayClient\n"
            "from model.enums import Side\n"
            "c = BlockingGatewayClient(sys.argv[1], 'S1'); c.__enter__()\n"
            "for i in range(3):\n"
            "    c.wait_accepted(c.submit('ACC1', 'OUCH', 'AAPL', Side.BUY, 10, '230.00'), timeout=15)\n"
            "print('ok', flush=True); sys.stdin.read()\n"
        )
        strategy = subprocess.Popen(
            [sys.executable, "-c", code, str(gateway.socket)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert strategy.stdout is not None and strategy.stdout.readline().strip() == "ok"
            assert gateway.status()["orders_open"] == 3
            assert gateway.proc is not None
            gateway.proc.send_signal(signal.SIGTERM)
            assert gateway.proc.wait(20) == 0
        finally:
            strategy.kill()
            strategy.wait(5)
        log = gateway.log_text()
        assert "stop: 3 of 3 open orders of on_disconnect cancel strategies canceled at the venues" in log
        assert "still open at the venues at exit" not in log
        gateway.start(wait_up=True)  # the restarted gateway recovers no open order
        deadline = time.monotonic() + 15
        while gateway.status()["orders_open"] and time.monotonic() < deadline:
            time.sleep(0.05)
        assert gateway.status()["orders_open"] == 0
    finally:
        gateway.stop()
        sim.stop()


async def test_stop_when_the_venue_does_not_answer_then_waits_stop_cancel_timeout_s_and_logs_what_is_open(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    exchange = ExchangeConfig(reference_prices=REFS)
    strategies = _strategies()
    async with running_gateway(short_tmp(), exchange=exchange, strategies=strategies, stop_cancel_timeout_s=0.5) as (
        process,
        sim,
    ):
        sock = Path(process.config.path(process.config.strategy_socket))
        client = RecordingClient(sock, "S1")
        await client.connect()
        for i in range(2):
            handle = await client.submit("ACC1", "OUCH", "AAPL", Side.BUY, 10 + i, price_ticks=RESTING)
            await handle.wait_accepted(15)
        for protocol in sim.protocols:
            assert protocol.transport is not None
            protocol.transport.pause_reading()  # the venue stops reading: the cancels go unanswered

        started = time.monotonic()
        await process.stop()
        took = time.monotonic() - started

        assert 0.5 <= took < 10.0  # the wait, then up to 1 s for the logout (10: a slow machine, not "for ever")
        assert len(sim.exchange.orders) == 2
        text = caplog.text
        assert "stop: 0 of 2 open orders of on_disconnect cancel strategies canceled at the venues" in text
        assert "stop: strategy S1: 2 orders still open at the venues at exit (cancel sent, no answer within 0.5 s)" in (
            text
        )
        await client.close()


async def _two_resting_then_stop_with_a_deaf_venue(
    process: GatewayProcess, sim: OuchSimulator, client: RecordingClient
) -> asyncio.Task[None]:
    """Rest two orders, make the venue stop reading, start the stop; return it once both cancels have left."""
    await client.connect()
    for i in range(2):
        handle = await client.submit("ACC1", "OUCH", "AAPL", Side.BUY, 10 + i, price_ticks=RESTING)
        await handle.wait_accepted(15)
    for protocol in sim.protocols:
        assert protocol.transport is not None
        protocol.transport.pause_reading()  # the venue hangs: the cancels sit unread in its socket
    stopping = asyncio.create_task(process.stop())
    engine = process.engine
    assert engine is not None
    await wait_for(
        lambda: sum(1 for o in engine.open_orders.values() if o.state is OrderState.PENDING_CANCEL) == 2,
        15,
        "both cancels sent",
    )
    return stopping


async def test_stop_when_the_venue_drops_after_the_cancels_left_then_logged_as_sent_not_as_held(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # rev50ops: cancels written at SIGTERM while the venue was UP, the session dropped during the wait: the
    # WARNING said "venue OUCH CONNECTING, not UP: cancel not sent (held ...)" from the venue's state at exit
    caplog.set_level(logging.INFO)
    exchange = ExchangeConfig(reference_prices=REFS)
    async with running_gateway(short_tmp(), exchange=exchange, strategies=_strategies(), stop_cancel_timeout_s=1.0) as (
        process,
        sim,
    ):
        client = RecordingClient(Path(process.config.path(process.config.strategy_socket)), "S1")
        assert sim._server is not None
        sim._server.close()  # no new session: the venue stays down once its connection is cut
        stopping = await _two_resting_then_stop_with_a_deaf_venue(process, sim, client)
        assert sim.drop_connections() == 1
        await asyncio.wait_for(stopping, 10)
        assert process.venues[0].state is not VenueState.UP
        text = caplog.text
        took = re.search(
            r"stop: 0 of 2 open orders of on_disconnect cancel strategies canceled at the venues \((\S+) s\)", text
        )
        assert took is not None and float(took[1]) >= 0.99  # the wait went on for the cancels in flight
        assert "not UP: cancel not sent" not in text
        assert (
            "stop: strategy S1: 2 orders still open at the venues at exit (cancel sent, no answer within 1 s; "
            f"venue OUCH {process.venues[0].state.name} at exit)"
        ) in text
        await client.close()


async def test_stop_when_the_journal_fails_after_the_cancels_left_then_logged_as_sent(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # the same for a journal that fails during the wait: the WARNING said "cancel not sent" for cancels the
    # venue had received
    caplog.set_level(logging.INFO)
    exchange = ExchangeConfig(reference_prices=REFS)
    workdir = short_tmp()
    sim = OuchSimulator(SimulatorConfig(exchange=exchange))
    await sim.start()
    limits = e2e_limits(workdir, ("S1", "S2"))
    config = gateway_config(workdir, sim.port, limits, strategies=_strategies(), stop_cancel_timeout_s=5.0)
    config = msgspec.structs.replace(config, journal=msgspec.structs.replace(config.journal, storage="file"))
    process = GatewayProcess(config)
    try:
        await process.start()
        await wait_for(lambda: all(v.state is VenueState.UP for v in process.venues), 10, "venue UP")
        journal = process.journal
        assert isinstance(journal, FileJournal)
        client = RecordingClient(Path(process.config.path(process.config.strategy_socket)), "S1")
        stopping = await _two_resting_then_stop_with_a_deaf_venue(process, sim, client)
        journal.check_file = lambda: ("", False)  # type: ignore[method-assign]
        full = os.open("/dev/full", os.O_WRONLY)
        saved = os.dup(journal._fd)
        os.dup2(full, journal._fd)  # the disk is full: what the venue sends now cannot be journaled
        os.close(full)
        try:
            first = min(sim.exchange.orders.values(), key=lambda o: o.user_ref_num)
            assert sim.execute(first.user_ref_num, 1)  # a partial fill during the wait: its record fails
            await asyncio.wait_for(stopping, 10)
            engine_error = process.engine.journal_error if process.engine is not None else ""
        finally:
            if not stopping.done():
                os.dup2(saved, journal._fd)
            os.close(saved)
        for protocol in sim.protocols:
            assert protocol.transport is not None
            protocol.transport.resume_reading()
        await wait_for(lambda: [r.type for r in sim.exchange.records].count("X") == 2, 15, "the venue reads both")
        assert engine_error.startswith("OSError")
        text = caplog.text
        assert "cancel not sent" not in text
        assert (
            "stop: strategy S1: 2 orders still open at the venues at exit (cancel sent, then the journal failed ("
            in (text)
        )
        await client.close()
    finally:
        await process.stop()
        await sim.stop()


async def test_stop_after_a_kill_while_the_venue_is_down_then_keep_orders_logged_as_canceled_by_the_kill(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # rev57ops (killcancel57): `gateway kill` while the venue was down queued (journaled) the cancels of an
    # on_disconnect keep strategy's orders; the stop then listed them as "on_disconnect keep: left working", though
    # the next start sends those cancels
    caplog.set_level(logging.INFO)
    exchange = ExchangeConfig(reference_prices=REFS)
    async with running_gateway(short_tmp(), exchange=exchange, strategies=_strategies()) as (process, sim):
        client = RecordingClient(Path(process.config.path(process.config.strategy_socket)), "S2")
        await client.connect()
        for i in range(2):
            handle = await client.submit("ACC2", "OUCH", "AAPL", Side.BUY, 10 + i, price_ticks=RESTING)
            await handle.wait_accepted(15)
        assert sim._server is not None
        sim._server.close()  # no new session: the venue stays down once its connection is cut
        assert sim.drop_connections() == 1
        venue = process.venues[0]
        await wait_for(lambda: venue.state is not VenueState.UP, 10, "venue down")
        assert process.kill(None, "ops", "venue down drill").orders_canceled == 2
        engine = process.engine
        assert engine is not None
        assert {o.state for o in engine.open_orders.values()} == {OrderState.LIVE_HELD_CANCEL}

        await process.stop()

        text = caplog.text
        assert "left working" not in text  # the old code: "(on_disconnect keep: left working)"
        assert (
            "stop: strategy S2: 2 orders still open at the venues at exit (the kill switch's cancel queued, not sent: "
            f"venue OUCH {venue.state.name}, not UP; the next start sends it once the venue's session is UP)"
        ) in text
        await client.close()

"""A stop (SIGTERM) while the journal cannot be written, FIX: the Logout leaves, never the held order (fixstop56).

A real gateway (``GatewayProcess``, journal ``storage: file``) with one FIX 4.2 session to the real QuickFIX acceptor
(``FixSimulator``) over loopback, and the SDK client (``auto_reconnect``). The journal's descriptor is pointed at
/dev/full (every write fails, as on a full disk: docs/reliability.md 2.3a), an order is sent, and the gateway is
stopped. Before: the stop's Logout flushed the session's outbox itself, so the acceptor got the NewOrderSingle whose
journal record was never written (then the restart, its journal without that order, had the strategy send it again:
two orders at the venue for one request). Now the acceptor gets a SequenceReset-GapFill over the order's
MsgSeqNum, then the Logout; the restarted gateway answers a ResendRequest over that number with a gap fill too (the
store keeps the message under its number, never reused), and the request, which the journal never took, is sent
again by the client and answered once.
"""

from __future__ import annotations

import os
from pathlib import Path

import msgspec

from gateway.app import EXIT_JOURNAL_NOT_DURABLE, GatewayProcess
from gateway.client import GatewayClient
from gateway.config import GatewayConfig
from gateway.entitlements import StrategyEntitlement
from gateway.journal import FileJournal
from gateway.protocol.messages import OrderAccepted
from gateway.protocol.prices import to_fixed
from model.enums import Side
from model.venue_events import VenueState
from simulators.fix.simulator import FixSimulator
from tests.e2e.support import e2e_limits, gateway_config, short_tmp, wait_for
from venues.fix.adapter import FixVenue
from venues.fix.fields import MsgType


def _config(workdir: Path, port: int) -> GatewayConfig:
    config = gateway_config(workdir, 1, e2e_limits(workdir, ("S1",)))
    fix_venue = {
        "protocol": "fix",
        "name": "EQX",
        "host": "127.0.0.1",
        "port": port,
        "dialect": "equities-fix42",
        "heartbeat_interval_s": 1,
        "store_dir": str(workdir / "fix"),
    }
    return msgspec.structs.replace(
        config,
        venues=[fix_venue],
        strategies={"S1": StrategyEntitlement(accounts=["ACC1"], uids=[os.getuid()], on_disconnect="keep")},
        journal=msgspec.structs.replace(config.journal, storage="file"),
    )


async def _started(config: GatewayConfig) -> GatewayProcess:
    process = GatewayProcess(config)
    await process.start()
    await wait_for(lambda: process.venues[0].state is VenueState.UP, 15, "FIX logon")
    return process


def _fix(process: GatewayProcess) -> FixVenue:
    venue = process.venues[0]
    assert isinstance(venue, FixVenue)
    return venue


def _new_orders(sim: FixSimulator) -> list[tuple[bytes, int, bytes]]:
    return [(m.get(b"11"), m.seq, m.get(b"43")) for m in sim.messages("in", MsgType.NEW_ORDER_SINGLE)]


async def test_gateway_stop_when_the_journal_fails_then_quickfix_gets_a_gap_fill_and_the_logout_not_the_order() -> None:
    workdir = short_tmp()
    sim = FixSimulator(reference_prices={"AAPL": to_fixed("230.10")})
    sim.start()
    config = _config(workdir, sim.port)
    process = await _started(config)
    again: GatewayProcess | None = None
    sock = config.path(config.strategy_socket)
    client = GatewayClient(sock, "S1", auto_reconnect=True, resend_venue_wait_s=10.0)
    try:
        await client.connect()
        resting = await client.submit("ACC1", "EQX", "AAPL", Side.BUY, 100, "229.00")
        assert isinstance(await resting.wait_accepted(timeout=15), OrderAccepted)
        engine = process.engine
        assert engine is not None
        journal = process.journal
        assert isinstance(journal, FileJournal)
        journal.check_file = lambda: ("", False)  # type: ignore[method-assign]  # the swapped descriptor is the point
        full = os.open("/dev/full", os.O_WRONLY)
        saved = os.dup(journal._fd)
        os.dup2(full, journal._fd)  # the disk is full from here to the exit
        os.close(full)
        try:
            held = await client.submit("ACC1", "EQX", "AAPL", Side.BUY, 50, "228.00")
            await wait_for(lambda: bool(engine.journal_error), 15, "the hold")
            await wait_for(lambda: held.cl_ord_id in engine.strategies["S1"].orders, 15, "the order, held")
            store = _fix(process).session.store
            held_seq = store.next_sender_seq - 1  # its NewOrderSingle's number, taken and stored
            (held_ref,) = [raw for _, raw in store.get_sent(held_seq, held_seq)]
            assert b"\x0135=D\x01" in held_ref
            await process.stop()  # a stop (SIGTERM): the journal still cannot be written
        finally:
            os.close(saved)
        assert process.exit_code == EXIT_JOURNAL_NOT_DURABLE
        # before: the held NewOrderSingle reached the acceptor ahead of the Logout
        assert len(_new_orders(sim)) == 1, _new_orders(sim)  # the resting order's only
        (resets,) = [m for m in sim.messages("in", MsgType.SEQUENCE_RESET) if m.seq == held_seq]
        assert (resets.get(b"123"), resets.get(b"36")) == (b"Y", b"%d" % (held_seq + 1))
        (logout,) = sim.messages("in", MsgType.LOGOUT)
        assert logout.seq == held_seq + 1 and logout.get(b"58") == b"gateway stopping"
        assert sim.next_target_seq() == held_seq + 2  # the acceptor has every number: no gap, no resend asked

        # the restart: the journal never had the order; the acceptor asks for the numbers from the held one on
        sim.set_next_target_seq(held_seq)
        again = await _started(config)
        await wait_for(lambda: sim.next_target_seq() > held_seq + 2, 15, "the resend answered")
        fills = [m for m in sim.messages("in", MsgType.SEQUENCE_RESET) if m.seq == held_seq]
        assert len(fills) == 2 and fills[1].get(b"123") == b"Y", fills  # a gap fill again, not the order
        # the client sends the request again (its number above the Welcome's last_req_seq): one order, once
        answer = await held.wait_accepted(timeout=20)
        assert isinstance(answer, OrderAccepted), answer
        orders = _new_orders(sim)
        assert len(orders) == 2, orders  # A before the stop, the held order once after the restart
        assert orders[1][1] > held_seq + 2 and orders[1][2] != b"Y"  # a new number, never reused
        assert held_ref.split(b"\x0111=")[1].split(b"\x01")[0] not in {cl for cl, _, _ in orders}
        assert sim.callback_errors == 0
    finally:
        await client.close()
        if again is not None:
            await again.stop()
        await process.stop()
        sim.close()


async def test_gateway_stop_when_the_journal_fails_and_cancel_policy_then_neither_order_nor_cancels_leave() -> None:
    # on_disconnect cancel: the stop's cancels are held too (journal before wire): one gap fill covers them all
    workdir = short_tmp()
    sim = FixSimulator(reference_prices={"AAPL": to_fixed("230.10")})
    sim.start()
    config = _config(workdir, sim.port)
    entitlement = StrategyEntitlement(accounts=["ACC1"], uids=[os.getuid()], on_disconnect="cancel")
    config = msgspec.structs.replace(config, strategies={"S1": entitlement})
    process = await _started(config)
    client = GatewayClient(config.path(config.strategy_socket), "S1")
    try:
        await client.connect()
        resting = await client.submit("ACC1", "EQX", "AAPL", Side.BUY, 100, "229.00")
        assert isinstance(await resting.wait_accepted(timeout=15), OrderAccepted)
        engine = process.engine
        assert engine is not None
        journal = process.journal
        assert isinstance(journal, FileJournal)
        journal.check_file = lambda: ("", False)  # type: ignore[method-assign]  # the swapped descriptor is the point
        full = os.open("/dev/full", os.O_WRONLY)
        saved = os.dup(journal._fd)
        os.dup2(full, journal._fd)
        os.close(full)
        try:
            held = await client.submit("ACC1", "EQX", "AAPL", Side.BUY, 50, "228.00")
            await wait_for(lambda: held.cl_ord_id in engine.strategies["S1"].orders, 15, "the order, held")
            assert engine.journal_error
            first = _fix(process).session.store.next_sender_seq - 1
            await process.stop()
        finally:
            os.close(saved)
        assert [m.msg_type for m in sim.messages("in", MsgType.ORDER_CANCEL_REQUEST)] == []
        assert len(_new_orders(sim)) == 1, _new_orders(sim)
        (logout,) = sim.messages("in", MsgType.LOGOUT)
        (fill,) = [m for m in sim.messages("in", MsgType.SEQUENCE_RESET) if m.seq == first]
        assert fill.get(b"36") == b"%d" % logout.seq and logout.seq == first + 3  # the order and both cancels
        assert sim.next_target_seq() == logout.seq + 1
    finally:
        await client.close()
        await process.stop()
        sim.close()

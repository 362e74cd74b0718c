"""A stop (SIGTERM) while the journal cannot be written, its last write at the exit cut short: one answer (fixstop56b).

From the release review of stop 56 (rev56merge, item 1). A real gateway (``GatewayProcess``, journal ``storage:
file``) with one FIX session to the real QuickFIX acceptor (``FixSimulator``) over loopback, and the SDK client
(``auto_reconnect``). The journal's descriptor points at /dev/full (a full disk: docs/reliability.md 2.3a) while an
order is sent: it is held. A stop (SIGTERM): the order's MsgSeqNum goes to the acceptor as a SequenceReset-GapFill and
the request is answered NOT_SENT, a journal record after the order's own (fixstop56). At the very end some space
frees: ``journal.close()`` writes the pending batch, but only the bytes pending before the stop fit (RLIMIT_FSIZE
gives the file that much room: a short write, then EFBIG, as ENOSPC would do). So the journal has the order and
not its answer.

Before: after the restart the order was PENDING_NEW for good with its exposure (FIX 4.2: no OrderStatusRequest, the
acceptor holding the number as a gap fill never resends it, the adapter has no answer timeout; the strategy's own
cancel was refused by the acceptor and left it pending). Now the stop writes the withdrawn request to the message
store before the gap fill, and the restarted gateway answers it NOT_SENT before its logon: the client gets that one
answer and the acceptor never gets the order. ``full``: the whole batch fits at the exit (the stop's answer is
journaled): one answer as well, not two. The same on a fake clock: tests/fix/test_stop_during_hold_restart.py.
"""

from __future__ import annotations

import os
import resource
import signal
from pathlib import Path

import msgspec
import pytest

from gateway.app import GatewayProcess
from gateway.client import GatewayClient
from gateway.config import GatewayConfig
from gateway.entitlements import StrategyEntitlement
from gateway.journal import FileJournal
from gateway.protocol.messages import OrderAccepted, OrderRejected
from gateway.protocol.prices import to_fixed
from model.enums import RejectSource, Side
from model.order import OrderState
from model.venue_events import VenueState
from simulators.fix.simulator import FixSimulator
from tests.e2e.support import e2e_limits, gateway_config, short_tmp, wait_for
from venues.fix.fields import MsgType


def _config(workdir: Path, port: int, dialect: str) -> GatewayConfig:
    config = gateway_config(workdir, 1, e2e_limits(workdir, ("S1",)))
    fix_venue = {
        "protocol": "fix",
        "name": "EQX",
        "host": "127.0.0.1",
        "port": port,
        "dialect": dialect,
        "heartbeat_interval_s": 1,
        "store_dir": str(workdir / "fix"),
        "username": "user1",
        "password": "pw",
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


@pytest.mark.parametrize(
    ("room", "dialect"),
    [("partial", "equities-fix42"), ("partial", "broker-fix44"), ("full", "equities-fix42")],
)
async def test_fix_stop_during_a_hold_then_the_journal_written_in_part_at_exit_then_one_answer_after_the_restart(
    room: str, dialect: str
) -> None:
    workdir = short_tmp()
    sim = FixSimulator(dialect=dialect, reference_prices={"AAPL": to_fixed("230.10")})
    sim.start()
    config = _config(workdir, sim.port, dialect)
    process = await _started(config)
    again: GatewayProcess | None = None
    client = GatewayClient(config.path(config.strategy_socket), "S1", auto_reconnect=True, resend_venue_wait_s=10.0)
    old_limit = resource.getrlimit(resource.RLIMIT_FSIZE)
    old_signal = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
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
            await wait_for(lambda: bool(engine.journal_error), 15, "the hold")
            await wait_for(lambda: held.cl_ord_id in engine.strategies["S1"].orders, 15, "the order, held")
            pending_before_stop = journal.pending_bytes
            original_close = journal.close

            def close_with_some_room() -> None:  # the disk gets room at the very end
                os.dup2(saved, journal._fd)
                assert journal.pending_bytes > pending_before_stop  # the stop's answer after the order's records
                if room == "partial":  # no other file is written from here to the restore below
                    size = os.fstat(journal._fd).st_size
                    resource.setrlimit(resource.RLIMIT_FSIZE, (size + pending_before_stop, old_limit[1]))
                try:
                    original_close()
                finally:
                    resource.setrlimit(resource.RLIMIT_FSIZE, old_limit)

            journal.close = close_with_some_room  # type: ignore[method-assign]
            await process.stop()
        finally:
            os.close(saved)
        assert len(sim.messages("in", MsgType.NEW_ORDER_SINGLE)) == 1  # the held one never left

        again = await _started(config)
        order = again.engine.strategies["S1"].orders[held.cl_ord_id] if again.engine else None
        assert order is not None
        # before (partial): PENDING_NEW for good, its exposure held; no answer, no question to the acceptor
        assert order.state is OrderState.REJECTED, order.state
        answer = await held.wait_accepted(timeout=15)
        assert isinstance(answer, OrderRejected) and answer.code == "NOT_SENT", answer
        assert answer.source == RejectSource.GATEWAY, answer  # the gateway's own answer (lows57: VENUE before)
        assert "the gateway stopped while its journal could not be written" in answer.text
        assert [e for e in held.events if isinstance(e, OrderRejected)] == [answer]  # one answer
        assert len(sim.messages("in", MsgType.NEW_ORDER_SINGLE)) == 1  # never sent, not after the restart either
        assert not resting.is_terminal
        assert sim.callback_errors == 0
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, old_limit)
        signal.signal(signal.SIGXFSZ, old_signal)
        await client.close()
        if again is not None:
            await again.stop()
        await process.stop()
        sim.close()

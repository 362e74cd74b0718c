"""The venue's answers to one strategy's MassCancel, read at once, do not hold up another strategy (fairvenue57).

rev57strat F2: strategy `bad` rested ~12,100 OUCH orders and sent one MassCancel; the simulator's ~12,100 Order
Canceled came back in one read, taken in one loop turn; strategy `good`'s request, answered by the gateway itself,
waited 84-194 ms (docs/strategy-protocol.md 4.6: "Another strategy is never held up by yours"). Real gateway, real
OUCH simulator on loopback, raw strategy clients. The simulator's answers are made to arrive as one read of the
gateway's (its venue socket not read while the simulator answers, then read); S2's request arrives while the first
slice of that read is being taken. Counted, not timed: how much of S1's Canceled was written before S2's answer.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import struct
import termios
from typing import Any

import pytest

from gateway.entitlements import StrategyEntitlement
from gateway.protocol.prices import to_fixed
from gateway.server import StrategyProtocol
from simulators.ouch.exchange import ExchangeConfig
from tests.e2e.support import running_gateway, short_tmp, wait_for
from tests.e2e.test_engine_internal_errors import _login
from tests.rawclient import CANCEL, CANCEL_REJECTED, CANCELED, MASS_CANCEL, MASS_CANCEL_ACK, NEW_ORDER, frame
from venues.connector import BATCH_BYTES

pytestmark = pytest.mark.timeout(180)

ORDERS = 2400  # ~55 KB of Order Canceled: one read of the gateway's, about 7 slices
REFS = {"AAPL": to_fixed("230.10"), "MSFT": to_fixed("420.55")}


def _resting(n: int) -> bytes:
    symbol, ref = ("AAPL", 229_00) if n % 2 else ("MSFT", 419_00)
    price = (ref - n // 2 % 400) * 100  # cents below the reference, 4 decimals: rests, not a duplicate
    return frame(NEW_ORDER, f"R{n}", "ACC1", "OUCH", symbol, "B", 100, price, "0", "2", 0, n)


def _queued(sock: Any, request: int) -> int:
    return int(struct.unpack("i", fcntl.ioctl(sock.fileno(), request, b"\0\0\0\0"))[0])


async def test_mass_cancel_answers_in_one_venue_read_then_another_strategy_answered_between_its_slices() -> None:
    strategies = {
        "S1": StrategyEntitlement(accounts=["ACC1"], uids=[os.getuid()], on_disconnect="keep"),
        "S2": StrategyEntitlement(accounts=["ACC2"], uids=[os.getuid()]),
    }
    exchange = ExchangeConfig(reference_prices=REFS)
    async with running_gateway(short_tmp(), exchange=exchange, strategies=strategies) as (process, sim):
        engine = process.engine
        assert engine is not None
        one, _, _ = await _login(process, "S1")
        two, _, _ = await _login(process, "S2")
        for first in range(1, ORDERS + 1, 400):  # under the demo limits' 2,000 orders/s per symbol
            await one.send(b"".join(_resting(n) for n in range(first, first + 400)))
            accepted = await one.read(400)
            assert {m[0] for m in accepted} == {17}, accepted[:3]
            await asyncio.sleep(0.25)
        (venue_side,) = sim.protocols
        connector = process.connectors[0]
        venue_socket = connector._transport
        assert venue_side.transport is not None and venue_socket is not None
        venue_side.transport.pause_reading()  # the simulator answers the Cancels all at once, later
        await one.send(frame(MASS_CANCEL, "", "", "", "M1", ORDERS + 1))
        (ack,) = await one.read(1)
        assert ack == [MASS_CANCEL_ACK, "M1", ORDERS]
        venue_socket.pause_reading()  # the gateway reads the answers once they are all in its socket
        venue_side.transport.resume_reading()
        sim_sock = venue_side.transport.get_extra_info("socket")
        await wait_for(
            lambda: (
                sum(r.type == "X" for r in sim.exchange.records) == ORDERS
                and venue_side.transport is not None
                and venue_side.transport.get_write_buffer_size() == 0
                and _queued(sim_sock, termios.TIOCOUTQ) == 0
            ),
            what="every Order Canceled in the gateway's socket",
        )
        assert _queued(connector.sock, termios.FIONREAD) >= ORDERS * 20  # more than 6 slices, one read

        link_one = engine.strategies["S1"].link
        link_two = engine.strategies["S2"].link
        assert isinstance(link_one, StrategyProtocol) and isinstance(link_two, StrategyProtocol)
        written_one: list[int] = []
        answered_two: list[int] = []
        real_one, real_two = link_one.write_out, link_two.write_out

        def write_one(data: bytearray) -> None:
            if not written_one:  # the first slice's answers: S2's request arrives now
                two.sock.send(frame(CANCEL, "NOPE", 0, 1))
            written_one.append(len(data))
            real_one(data)

        def write_two(data: bytearray) -> None:
            answered_two.append(sum(written_one))
            real_two(data)

        link_one.write_out = write_one  # type: ignore[method-assign]
        link_two.write_out = write_two  # type: ignore[method-assign]
        venue_socket.resume_reading()
        canceled = await one.read(ORDERS, timeout_s=60)
        (rejected,) = await two.read(1)
        assert rejected[0] == CANCEL_REJECTED and rejected[2] == "NOPE", rejected
        assert [m[0] for m in canceled] == [CANCELED] * ORDERS
        assert sorted(m[2] for m in canceled) == sorted(f"R{n}" for n in range(1, ORDERS + 1))  # each once
        seqs = [m[1] for m in canceled]
        assert seqs == sorted(seqs) and len(set(seqs)) == ORDERS
        # before the fix: S2 was answered after all of S1's Canceled (the whole read in one turn)
        assert answered_two and answered_two[0] < sum(written_one), (answered_two, written_one)
        assert len(written_one) >= ORDERS * 20 // BATCH_BYTES  # S1's answers were flushed slice by slice
        one.close()
        two.close()

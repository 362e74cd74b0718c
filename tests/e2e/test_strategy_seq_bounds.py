"""Review 35, end to end: a Hello's ``last_seq`` is bounded, and a frame that is no request says it takes no number.

A real gateway and the real OUCH simulator; the strategy side is ``tests/rawclient.py`` (the doc's byte
layouts only) over the real Unix socket, and ``gateway status`` is read over the real admin socket.
"""

from __future__ import annotations

import asyncio
from typing import Any

from gateway.admin import fetch_status
from gateway.app import GatewayProcess
from gateway.client import ConnectionState, GatewayClient
from gateway.server import StrategyProtocol
from model.enums import Side
from simulators.ouch.exchange import ExchangeConfig
from tests.e2e.support import running_gateway, short_tmp, wait_for
from tests.rawclient import (
    ERROR,
    HELLO,
    NEW_ORDER,
    ORDER_ACCEPTED,
    VENUE_STATUS,
    RawClient,
    frame,
    order_events,
)

LIMIT = 1 << 62
"""docs/strategy-protocol.md 4.1: ``last_seq`` must be below 2^62."""


def _sock(process: GatewayProcess) -> str:
    return str(process.config.path(process.config.strategy_socket))


async def _status(process: GatewayProcess) -> dict[str, Any]:
    return await asyncio.to_thread(fetch_status, process.config.path(process.config.admin_socket))


async def _refused_hello(process: GatewayProcess, last_seq: int) -> list[list[Any]]:
    client = await RawClient(_sock(process)).connect()
    await client.send(frame(HELLO, "S1", 3, last_seq, 1000))
    got = await client.read_until_closed()
    client.close()
    return got


def _order(cl_ord_id: str, req_seq: int, price: int = 2_290_000) -> bytes:
    return frame(NEW_ORDER, cl_ord_id, "ACC1", "OUCH", "AAPL", "B", 100, price, "0", "2", 0, req_seq)


async def test_hello_when_last_seq_leaves_no_room_then_bad_hello_and_the_strategy_and_status_stay_usable() -> None:
    """The old code let 2^64-1 crash the Hello (closed, no Error) and numbered on past 2^64 after 2^64-3."""
    async with running_gateway(short_tmp(), exchange=ExchangeConfig(reference_prices={"AAPL": 2_301_000})) as (
        process,
        _sim,
    ):
        for last_seq in (2**64 - 1, 2**64 - 3, LIMIT):
            got = await _refused_hello(process, last_seq)
            assert len(got) == 1 and got[0][0] == ERROR, (last_seq, got)
            code, text, fatal = got[0][1:]
            assert (code, fatal) == ("BAD_HELLO", True) and f"`last_seq` {last_seq} is too large" in text
            assert str(LIMIT - 1) in text

        client = await RawClient(_sock(process)).connect()  # the strategy id is unharmed
        welcome = await client.hello("S1", 3, 0)
        assert welcome[3] == 1 and welcome[5] == 0
        client.close()

        highest = LIMIT - 1  # the largest last_seq allowed: numbered on after it, within 64 bits
        client = await RawClient(_sock(process)).connect()
        welcome = await client.hello("S1", 3, highest)
        assert welcome[3] == LIMIT and welcome[5] == 0
        notice, status = await client.read(2)
        assert notice[:2] == [ERROR, "LAST_SEQ_AHEAD"] and notice[3] is False
        assert status[:3] == [VENUE_STATUS, "OUCH", "UP"]
        last = welcome[6]
        await client.send(b"".join(_order(f"O{i}", last + 1 + i, 2_290_000 - i * 100) for i in range(3)))
        accepted = order_events(await client.read(3))
        assert [(e[0], e[1], e[2]) for e in accepted] == [(ORDER_ACCEPTED, LIMIT + i, f"O{i}") for i in range(3)]
        strategy = (await _status(process))["strategies"]["S1"]  # the old code's was refused: "can't serialize ints"
        assert strategy["next_seq"] == LIMIT + 3 and strategy["orders"] == 3
        client.close()  # the disconnect policy cancels the three orders: more events after them

        again = await RawClient(_sock(process)).connect()  # a later Hello replays them
        welcome = await again.hello("S1", 3, highest)
        next_seq, replayed = welcome[3], welcome[5]
        assert next_seq == LIMIT + replayed and replayed >= 3
        events = order_events(await again.read(replayed))
        assert [e[1] for e in events] == list(range(LIMIT, next_seq))
        again.close()


async def test_hello_when_last_seq_is_one_the_gateway_numbered_past_the_bound_then_resumed_raw_and_with_the_sdk() -> (
    None
):
    """rev38strat s10: after a jump to 2^62 the strategy's own last seq was refused BAD_HELLO (locked out for good)."""
    async with running_gateway(short_tmp(), exchange=ExchangeConfig(reference_prices={"AAPL": 2_301_000})) as (
        process,
        _sim,
    ):
        client = await RawClient(_sock(process)).connect()
        welcome = await client.hello("S1", 3, LIMIT - 1)  # accepted: numbered on from 2^62
        await client.read(2)  # Error(LAST_SEQ_AHEAD), VenueStatus
        await client.send(_order("B1", welcome[6] + 1))
        (accepted,) = order_events(await client.read(1))
        assert accepted[:3] == [ORDER_ACCEPTED, LIMIT, "B1"]
        client.close()  # the disconnect policy cancels B1: event LIMIT + 1
        engine = process.engine
        assert engine is not None
        await wait_for(lambda: engine.strategies["S1"].next_seq == LIMIT + 2, what="B1 canceled")

        again = await RawClient(_sock(process)).connect()  # 4.2 / checklist 4: Hello with the last seq processed
        welcome = await again.hello("S1", 3, LIMIT)
        assert welcome[0] != ERROR, welcome
        next_seq, replayed = welcome[3], welcome[5]
        assert replayed == next_seq - 1 - LIMIT >= 1
        events = order_events(await again.read(replayed))
        assert [e[1] for e in events] == list(range(LIMIT + 1, next_seq))
        again.close()

        for beyond in (next_seq, next_seq + 10, 2**64 - 1):  # at or above 2^62 and never numbered: still refused
            got = await _refused_hello(process, beyond)
            assert len(got) == 1 and got[0][:2] == [ERROR, "BAD_HELLO"] and got[0][3] is True, (beyond, got)
            assert f"`last_seq` {beyond} is too large" in got[0][2] and f"its last is {next_seq - 1}" in got[0][2]
        assert (await _status(process))["strategies"]["S1"]["next_seq"] == next_seq  # nothing recorded for them

        sdk = GatewayClient(_sock(process), "S1", last_seq=next_seq - 1, auto_reconnect=True, reconnect_initial_s=0.02)
        async with sdk:
            handle = await sdk.submit("ACC1", "OUCH", "AAPL", Side.BUY, 100, "229.00")
            event = await handle.wait_accepted(15)
            assert event.seq == next_seq and sdk.last_seq == next_seq
            link = engine.strategies["S1"].link
            assert isinstance(link, StrategyProtocol) and link.transport is not None
            link.transport.abort()  # the gateway drops it: the SDK reconnects with last_seq = next_seq (> 2^62)
            await wait_for(lambda: sdk.connections == 2 and sdk.state is ConnectionState.CONNECTED, what="reconnect")
            assert sdk.close_reason == "" and not [e for e in sdk.errors if e.code == "BAD_HELLO"]
            canceled = await handle.wait_done(15)  # the cancel policy's Canceled, replayed after the reconnect
            assert canceled.seq == next_seq + 1 and sdk.last_seq == next_seq + 1


async def test_unknown_tag_when_it_carries_a_req_seq_then_its_error_says_it_takes_no_place_and_no_gap_follows() -> None:
    """The old code skipped it without a number, as the doc says, but its text did not say so (4.5, 7.2)."""
    async with running_gateway(short_tmp(), exchange=ExchangeConfig(reference_prices={"AAPL": 2_301_000})) as (
        process,
        _sim,
    ):
        client = await RawClient(_sock(process)).connect()
        welcome = await client.hello("S1", 3)
        await client.read(1)  # VenueStatus
        last = welcome[6]
        await client.send(frame(99, "X1", last + 1))  # an unknown tag, with what looks like the next req_seq
        await client.send(frame(HELLO, "S1", 3, 0, 1000))  # a second Hello: not a request either
        unknown, again = await client.read(2)
        assert unknown[:2] == [ERROR, "INVALID_MESSAGE"] and unknown[3] is False
        assert unknown[2].endswith("takes no place in the sequence"), unknown[2]
        assert again[:2] == [ERROR, "ALREADY_LOGGED_IN"] and again[2].endswith("takes no place in the sequence")
        await client.send(_order("N1", last + 1))  # the unknown tag took no number: no REQ_SEQ_GAP
        (answer,) = order_events(await client.read(1))
        assert answer[:3] == [ORDER_ACCEPTED, 1, "N1"], answer
        client.close()

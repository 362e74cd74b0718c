"""A strategy that half-closes (``shutdown(SHUT_WR)``) gets every answer, then a plain end-of-file (protocol doc 1).

A real gateway and the real OUCH simulator; the strategy side is ``tests/rawclient.py`` (the doc's byte layouts
only) over the real Unix socket. It pipelines 5,000 requests (Cancels of orders that do not exist: each gets a
``CancelRejected``, nothing goes to the venue) and half-closes at once: the gateway answers all 5,000, in order,
then closes with no ``Error``, and the session has ended: a new Hello is welcomed, every request processed.
"""

from __future__ import annotations

import socket
from typing import Any

import pytest

from gateway.app import GatewayProcess
from gateway.config import MemoryConfig
from tests.e2e.support import running_gateway, short_tmp
from tests.rawclient import (
    CANCEL,
    CANCEL_REJECTED,
    ERROR,
    HELLO,
    VENUE_STATUS,
    WELCOME,
    RawClient,
    frame,
    order_events,
)

REQUESTS = 5_000
REPLAYED = 3_000
"""Events a Hello asks for again: more than a slice (512), so the replay is written as it is read."""


async def _login(process: GatewayProcess) -> tuple[RawClient, int, list[list[Any]]]:
    """Connect with version 3; return the client, the Welcome's ``last_req_seq`` and the replayed events."""
    client = await RawClient(str(process.config.path(process.config.strategy_socket))).connect()
    welcome = await client.hello("S1", 3)
    replayed = await client.read(welcome[5], timeout_s=60)
    (status,) = await client.read(1)
    assert status[:3] == [VENUE_STATUS, "OUCH", "UP"]
    return client, welcome[6], replayed


async def test_half_close_after_pipelined_requests_then_every_answer_and_a_plain_end_of_file() -> None:
    async with running_gateway(short_tmp()) as (process, _sim):
        client, last, _ = await _login(process)
        requests = b"".join(frame(CANCEL, f"h{i}", 0, last + 1 + i) for i in range(REQUESTS))
        await client.send(requests)
        client.sock.shutdown(socket.SHUT_WR)  # no more requests: the read side stays open
        got = await client.read_until_closed(timeout_s=120)
        client.close()
        assert client.closed  # the gateway closed its side: end-of-file (or a reset), not a timeout
        assert [m for m in got if m[0] == ERROR] == []  # a plain end-of-file: no Error before it
        answers = order_events(got)
        assert [m[2] for m in answers] == [f"h{i}" for i in range(REQUESTS)]  # every request once, in order
        assert {(m[0], m[3], m[4]) for m in answers} == {(CANCEL_REJECTED, "GATEWAY", "UNKNOWN_ORDER")}

        again, last_again, replayed = await _login(process)  # the session ended: its id is free at once
        assert last_again == last + REQUESTS  # every request was processed
        assert len(order_events(replayed)) == REQUESTS  # and its answer journaled
        again.close()


@pytest.mark.parametrize("where", ["memory", "journal"])
async def test_half_close_behind_a_hello_with_a_long_replay_then_whole_replay_then_the_request_answered(
    where: str,
) -> None:
    # rev51strat: Hello(last_seq far back) and a request in one write, then shutdown(SHUT_WR). The old gateway took
    # the end-of-file for a close: the replay stopped after its first slice (from memory) or before the Welcome
    # (from the journal), with no Error, and the request behind the Hello was neither carried out nor answered.
    memory = MemoryConfig(events_kept=1_000) if where == "journal" else MemoryConfig()
    async with running_gateway(short_tmp(), memory=memory) as (process, _sim):
        client, last, _ = await _login(process)
        await client.send(b"".join(frame(CANCEL, f"e{i}", 0, last + 1 + i) for i in range(REPLAYED)))
        assert len(order_events(await client.read(REPLAYED, timeout_s=60))) == REPLAYED
        client.close()
        last += REPLAYED

        client = await RawClient(str(process.config.path(process.config.strategy_socket))).connect()
        await client.send(frame(HELLO, "S1", 3, 0, 1000) + frame(CANCEL, "behind", 0, last + 1))
        client.sock.shutdown(socket.SHUT_WR)
        got = await client.read_until_closed(timeout_s=120)
        client.close()
        assert client.closed
        assert [m for m in got if m[0] == ERROR] == []  # a plain end-of-file, as for any half-close
        assert got[0][0] == WELCOME and got[0][5] == REPLAYED and got[0][6] == last
        events = order_events(got)
        assert [e[1] for e in events] == list(range(1, REPLAYED + 2))  # the whole replay, then the new answer
        assert events[-1][:5] == [CANCEL_REJECTED, REPLAYED + 1, "behind", "GATEWAY", "UNKNOWN_ORDER"]
        kinds = [m[0] for m in got]
        assert kinds.index(VENUE_STATUS) < kinds.index(CANCEL_REJECTED, REPLAYED + 1)  # after the replay

        again, last_again, _ = await _login(process)  # the session ended at the close: welcomed at once
        assert last_again == last + 1  # the request behind the Hello was carried out
        again.close()

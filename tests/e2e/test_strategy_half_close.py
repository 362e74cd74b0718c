"""A strategy that half-closes (``shutdown(SHUT_WR)``) gets every answer, then a plain end-of-file (protocol doc 1).

A real gateway and the real OUCH simulator; the strategy side is ``tests/rawclient.py`` (the doc's byte layouts
only) over the real Unix socket. It pipelines 5,000 requests (Cancels of orders that do not exist: each gets a
``CancelRejected``, nothing goes to the venue) and half-closes at once: the gateway answers all 5,000, in order,
then closes with no ``Error``, and the session has ended: a new Hello is welcomed, every request processed.
"""

from __future__ import annotations

import socket
from typing import Any

from gateway.app import GatewayProcess
from tests.e2e.support import running_gateway, short_tmp
from tests.rawclient import CANCEL, CANCEL_REJECTED, ERROR, VENUE_STATUS, RawClient, frame, order_events

REQUESTS = 5_000


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

"""Review 32, D1, end to end: a version-3 request with a stray byte after its array takes its ``req_seq``.

A real gateway and the real OUCH simulator; the strategy side is ``tests/rawclient.py`` (the doc's byte
layouts only) over the real Unix socket. The client follows section 4.5: the next request is numbered one
more, and after reconnecting it sends the bad request again, unchanged.
"""

from __future__ import annotations

from gateway.app import GatewayProcess
from simulators.ouch.exchange import ExchangeConfig
from tests.e2e.support import running_gateway, short_tmp
from tests.rawclient import (
    CANCEL,
    CANCEL_REJECTED,
    VENUE_STATUS,
    RawClient,
    frame,
    order_events,
    pack,
    raw_frame,
)


def _sock(process: GatewayProcess) -> str:
    return str(process.config.path(process.config.strategy_socket))


async def _login(process: GatewayProcess) -> tuple[RawClient, int, list[list[object]]]:
    """Connect with version 3; return the client, the Welcome's ``last_req_seq`` and the replayed events."""
    client = await RawClient(_sock(process)).connect()
    welcome = await client.hello("S1", 3)
    replayed = await client.read(welcome[5])
    (status,) = await client.read(1)
    assert status[:3] == [VENUE_STATUS, "OUCH", "UP"]
    return client, welcome[6], replayed


async def test_cancel_with_a_stray_byte_when_next_request_numbered_one_more_then_no_gap_and_resend_is_a_duplicate() -> (
    None
):
    async with running_gateway(short_tmp(), exchange=ExchangeConfig(reference_prices={"AAPL": 2_301_000})) as (
        process,
        _sim,
    ):
        client, last, _ = await _login(process)
        bad = raw_frame(pack([CANCEL, "T1", 0, last + 1]) + b"\x00")  # one byte after the array
        nxt = frame(CANCEL, "T2", 0, last + 2)
        await client.send(bad + nxt)
        first, second = order_events(await client.read(2))
        assert first[:5] == [CANCEL_REJECTED, 1, "T1", "GATEWAY", "INVALID_FIELD"] and "trailing" in first[5]
        assert second[:5] == [CANCEL_REJECTED, 2, "T2", "GATEWAY", "UNKNOWN_ORDER"]  # no REQ_SEQ_GAP
        client.close()

        again, last_again, replayed = await _login(process)
        assert last_again == last + 2
        assert [e[2] for e in order_events(replayed)] == ["T1", "T2"]
        await again.send(bad + nxt + frame(CANCEL, "T3", 0, last + 3))  # two duplicates, then the next
        (third,) = order_events(await again.read(1))
        assert third[:5] == [CANCEL_REJECTED, 3, "T3", "GATEWAY", "UNKNOWN_ORDER"]
        again.close()

"""While the SDK reconnects it says so: ``connected`` is False and a request's ``GatewayError`` says "reconnecting".

Found by rev50ops (LOW): ``GatewayClient.connected`` was True while an automatic reconnect's new connection
waited for its Welcome, and ``submit`` then failed with ``not connected (connection closed)``. A real gateway
(in-process, real OUCH simulator) goes away; a stand-in on its socket path then holds the Welcome back, or refuses
the session for good (``NOT_AUTHORIZED``), as a gateway would.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from gateway.client import ConnectionState, GatewayClient, GatewayError
from gateway.protocol.framing import FrameSplitter, encode_frame, strategy_message_decoder
from gateway.protocol.messages import Error, Hello
from model.enums import Side
from tests.e2e.support import running_gateway, short_tmp
from tests.reliability.support import wait_for


def _connected(client: GatewayClient) -> bool:
    return client.connected  # read through a call: mypy would keep an earlier narrowing of the property


def _reconnecting(client: GatewayClient) -> bool:
    return client.reconnecting


async def _stand_in(path: Path, refuse: bool) -> asyncio.AbstractServer:
    """Listen at ``path``: read the Hello, then hold the Welcome back (or refuse the session: NOT_AUTHORIZED)."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        splitter = FrameSplitter()
        while True:
            data = await reader.read(4096)
            if not data:
                writer.close()
                return
            if any(isinstance(strategy_message_decoder.decode(f), Hello) for f in splitter.feed(data)):
                break
        if refuse:
            writer.write(encode_frame(Error("NOT_AUTHORIZED", "uid 0 may not run strategy S1", True)))
            await writer.drain()
            writer.close()
            return
        await reader.read()  # no Welcome: until the client closes
        writer.close()

    return await asyncio.start_unix_server(serve, path=str(path))


@pytest.mark.parametrize("refuse", [False, True])
async def test_submit_when_auto_reconnect_is_under_way_then_connected_false_and_error_says_reconnecting(
    refuse: bool,
) -> None:
    async with running_gateway(short_tmp()) as (process, _sim):
        path = Path(process.config.path(process.config.strategy_socket))
        client = GatewayClient(path, "S1", auto_reconnect=True, reconnect_initial_s=0.05, reconnect_max_s=0.2)
        await client.connect(timeout=10)
        assert _connected(client)
        await process.stop()  # the gateway goes: its socket with it, every attempt fails
        await wait_for(lambda: client.close_reason.startswith("cannot connect"), 10, "a failed reconnect attempt")
        assert not _connected(client) and _reconnecting(client)
        with pytest.raises(GatewayError) as lost:
            await client.submit("ACC1", "OUCH", "AAPL", Side.BUY, 10, "229.00")
        text = str(lost.value)
        assert text.startswith("not connected: reconnecting to the gateway (connection lost: "), text
        assert "; last attempt: cannot connect to gateway at " in text and "wait_connected()" in text, text

        server = await _stand_in(path, refuse)
        try:
            if refuse:  # refused for good: auto-reconnect stops, and the error says it gave up
                await wait_for(lambda: client.state is ConnectionState.CLOSED, 10, "auto-reconnect to give up")
                assert not _connected(client) and not _reconnecting(client)
                with pytest.raises(GatewayError) as gave_up:
                    await client.submit("ACC1", "OUCH", "AAPL", Side.BUY, 10, "229.00")
                assert str(gave_up.value).startswith(
                    "not connected: auto-reconnect gave up (the gateway refused the session for good: NOT_AUTHORIZED"
                ), str(gave_up.value)
            else:  # connected again at the socket level, the Welcome not there yet: not connected
                await wait_for(lambda: client.state is ConnectionState.CONNECTING, 10, "a reconnect in its handshake")
                await asyncio.sleep(0.1)  # the Hello is out: the connection is open
                assert client.state is ConnectionState.CONNECTING
                assert not _connected(client) and _reconnecting(client)
                with pytest.raises(GatewayError) as handshake:
                    await client.submit("ACC1", "OUCH", "AAPL", Side.BUY, 10, "229.00")
                assert str(handshake.value).startswith(
                    "not connected: reconnecting to the gateway (connection lost: "
                ), str(handshake.value)
                assert "; an attempt is under way)" in str(handshake.value)
        finally:
            await client.close()
            server.close()
            await server.wait_closed()

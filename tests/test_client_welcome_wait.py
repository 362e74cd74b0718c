"""The SDK waits for a Welcome the gateway holds back (a reconnect far back: the journal is read first)."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.client import GatewayClient, GatewayError
from gateway.protocol.framing import FrameSplitter, encode_frame, strategy_message_decoder
from gateway.protocol.messages import Hello, Welcome


@pytest.fixture
def workdir() -> Iterator[Path]:
    directory = Path(tempfile.mkdtemp(prefix="gw", dir="/tmp"))  # AF_UNIX paths are short
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


async def _late_welcome_gateway(path: Path, delay_s: float | None, hellos: list[Hello]) -> asyncio.AbstractServer:
    """Serve one stand-in gateway: read the Hello, answer Welcome after ``delay_s`` (None: never)."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        splitter = FrameSplitter()
        hello: Hello | None = None
        while hello is None:
            data = await reader.read(4096)
            if not data:
                return
            messages = [strategy_message_decoder.decode(frame) for frame in splitter.feed(data)]
            hello = next((m for m in messages if isinstance(m, Hello)), None)
        hellos.append(hello)
        if delay_s is None:
            await reader.read()  # until the client gives up and closes
            writer.close()
            return
        await asyncio.sleep(delay_s)
        writer.write(encode_frame(Welcome(3, "gw-test", hello.last_seq + 1, hello.heartbeat_ms, 0, 0)))
        await writer.drain()
        await reader.read()
        writer.close()

    return await asyncio.start_unix_server(serve, path=str(path))


async def test_connect_when_welcome_held_back_past_the_connect_timeout_then_waits_for_it(workdir: Path) -> None:
    hellos: list[Hello] = []
    server = await _late_welcome_gateway(workdir / "s.sock", 0.8, hellos)
    client = GatewayClient(workdir / "s.sock", "S1", last_seq=41, welcome_timeout_s=5.0)
    try:
        welcome = await client.connect(timeout=0.2)  # the old SDK gave up here, after 0.2 s without a Welcome
        assert welcome.next_seq == 42
        assert client.connected
        assert hellos[0].last_seq == 41
    finally:
        await client.close()
        server.close()
        await server.wait_closed()


async def test_connect_when_welcome_never_comes_then_gives_up_after_welcome_timeout(workdir: Path) -> None:
    hellos: list[Hello] = []
    server = await _late_welcome_gateway(workdir / "s.sock", None, hellos)
    client = GatewayClient(workdir / "s.sock", "S1", welcome_timeout_s=0.5)
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        with pytest.raises(GatewayError, match="no Welcome from the gateway within the timeout"):
            await client.connect(timeout=0.1)
        waited = loop.time() - started
        assert 0.45 <= waited < 5.0
        assert not client.connected
    finally:
        await client.close()
        server.close()
        await server.wait_closed()

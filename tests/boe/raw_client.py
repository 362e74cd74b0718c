"""A raw BOE client over a real socket, built from the codec only (never from the simulator's code)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from venues.boe.codec import BoeSplitter, decode_outbound, encode_message
from venues.boe.errors import DecodeError
from venues.boe.messages import (
    LoginRequest,
    LoginResponse,
    Message,
    NewOrder,
    NewOrderFields,
    OutboundMessage,
    ParamGroup,
    ReplayComplete,
    ReturnBitfields,
    UnitSequences,
)

ACK_RETURNS = ReturnBitfields(0x25, bytes([0x05, 0x41, 0x40, 0x00, 0x02]))
"""Order Acknowledgment: Side, Price, Symbol, Capacity, OrderQty, LeavesQty."""
EXECUTION_RETURNS = ReturnBitfields(0x2C, bytes([0x01, 0x01]))
"""Order Execution: Side, Symbol."""
MODIFIED_RETURNS = ReturnBitfields(0x27, bytes([0x04, 0x00, 0x40, 0x00, 0x03]))
"""Order Modified: Price, OrderQty, OrigClOrdID, LeavesQty."""


class RawClient:
    """Bytes in and out of one TCP connection, decoded with ``venues.boe.codec``."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.splitter = BoeSplitter()
        self.received: list[OutboundMessage] = []
        self.raw: list[bytes] = []
        self.closed = False
        self.sequence = 0

    @classmethod
    async def connect(cls, port: int) -> RawClient:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def send(self, *messages: Message | bytes) -> None:
        for message in messages:
            self.writer.write(message if isinstance(message, bytes) else encode_message(message))
        await self.writer.drain()

    async def login(
        self,
        units: tuple[tuple[int, int], ...] | None = None,
        *,
        no_unspecified: int = 0,
        returns: tuple[ParamGroup, ...] = (ACK_RETURNS, EXECUTION_RETURNS, MODIFIED_RETURNS),
        username: str = "USER",
        password: str = "PASS",
        session: str = "0001",
    ) -> LoginResponse:
        groups: tuple[ParamGroup, ...] = returns
        if units is not None or no_unspecified:
            groups = (UnitSequences(no_unspecified, units or ()), *groups)
        await self.send(LoginRequest(session, username, password, groups))
        response = await self.wait_for(lambda m: isinstance(m, LoginResponse))
        assert isinstance(response, LoginResponse)
        return response

    async def login_and_replay(self, units: tuple[tuple[int, int], ...] | None = None, **kw: Any) -> LoginResponse:
        response = await self.login(units, **kw)
        assert response.status == "A", response
        await self.wait_for(lambda m: isinstance(m, ReplayComplete))
        return response

    async def new_order(
        self, cl_ord_id: str, symbol: str = "AAPL", qty: int = 100, price: int = 1_000_000, side: str = "1", **kw: Any
    ) -> None:
        self.sequence += 1
        fields: dict[str, Any] = {
            "price": price,
            "ord_type": "2",
            "time_in_force": "0",
            "symbol": symbol,
            "capacity": "A",
        }
        fields.update(kw)
        await self.send(NewOrder(0, self.sequence, cl_ord_id, side, qty, NewOrderFields(**fields)))

    async def read_some(self, timeout: float = 10.0) -> bool:
        """Read one chunk; return False at end of stream."""
        data = await asyncio.wait_for(self.reader.read(65536), timeout)
        if not data:
            self.closed = True
            return False
        for view in self.splitter.feed(data):
            raw = bytes(view)
            decoded = decode_outbound(raw)
            assert not isinstance(decoded, DecodeError), decoded
            self.raw.append(raw)
            self.received.append(decoded)
        assert self.splitter.error is None
        return True

    async def wait_for(self, predicate: Callable[[OutboundMessage], bool], timeout: float = 10.0) -> OutboundMessage:
        """Return the first not yet consumed message matching ``predicate`` (reading as needed)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        seen = 0
        while True:
            for message in self.received[seen:]:
                if predicate(message):
                    self.received.remove(message)
                    return message
            seen = 0
            if self.closed:
                raise AssertionError(f"connection closed; received {self.received}")
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(f"timed out; received {self.received}")
            await self.read_some(remaining)

    async def wait_closed(self, timeout: float = 10.0) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not self.closed:
            await self.read_some(max(deadline - loop.time(), 0.001))

    def close(self) -> None:
        self.writer.close()

"""A gateway "process" on a real Unix socket for the SDK tests, and a wait for a condition on the event loop.

A real engine (the harness's scripted venue) behind the real strategy server, journaling to a file it
recovers from first, as ``gateway run`` does.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from pathlib import Path

from gateway.engine import Engine
from gateway.entitlements import StrategyEntitlement
from gateway.journal import FileJournal, read_journal
from gateway.recovery import recover
from gateway.server import StrategyProtocol, start_strategy_server
from model.fsync import FsyncPolicy
from tests.harness import Rig


async def wait_for(condition: Callable[[], object], what: str, timeout_s: float = 15.0) -> None:
    """Poll ``condition`` on the event loop until it holds; fail after ``timeout_s`` naming ``what``."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.005)


class Gateway:
    """One gateway "process": an engine journaling to ``workdir/j``, recovered from it, and its socket.

    Strategy ``S1`` (account ``ACC1``, this process's uid) keeps its orders when it disconnects.
    """

    def __init__(self, workdir: Path, *, journal: bool = True) -> None:
        ents = {"S1": StrategyEntitlement(accounts=["ACC1"], uids=[os.getuid()], on_disconnect="keep")}
        self.rig = Rig(strategies=ents)
        self.rig.engine.entitlements.gateway_uid = os.getuid()
        self.path = workdir / "s.sock"
        self.journal_path = workdir / "j"
        if journal:
            recovered = recover(read_journal(self.journal_path))
            self.rig.engine.journal = FileJournal(self.journal_path, fsync=FsyncPolicy.NONE)
            self.rig.engine.adopt(recovered)
        self.server: asyncio.AbstractServer | None = None

    @property
    def engine(self) -> Engine:
        return self.rig.engine

    async def start(self) -> None:
        self.server = await start_strategy_server(self.engine, self.path, self.rig.clock)

    def link(self) -> StrategyProtocol:
        link = self.engine.strategies["S1"].link
        assert isinstance(link, StrategyProtocol)
        return link

    def stop_reading(self) -> None:
        """Freeze: from now on the strategy's bytes stay unread (in a socket buffer that dies with the process).

        Nothing is sent either (no heartbeats).
        """
        transport = self.link().transport
        assert transport is not None
        transport.pause_reading()

    def lose_answers(self) -> None:
        """From now on what the gateway writes to the strategy is lost (it dies before the bytes leave)."""
        self.link().write_out = lambda data: None  # type: ignore[method-assign]

    async def crash(self) -> None:
        """Die: the socket goes, nothing more is written (the journal holds what was flushed)."""
        assert self.server is not None
        self.server.close()
        transport = self.link().transport
        assert transport is not None
        transport.abort()
        await self.server.wait_closed()
        self.engine.journal.close()

    def stop(self) -> None:
        assert self.server is not None
        self.server.close()

"""Make the BOE simulator lose every message of one type, as if Cboe never processed it (regression rigs)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from simulators.boe.simulator import SimulatorCore
from venues.boe.codec import BoeSplitter


def swallow_boe_messages(
    core: SimulatorCore,
    message_type: int,
    swallowed: list[bytes],
    then: Callable[[int], None] | None = None,
) -> None:
    """Patch ``core.receive`` to drop each message of ``message_type`` into ``swallowed`` and pass the rest.

    Messages are split whole, whatever the reads: one read may carry a client heartbeat and the message, or
    half a message. ``then(now_ns)`` runs after each swallowed message (e.g. end the day there).
    """
    passed = core.receive
    splitters: dict[int, BoeSplitter] = {}

    def receive(connection: Any, data: bytes, now_ns: int) -> None:
        splitter = splitters.setdefault(id(connection), BoeSplitter())
        for message in splitter.feed(data):
            whole = bytes(message)
            if whole[4] == message_type:
                swallowed.append(whole)
                if then is not None:
                    then(now_ns)
            else:
                passed(connection, whole, now_ns)

    core.receive = receive  # type: ignore[method-assign]

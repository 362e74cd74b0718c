"""Per-strategy state that outlives connections, and what the engine needs from a connection."""

from __future__ import annotations

from typing import Protocol

from gateway.entitlements import PeerCredentials
from gateway.protocol.messages import MassCancelAnswer, OrderEvent
from gateway.strategy_session import StrategySession
from model.order import Order


class StrategyLink(Protocol):
    """What the engine needs from a strategy connection's transport."""

    session: StrategySession
    strategy: StrategyState | None
    peer: PeerCredentials | None

    def write_out(self, data: bytearray) -> None:
        """Write bytes to the strategy."""
        ...

    def close_transport(self) -> None:
        """Close the connection once queued bytes are written."""
        ...


class StrategyState:
    """Everything the gateway keeps about one strategy id across its connections."""

    __slots__ = (
        "events",
        "last_req_seq",
        "link",
        "mass_cancel_answers",
        "next_seq",
        "open_orders",
        "orders",
        "strategy_id",
    )

    def __init__(self, strategy_id: str) -> None:
        self.strategy_id = strategy_id
        self.next_seq = 1
        self.last_req_seq = 0
        """(Protocol version 3) The highest request number processed (journaled in ``JRequest``)."""
        self.mass_cancel_answers: dict[int, MassCancelAnswer] = {}
        """(Version 3) Each MassCancel's answer by its ``req_seq``, for a re-sent duplicate to get it again."""
        self.events: list[OrderEvent] = []
        self.orders: dict[str, Order] = {}
        self.open_orders: dict[int, Order] = {}
        self.link: StrategyLink | None = None

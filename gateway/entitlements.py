"""Who may connect as which strategy, and which accounts each strategy may trade."""

from __future__ import annotations

import os
from typing import Literal

import msgspec


class StrategyEntitlement(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One strategy's permissions (the ``strategies:`` section of gateway.yaml)."""

    accounts: list[str]
    """Accounts this strategy may trade; an order for any other is rejected."""
    uids: list[int] | None = None
    """Unix users allowed to connect as this strategy; omitted = the gateway's own user only."""
    on_disconnect: Literal["cancel", "keep"] = "cancel"
    """What happens to the strategy's open orders when its connection drops."""


class PeerCredentials(msgspec.Struct, frozen=True):
    """Kernel-reported identity of the process at the other end of a Unix socket."""

    pid: int
    uid: int
    gid: int


class Entitlements:
    """Answer "may this peer be strategy S" and "may strategy S trade account A"."""

    def __init__(self, strategies: dict[str, StrategyEntitlement], *, gateway_uid: int | None = None) -> None:
        self.strategies = strategies
        self.gateway_uid = os.getuid() if gateway_uid is None else gateway_uid
        self._accounts = {sid: frozenset(ent.accounts) for sid, ent in strategies.items()}

    def check_hello(self, strategy_id: str, peer: PeerCredentials | None) -> str | None:
        """Return why ``peer`` may not log in as ``strategy_id``, or None if it may."""
        ent = self.strategies.get(strategy_id)
        if ent is None:
            caller = "peer credentials unavailable" if peer is None else f"uid {peer.uid} (pid {peer.pid})"
            return f"{caller}: strategy {strategy_id!r} is not configured on this gateway"
        if peer is None:
            return "peer credentials unavailable"
        allowed = ent.uids if ent.uids is not None else [self.gateway_uid]
        if peer.uid not in allowed:
            return f"uid {peer.uid} (pid {peer.pid}) may not connect as strategy {strategy_id!r}"
        return None

    def may_trade(self, strategy_id: str, account: str) -> bool:
        """Return True if ``strategy_id`` is entitled to trade ``account``."""
        accounts = self._accounts.get(strategy_id)
        return accounts is not None and account in accounts

    def disconnect_policy(self, strategy_id: str) -> str:
        """Return "cancel" or "keep" for the strategy's open orders on disconnect."""
        ent = self.strategies.get(strategy_id)
        return ent.on_disconnect if ent is not None else "cancel"

"""What the admin socket can do to a running gateway.

The handlers depend on ``AdminTarget``, the few operations they call, not on the process
class that implements them (``gateway.app.GatewayProcess``), so this module and the app
do not import each other.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, Protocol

import msgspec

from gateway.admin import AdminHandler, AdminRefusedError
from gateway.metrics import MetricsSnapshot
from model.operator_text import operator_text_problem


class AdminTarget(Protocol):
    """The operations the admin commands need of a running gateway."""

    def status(self) -> dict[str, Any]:
        """Return the full status document (histograms as copies of their counts)."""
        ...

    def metrics(self) -> MetricsSnapshot:
        """Return the metrics snapshot."""
        ...

    def kill(self, account: str | None, who: str, reason: str = "") -> Any:
        """Halt trading (globally or for one account), cancel matching orders; return a ``KillResult``.

        Its ``orders_canceled``: how many; its ``journal_pending``: why the record and cancels wait ("" if not); its
        ``audit_late``: the risk audit log could not take the kill's record either (kill58b).
        """
        ...

    def resume(self, account: str | None, who: str, reason: str) -> object:
        """Set trading ACTIVE again (globally or for one account); return the new state.

        Refused (an ``AdminRefusedError``, nothing changed) while the journal cannot record it.
        """
        ...

    def held_by(self, account: str | None) -> list[str]:
        """Name what keeps the scope stricter than ACTIVE after a resume (``"file"``, ``"firm"``)."""
        ...

    def runtime_halted(self, account: str | None) -> bool:
        """Return True if a run-time halt or reduce is set on the scope itself (what a resume lifts)."""
        ...

    def accounts_halted(self) -> list[list[str]]:
        """Return ``[account, state, trigger]`` of each account with a run-time halt or reduce of its own."""
        ...

    def reload_risk(self, trigger: str, who: str) -> Any:
        """Reload the risk limits file; return what happened."""
        ...

    def reload_risk_soon(self, trigger: str, who: str) -> Awaitable[Any]:
        """Reload the risk limits file, its files read off the event loop; resolve to what happened."""
        ...

    def reset_latency(self) -> None:
        """Forget the latency samples collected so far."""
        ...

    def adjust_position(
        self,
        account: str,
        symbol: str,
        qty: int,
        price: int,
        notional_sign: int,
        who: str,
        reason: str,
        *,
        dry_run: bool = False,
    ) -> Any:
        """Correct a position (a busted or corrected trade), or only say what it would do; return an ``Adjustment``.

        A refusal is data (its ``ok`` false, ``code`` and ``text``): nothing was changed.
        """
        ...

    def reconnect_venue(self, name: str, who: str, reason: str = "") -> str:
        """Take a LOGIN_REFUSED venue out of that state and connect it now; return its new state."""
        ...

    def set_venue_seq(
        self, name: str, next_sender: int, next_target: int, who: str, reason: str = "", *, lower_target: bool = False
    ) -> dict[str, Any]:
        """Set a venue's next outgoing / expected session sequence numbers while it is not logged on; return them."""
        ...


def _text(request: dict[str, Any], key: str) -> str:
    value = request.get(key)
    return value if isinstance(value, str) else ""


def _operator_text(request: dict[str, Any], key: str) -> str:
    """Return an operator's free text (``reason``, ``who``); refuse one too long or not on one line (rev54risk)."""
    text = _text(request, key)
    problem = operator_text_problem(text, f"`{key}`")
    if problem is not None:
        raise AdminRefusedError(problem + "; nothing changed")
    return text


def _integer(request: dict[str, Any], key: str) -> int | None:
    value = request.get(key, 0)
    return value if type(value) is int else None


def admin_handlers(process: AdminTarget) -> dict[str, AdminHandler]:
    """Return the command table for ``process``."""

    def status(request: dict[str, Any], caller: str) -> dict[str, Any]:
        return {"status": process.status()}

    def metrics(request: dict[str, Any], caller: str) -> dict[str, Any]:
        return {"metrics": process.metrics()}

    def kill(request: dict[str, Any], caller: str) -> dict[str, Any]:
        account = _text(request, "account") or None
        who = f"{_operator_text(request, 'who') or 'unknown'} [{caller}]"
        result = process.kill(account, who, _operator_text(request, "reason"))
        return {
            "orders_canceled": result.orders_canceled,
            "state": "HALTED",
            "journal_pending": result.journal_pending or None,
            "audit_late": bool(getattr(result, "audit_late", False)),
        }

    def resume(request: dict[str, Any], caller: str) -> dict[str, Any]:
        account = _text(request, "account") or None
        who = f"{_operator_text(request, 'who') or 'unknown'} [{caller}]"
        lifted = process.runtime_halted(account)  # before: whether this resume lifts anything itself
        state = process.resume(account, who, _operator_text(request, "reason"))
        reply = {"state": getattr(state, "name", str(state)), "held_by": process.held_by(account), "lifted": lifted}
        if account is None:  # accounts halted on their own stay so: the command says which (ops59), whatever else
            reply["accounts_halted"] = process.accounts_halted()  # keeps the firm stopped (ops59b)
        return reply

    def risk_reload(request: dict[str, Any], caller: str) -> Awaitable[dict[str, Any]]:
        who = f"{_operator_text(request, 'who') or 'unknown'} [{caller}]"
        pending = process.reload_risk_soon("gateway risk reload", who)

        async def answer() -> dict[str, Any]:
            return {"result": msgspec.to_builtins(await pending)}

        return answer()  # the admin server answers an awaitable from a task

    def venue_reconnect(request: dict[str, Any], caller: str) -> dict[str, Any]:
        venue = _text(request, "venue")
        who = f"{_operator_text(request, 'who') or 'unknown'} [{caller}]"
        state = process.reconnect_venue(venue, who, _operator_text(request, "reason"))
        return {"venue": venue, "state": state}

    def venue_set_seq(request: dict[str, Any], caller: str) -> dict[str, Any]:
        who = f"{_operator_text(request, 'who') or 'unknown'} [{caller}]"
        next_sender = _integer(request, "next_sender")
        next_target = _integer(request, "next_target")
        if next_sender is None or next_target is None:
            raise AdminRefusedError("next_sender and next_target must be whole numbers (0: keep that number)")
        lower_target = request.get("allow_lower_target", False)
        if not isinstance(lower_target, bool):
            raise AdminRefusedError("allow_lower_target must be true or false")
        return process.set_venue_seq(
            _text(request, "venue"),
            next_sender,
            next_target,
            who,
            _operator_text(request, "reason"),
            lower_target=lower_target,
        )

    def risk_adjust_position(request: dict[str, Any], caller: str) -> dict[str, Any]:
        who = f"{_operator_text(request, 'who') or 'unknown'} [{caller}]"
        qty = _integer(request, "qty")
        price = _integer(request, "price")
        if qty is None or price is None:
            raise AdminRefusedError("qty and price must be whole numbers (price in fixed-point, 10,000 per unit)")
        traded = _text(request, "traded") or "remove"
        if traded not in ("remove", "add"):
            raise AdminRefusedError(f"traded must be 'remove' or 'add', got {traded!r}")
        dry_run = request.get("dry_run") is True
        result = process.adjust_position(
            _text(request, "account"),
            _text(request, "symbol"),
            qty,
            price,
            -1 if traded == "remove" else 1,
            who,
            _operator_text(request, "reason"),
            dry_run=dry_run,
        )
        return {"result": msgspec.to_builtins(result), "dry_run": dry_run, "applied": bool(result.ok) and not dry_run}

    def latency_reset(request: dict[str, Any], caller: str) -> dict[str, Any]:
        process.reset_latency()
        return {"latency_reset": True}

    return {
        "status": status,
        "metrics": metrics,
        "kill": kill,
        "resume": resume,
        "risk_reload": risk_reload,
        "risk_adjust_position": risk_adjust_position,
        "venue_reconnect": venue_reconnect,
        "venue_set_seq": venue_set_seq,
        "latency_reset": latency_reset,
    }

"""What the admin socket can do to a running gateway."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec

from gateway.admin import AdminHandler
from gateway.engine import STATUS_LATENCY_WINDOW

if TYPE_CHECKING:
    from gateway.app import GatewayProcess


def _text(request: dict[str, Any], key: str) -> str:
    value = request.get(key)
    return value if isinstance(value, str) else ""


def admin_handlers(process: GatewayProcess) -> dict[str, AdminHandler]:
    """Return the command table for ``process``."""

    def status(request: dict[str, Any], caller: str) -> dict[str, Any]:
        window = request.get("latency_window", STATUS_LATENCY_WINDOW)
        if window is not None and (not isinstance(window, int) or window <= 0):
            raise ValueError("latency_window must be a positive integer or null (every retained sample)")
        return {"status": process.status(window)}

    def kill(request: dict[str, Any], caller: str) -> dict[str, Any]:
        account = _text(request, "account") or None
        who = f"{_text(request, 'who') or 'unknown'} [{caller}]"
        count = process.kill(account, who, _text(request, "reason"))
        return {"orders_canceled": count, "state": "HALTED"}

    def resume(request: dict[str, Any], caller: str) -> dict[str, Any]:
        account = _text(request, "account") or None
        who = f"{_text(request, 'who') or 'unknown'} [{caller}]"
        state = process.resume(account, who, _text(request, "reason"))
        return {"state": getattr(state, "name", str(state))}

    def risk_reload(request: dict[str, Any], caller: str) -> dict[str, Any]:
        who = f"{_text(request, 'who') or 'unknown'} [{caller}]"
        result = process.reload_risk("gateway risk reload", who)
        return {"result": msgspec.to_builtins(result)}

    def latency_reset(request: dict[str, Any], caller: str) -> dict[str, Any]:
        assert process.engine is not None
        process.engine.latency.reset()
        return {"latency_reset": True}

    return {
        "status": status,
        "kill": kill,
        "resume": resume,
        "risk_reload": risk_reload,
        "latency_reset": latency_reset,
    }

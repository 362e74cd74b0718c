"""The text status at scale: above 50 risk accounts only those worth a look are listed (rev55ops: 40,004 lines)."""

from __future__ import annotations

from typing import Any

from gateway.commands.admin import ACCOUNT_LINES, format_status


def _status(count: int, busy: dict[str, dict[str, Any]]) -> dict[str, Any]:
    accounts = {
        f"A{n:05d}": {"trading_state": "ACTIVE", "open_orders": 0, "open_notional": 0, "traded_notional": 0}
        for n in range(count)
    }
    for name, changes in busy.items():
        accounts[name] = {**accounts[name], **changes}
    return {"risk": {"accounts": accounts, "trading_state": {"firm": "ACTIVE"}, "sha256": "ab" * 32}}


def _account_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("  A")]


def test_many_accounts_then_only_busy_ones_listed_and_the_rest_counted() -> None:
    busy: dict[str, dict[str, Any]] = {
        "A00007": {"open_orders": 3},
        "A00100": {"traded_notional": 5_000},
        "A00200": {"trading_state": "HALTED"},
        "A00300": {"runtime_state": "HALTED", "runtime_by": "ops", "runtime_trigger": "kill"},
        "A00400": {"configured": False},
    }
    text = format_status(_status(40_000, busy))
    assert [line.split()[0] for line in _account_lines(text)] == sorted(busy)
    assert "(39,995 more accounts: ACTIVE, no open orders, no trades today; `gateway status --all-accounts`" in text
    assert "risk: firm ACTIVE, 40000 accounts (1 not ACTIVE)" in text


def test_many_accounts_with_all_accounts_then_every_one_listed() -> None:
    text = format_status(_status(3_000, {}), all_accounts=True)
    assert len(_account_lines(text)) == 3_000 and "more accounts" not in text


def test_few_accounts_then_every_one_listed_as_before() -> None:
    text = format_status(_status(ACCOUNT_LINES, {}))
    assert len(_account_lines(text)) == ACCOUNT_LINES and "more accounts" not in text

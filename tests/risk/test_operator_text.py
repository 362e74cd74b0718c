"""An operator's free text is bounded and on one line (rev54risk).

A risk officer's ``gateway kill --reason`` of 70,000 characters was taken (exit 0) and quoted in every
``OrderRejected TRADING_HALTED`` of the halted scope: a 100 KB frame, over the strategy protocol's 65,536-byte bound,
that the strategies' clients could not read, journaled, so every replay from before it stuck there. A newline in a
reason forged a row of ``gateway status``'s accounts block and split log lines. Now the command line refuses such a
text (exit 2), the admin socket refuses it (nothing changed), and the risk engine clips what an older journal holds.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from gateway.admin import AdminRefusedError
from gateway.admin_commands import admin_handlers
from model.operator_text import MAX_OPERATOR_TEXT, clip
from risk import codes
from tests.risk.support import make_engine, order, submit


def test_refusal_when_kill_reason_is_huge_or_multiline_then_quoted_clipped_on_one_line(tmp_path: Path) -> None:
    """What a journal written before the check may hold (a restored kill) is clipped where it is quoted."""
    engine, clock = make_engine(tmp_path)
    engine.halt("ACC1", "alice", "x" * 70_000)
    denial = submit(engine, order(qty=10), clock)
    assert denial is not None and denial.code == codes.TRADING_HALTED
    assert len(denial.text) < 400 and "x" * 150 + "…" in denial.text  # was 70,000+ characters
    engine.halt("ACC1", "alice\nFAKE ACC9 ACTIVE", "line1\nline2")
    denial = submit(engine, order(qty=10), clock)
    assert denial is not None and "\n" not in denial.text and "line1 line2" in denial.text


class _Target:
    """Records what the handlers pass on (the handlers' own checks are what is tested)."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def kill(self, account: str | None, who: str, reason: str = "") -> Any:
        self.calls.append(("kill", account, who, reason))

        class _Result:
            orders_canceled = 0
            journal_pending = 0

        return _Result()

    def reconnect_venue(self, name: str, who: str, reason: str = "") -> str:
        self.calls.append(("reconnect", name, who, reason))
        return "CONNECTING"


@pytest.mark.parametrize(
    ("request_", "named"),
    [
        ({"reason": "r" * (MAX_OPERATOR_TEXT + 1)}, "`reason` has 501 characters"),
        ({"reason": "a\nb"}, "`reason` has a control character"),
        ({"reason": "ok", "who": "w" * 10_000}, "`who` has 10,000 characters"),
        ({"reason": "ok", "who": "eve\r"}, "`who` has a control character"),
    ],
    ids=["long-reason", "newline-reason", "long-who", "cr-who"],
)
def test_admin_kill_when_text_too_long_or_not_one_line_then_refused_and_nothing_changed(
    request_: dict[str, Any], named: str
) -> None:
    target = _Target()
    handlers = admin_handlers(target)  # type: ignore[arg-type]
    with pytest.raises(AdminRefusedError, match=named):
        handlers["kill"](request_, "pid 1 uid 0")
    with pytest.raises(AdminRefusedError, match=named):
        handlers["venue_reconnect"]({"venue": "OUCH", **request_}, "pid 1 uid 0")
    assert target.calls == []
    handlers["kill"]({"reason": "r" * MAX_OPERATOR_TEXT, "who": "alice"}, "pid 1 uid 0")  # the bound itself passes
    assert target.calls == [("kill", None, "alice [pid 1 uid 0]", "r" * MAX_OPERATOR_TEXT)]


@pytest.mark.parametrize(
    "argv",
    [
        ["kill", "--reason", "r" * (MAX_OPERATOR_TEXT + 1)],
        ["resume", "--reason", "a\nb"],
        ["venue", "reconnect", "OUCH", "--reason", "r" * 70_000],
        ["risk", "reload", "--timeout", "0"],
        ["risk", "reload", "--timeout", "-5"],
    ],
    ids=["kill-long", "resume-newline", "reconnect-long", "reload-timeout-0", "reload-timeout-negative"],
)
def test_cli_when_reason_or_timeout_invalid_then_exit_2_before_any_request(argv: list[str], tmp_path: Path) -> None:
    """The ops guide's exit table: 2 is a usage error (nothing sent); 1 would say the gateway refused."""
    done = subprocess.run(
        [sys.executable, "-m", "gateway", *argv, "--admin-socket", str(tmp_path / "none.sock")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert "none.sock" not in done.stderr  # refused before connecting to anything


def test_clip_when_short_and_printable_then_unchanged() -> None:
    assert clip("runaway strategy") == "runaway strategy"
    assert clip("é" * 200) == "é" * 200
    assert clip("é" * 201) == "é" * 199 + "…"

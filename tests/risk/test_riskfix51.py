"""Findings of the stop-51 risk-officer review (rev51risk), engine by engine.

1. A limits file listing many accounts no strategy of this gateway trades (one file shared by several
   gateways: 30,000 accounts) logged one WARNING per account and wrote them all into the audit record, on the
   event loop, at every reload (even with 0 changes): order answers stopped for ~1 s. Warnings of one kind
   beyond ``SUMMARY_AFTER`` are now one warning with the count and the first names; ``gateway risk check``
   still lists each.
2. A reload refused for the reference-price file said ``problem(s) in <limits file>``.
4. A start-of-day positions file dated in the future passed silently (the reference-price file's did not).
(3, ``gateway risk reload --admin-socket`` alone: tests/reliability/test_risk_reload_admin_socket.py.)
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from risk.audit import read_audit_log
from risk.engine import RiskEngine
from risk.limitsfile import SUMMARY_AFTER, KnownNames, read_limits
from tests.risk.support import WALL_NS, replace_limits, write_limits

KNOWN = KnownNames.of({"S1": ["ACC1"], "S2": ["ACC1", "ACC2"]}, "gw.yaml")


def _shared(count: int) -> dict[str, object]:
    """The base limits plus ``count`` accounts no strategy in gw.yaml may trade (another gateway's)."""
    return {"accounts": {f"X{i:03d}": {} for i in range(count)}}


def _line_of(path: Path, text: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if line.strip().startswith(text))


def _said(caplog: pytest.LogCaptureFixture, text: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and text in r.getMessage()]


# ---------------------------------------------------------------- 1. warnings of one kind summarised


def test_reload_when_many_accounts_no_strategy_trades_then_one_warning_logged_audited_and_answered(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = write_limits(tmp_path / "limits.yaml", _shared(40))
    audit = tmp_path / "audit.jsonl"
    with caplog.at_level(logging.WARNING, logger="risk"):
        engine = RiskEngine.load(path, audit_log_path=audit, wall_clock=lambda: WALL_NS, known=KNOWN)
        assert len(_said(caplog, "no strategy in gw.yaml may trade")) == 1  # was 40
        caplog.clear()
        replace_limits(path, {**_shared(40), "defaults": {"max_qty": 900}})
        result = engine.reload("gateway risk reload", "alice")
    assert result.ok, result.message
    summary = (
        f"{path}: 40 accounts no strategy in gw.yaml may trade: X000 (line {_line_of(path, 'X000:')}), "
        f"X001 (line {_line_of(path, 'X001:')}), X002 (line {_line_of(path, 'X002:')}), "
        f"X003 (line {_line_of(path, 'X003:')}), X004 (line {_line_of(path, 'X004:')}) and 35 more "
        f"(`gateway risk check --config <gateway.yaml> {path}` lists each)"
    )
    assert _said(caplog, "no strategy in gw.yaml may trade") == [f"risk limits: {summary}"]  # one line, was 40
    assert result.warnings == [summary]  # what `gateway risk reload` prints
    startup, reload = read_audit_log(audit)
    assert startup["warnings"] == reload["warnings"] == [summary]  # the record stays small
    assert engine.status()["warnings"] == [summary]
    full = read_limits(path, known=KNOWN).warnings  # what `gateway risk check --config` prints: each one
    assert len(full) == 40 and full[39].endswith("accounts.X039: no strategy in gw.yaml may trade account X039")


def test_reload_when_few_warnings_of_a_kind_then_each_is_kept_as_it_was(tmp_path: Path) -> None:
    path = write_limits(tmp_path / "limits.yaml", _shared(SUMMARY_AFTER))
    engine = RiskEngine.load(path, audit_log_path=tmp_path / "audit.jsonl", wall_clock=lambda: WALL_NS, known=KNOWN)
    replace_limits(path, _shared(SUMMARY_AFTER))
    result = engine.reload("gateway risk reload", "alice")
    assert result.warnings == read_limits(path, known=KNOWN).warnings
    assert len(result.warnings) == SUMMARY_AFTER


def test_reload_when_two_kinds_are_many_then_each_kind_summarised_in_its_place(tmp_path: Path) -> None:
    known = KnownNames.of({"S1": ["ACC1", *(f"Y{i}" for i in range(7))], "S2": ["ACC1", "ACC2"]}, "gw.yaml")
    path = write_limits(tmp_path / "limits.yaml", _shared(6))
    warnings = read_limits(path, known=known).summary
    assert [w.split(": ")[1] for w in warnings] == [
        "6 accounts no strategy in gw.yaml may trade",
        "7 accounts its strategies may trade are not listed in " + str(path),
    ]
    assert "S1/Y0, S1/Y1, S1/Y2, S1/Y3, S1/Y4 and 2 more" in warnings[1]


def test_read_when_positions_name_many_unlisted_accounts_then_one_warning_naming_the_limits_file_to_check(
    tmp_path: Path,
) -> None:
    rows = "".join(f"  Z{i}:\n    MSFT: 1\n" for i in range(6))
    (tmp_path / "sod.yaml").write_text(f"as_of: 2025-06-13T13:00:00Z\naccounts:\n{rows}")
    path = write_limits(tmp_path / "limits.yaml", {"start_positions_file": "sod.yaml"})
    limits = read_limits(path, RiskEngine.load(path, wall_clock=lambda: WALL_NS)._wall_now())
    assert len(limits.warnings) == 6
    assert limits.summary == [
        f"{tmp_path / 'sod.yaml'}: 6 accounts not in {path}: their start-of-day positions apply to nothing: "
        "Z0 (line 3), Z1 (line 5), Z2 (line 7), Z3 (line 9), Z4 (line 11) and 1 more "
        f"(`gateway risk check --config <gateway.yaml> {path}` lists each)"
    ]


# ---------------------------------------------------------------- 2. a refused reload names the file at fault


def test_reload_when_only_the_reference_file_is_bad_then_the_message_names_the_reference_file(tmp_path: Path) -> None:
    refs = tmp_path / "refs.yaml"
    refs.write_text("as_of: loaded\nprices:\n  AAPL: 100.00\n")
    path = write_limits(tmp_path / "limits.yaml", {"reference_prices": {"file": "refs.yaml"}})
    engine = RiskEngine.load(path, audit_log_path=tmp_path / "audit.jsonl", wall_clock=lambda: WALL_NS)
    refs.write_text("as_of: loaded\nprices:\n  AAPL: 100.00\n  MSFT: -5\n")
    result = engine.reload("gateway risk reload", "alice")
    assert not result.ok
    assert [p.file for p in result.errors] == [str(refs)]
    assert result.message == f"reload REFUSED: 1 problem(s) in {refs}; old limits stay in force"  # was limits.yaml


# ---------------------------------------------------------------- 4. start-of-day positions dated in the future


def test_check_when_positions_file_dated_in_the_future_then_warned_as_the_reference_file_is(tmp_path: Path) -> None:
    (tmp_path / "sod.yaml").write_text("as_of: 2027-12-04T21:00:00Z\naccounts:\n  ACC1:\n    MSFT: 500\n")
    (tmp_path / "refs.yaml").write_text("as_of: 2027-12-04T21:00:00Z\nprices:\n  MSFT: 100.00\n")
    path = write_limits(
        tmp_path / "limits.yaml", {"start_positions_file": "sod.yaml", "reference_prices": {"file": "refs.yaml"}}
    )
    wall_now = RiskEngine.load(path, wall_clock=lambda: WALL_NS)._wall_now()
    warnings = read_limits(path, wall_now).warnings
    assert warnings == [
        f"{tmp_path / 'refs.yaml'}: as_of 2027-12-04T21:00:00Z is in the future",
        f"{tmp_path / 'sod.yaml'}: as_of 2027-12-04T21:00:00Z is in the future",  # was nothing
    ]
    (tmp_path / "sod.yaml").write_text("as_of: 2025-06-13T14:04:00Z\naccounts:\n  ACC1:\n    MSFT: 500\n")
    assert read_limits(path, wall_now).warnings[1:] == []  # 4 minutes ahead: a clock's drift, not a wrong date

"""riskfix30: what an independent risk officer found, engine by engine (the end-to-end cases are in
tests/e2e/test_risk_file_watch.py).

1. A file modified in place is never applied by the file watch (a valid prefix can loosen limits); only a
   replacement (a new inode: ``mv``) is, or an explicit reload.
2. ``loaded_at`` is when the limits in force were loaded; the text status shows the last reload.
3. YAML 1.1 booleans (yes/no/on/off/y/n) are refused for true/false fields.
4. A refused reload records the reference file's hash (refused and in force).
5. PRICE_COLLAR never shows a percentage equal to the limit when the price is over it.
6. A kill restored from the journal keeps the documented ``kill switch by <who>`` wording.
7. The audit log follows rotation: a record after ``mv`` goes to a new file at the path.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

import pytest

from gateway.commands.admin import format_status
from model.clock import FakeClock
from risk import codes
from risk.audit import read_audit_log
from risk.engine import WATCH_TRIGGER, WATCH_WHO, RiskEngine
from risk.limitsfile import LimitsFileError, read_limits
from risk.model import TradingState
from tests.risk.support import (
    WALL_NS,
    code,
    make_engine,
    order,
    px,
    replace_file,
    replace_limits,
    submit,
    write_limits,
)


def _audit(tmp_path: Path) -> list[dict[str, object]]:
    return read_audit_log(tmp_path / "audit.jsonl")


def _prefix_without_acc2(path: Path) -> str:
    """The limits file as a writer leaves it half-way: ACC2 (the last account) not yet written; still valid."""
    text = path.read_text()
    prefix = text[: text.index("  ACC2:")]
    read_limits(_scratch(path, prefix))
    return prefix


def _scratch(path: Path, text: str) -> Path:
    scratch = path.with_name("scratch.yaml")
    scratch.write_text(text)
    return scratch


# ---------------------------------------------------------------- 1. in place: never applied by the watch


def test_watch_when_file_modified_in_place_then_not_applied_said_once_audited_and_in_status(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    engine, clock = make_engine(tmp_path)
    limits = tmp_path / "limits.yaml"
    in_force = engine.limits_file.sha256
    prefix = _prefix_without_acc2(limits)
    with caplog.at_level(logging.WARNING, logger="risk"):
        with limits.open("r+") as handle:  # in place: same inode
            handle.truncate(0)
            handle.write(prefix)
        assert engine.changed_files() == []
        with limits.open("a") as handle:
            handle.write("# still writing\n")
        assert engine.changed_files() == []
    said = [r.getMessage() for r in caplog.records if "modified in place" in r.getMessage()]
    assert said == [
        f"risk {limits} was modified in place and NOT applied: write a copy and mv it over, "
        "or run `gateway risk reload` when the write is complete"
    ]
    assert engine.limits_file.sha256 == in_force
    assert code(submit(engine, order(account="ACC2", qty=10), clock)) is None  # ACC2 still known
    (record,) = [r for r in _audit(tmp_path) if r["event"] == "not_applied"]
    assert (record["trigger"], record["who"], record["file"]) == (WATCH_TRIGGER, WATCH_WHO, str(limits))
    assert record["in_force_sha256"] == in_force and record["sha256"] != in_force
    (shown,) = engine.status()["not_applied"]
    assert shown["file"] == str(limits)
    assert engine.status_parts()[1][6] == [shown]


def test_watch_when_file_modified_in_place_then_replaced_then_the_replacement_is_applied(tmp_path: Path) -> None:
    engine, _ = make_engine(tmp_path)
    limits = tmp_path / "limits.yaml"
    write_limits(limits, {"defaults": {"max_qty": 900}})  # in place
    assert engine.changed_files() == []
    replace_limits(limits, {"defaults": {"max_qty": 800}})
    assert engine.changed_files() == ["limits"]
    assert engine.status()["not_applied"] == []
    assert engine.reload(WATCH_TRIGGER, WATCH_WHO).ok
    assert engine.limits_file.document.defaults.max_qty == 800
    write_limits(limits, {"defaults": {"max_qty": 700}})  # in place at the replacement's inode
    assert engine.changed_files() == []


def test_watch_when_file_modified_in_place_then_explicit_reload_applies_it_as_it_is(tmp_path: Path) -> None:
    engine, _ = make_engine(tmp_path)
    write_limits(tmp_path / "limits.yaml", {"defaults": {"max_qty": 900}})
    assert engine.changed_files() == []
    assert engine.reload("gateway risk reload", "alice").ok  # the operator says the write is complete
    assert engine.limits_file.document.defaults.max_qty == 900
    assert engine.status()["not_applied"] == []
    assert not engine.file_changed()


def test_watch_when_in_place_edit_written_back_as_in_force_then_nothing_pending(tmp_path: Path) -> None:
    engine, _ = make_engine(tmp_path)
    limits = tmp_path / "limits.yaml"
    original = limits.read_text()
    limits.write_text(original.replace("max_qty: 1000", "max_qty: 900"))
    assert engine.changed_files() == []
    limits.write_text(original)
    assert engine.changed_files() == []
    assert engine.status()["not_applied"] == []


def test_watch_when_reference_replaced_while_limits_in_place_then_nothing_applied_until_limits_replaced(
    tmp_path: Path,
) -> None:
    refs = tmp_path / "refs.yaml"
    refs.write_text("as_of: loaded\nprices:\n  IBM: 100.00\n")
    engine, _ = make_engine(tmp_path, {"reference_prices": {"file": "refs.yaml"}})
    limits = tmp_path / "limits.yaml"
    before = engine.limits_file.sha256
    replace_file(refs, "as_of: loaded\nprices:\n  IBM: 110.00\n")
    assert engine.changed_files() == ["reference"]  # the watch waits a tick before reloading
    limits.write_text(_prefix_without_acc2(limits))  # in place, between the two ticks
    result = engine.reload(WATCH_TRIGGER, WATCH_WHO)  # the reference file settled: the watch reloads
    assert not result.ok and "modified in place" in result.message
    assert engine.limits_file.sha256 == before  # neither the half limits file nor the new prices
    replace_limits(limits, {"defaults": {"max_qty": 900}, "reference_prices": {"file": "refs.yaml"}})
    assert engine.changed_files() == ["limits", "reference"]
    assert engine.reload(WATCH_TRIGGER, WATCH_WHO).ok
    assert engine.limits_file.document.defaults.max_qty == 900
    assert engine.limits_file.reference is not None
    assert engine.limits_file.reference.prices["IBM"] == px("110.00")


def test_watch_when_same_content_moved_over_then_no_change_and_later_in_place_edit_not_applied(
    tmp_path: Path,
) -> None:
    engine, _ = make_engine(tmp_path)
    limits = tmp_path / "limits.yaml"
    replace_file(limits, limits.read_text())
    assert engine.changed_files() == []
    write_limits(limits, {"defaults": {"max_qty": 900}})  # in place at the new inode
    assert engine.changed_files() == []
    assert [r["event"] for r in _audit(tmp_path)] == ["startup", "not_applied"]


# ---------------------------------------------------------------- 2. loaded_at, text status


def test_status_when_reloaded_then_loaded_at_is_the_reload_time_and_text_shows_the_last_reload(
    tmp_path: Path,
) -> None:
    now = [WALL_NS]
    path = write_limits(tmp_path / "limits.yaml")
    engine = RiskEngine.load(path, FakeClock(), tmp_path / "audit.jsonl", wall_clock=lambda: now[0])
    engine.reload("startup-check", "x")  # same content, loaded again
    assert engine.status()["loaded_at"] == "2025-06-13T14:00:00.000000Z"
    now[0] += 60_000_000_000
    write_limits(tmp_path / "limits.yaml", {"defaults": {"max_qty": 900}})
    assert engine.reload("gateway risk reload", "alice [pid 1 uid 2]").ok
    status = engine.status()
    assert status["loaded_at"] == "2025-06-13T14:01:00.000000Z"
    text = format_status({"risk": status})
    assert (
        "risk last reload: 2025-06-13T14:01:00.000000Z gateway risk reload by alice [pid 1 uid 2]: applied, "
        "1 change(s), sha256 " + engine.limits_file.sha256[:12]
    ) in text
    assert f"limits sha256 {engine.limits_file.sha256[:12]} loaded 2025-06-13T14:01:00.000000Z" in text
    write_limits(tmp_path / "limits.yaml", {"defaults": {"max_qty": -1, "max_notional": -1}})
    assert not engine.reload("SIGHUP", "pid 9 (kill)").ok
    text = format_status({"risk": engine.status()})
    assert "by pid 9 (kill): REFUSED, 2 error(s); the limits in force are unchanged" in text
    assert engine.status()["loaded_at"] == "2025-06-13T14:01:00.000000Z"  # the limits in force did not change
    write_limits(tmp_path / "limits.yaml", {"defaults": {"max_qty": 800}})
    engine.changed_files()
    assert f"risk NOT APPLIED: {tmp_path / 'limits.yaml'} was modified in place" in format_status(
        {"risk": engine.status()}
    )


# ---------------------------------------------------------------- 3. YAML 1.1 booleans


@pytest.mark.parametrize("word", ["yes", "No", "ON", "off", "y", "N"])
def test_read_limits_when_boolean_written_as_yaml11_word_then_refused_with_position(tmp_path: Path, word: str) -> None:
    path = write_limits(tmp_path / "limits.yaml")
    text = path.read_text().replace("  allow_short_sales: true\n", f"  allow_short_sales: {word}\n", 1)
    path.write_text(text)
    with pytest.raises(LimitsFileError) as caught:
        read_limits(path)
    (problem,) = caught.value.problems
    line = text.splitlines().index(f"  allow_short_sales: {word}") + 1
    meaning = "false" if word.lower() in ("no", "n", "off") else "true"
    assert str(problem) == (
        f"{path}:{line}:22: defaults.allow_short_sales: expected true or false, got {word} "
        f"(YAML 1.1 reads this as {meaning}: write true or false)"
    )


# ---------------------------------------------------------------- 4. refused reference content identified


def test_reload_when_only_reference_file_bad_then_refused_record_has_both_reference_hashes(tmp_path: Path) -> None:
    refs = tmp_path / "refs.yaml"
    refs.write_text("as_of: loaded\nprices:\n  IBM: 100.00\n")
    engine, _ = make_engine(tmp_path, {"reference_prices": {"file": "refs.yaml"}})
    good = engine.limits_file.reference_sha256
    refs.write_text("as_of: loaded\nprices:\n  IBM: -1\n")
    assert not engine.reload("gateway risk reload", "alice").ok
    record = _audit(tmp_path)[-1]
    assert record["event"] == "reload_refused"
    assert record["reference_file"] == str(refs)
    assert record["reference_sha256"] == hashlib.sha256(refs.read_bytes()).hexdigest()
    assert record["in_force_reference_sha256"] == good != record["reference_sha256"]


# ---------------------------------------------------------------- 5. PRICE_COLLAR digits


def test_price_collar_when_just_over_the_limit_then_text_shows_a_value_over_it(tmp_path: Path) -> None:
    engine, clock = make_engine(tmp_path, {"defaults": {"max_notional": 10_000_000}})
    engine.set_reference_price("AAPL", px("230.10"), clock())
    denial = submit(engine, order(qty=10, price="241.61"), clock)
    assert denial is not None and denial.code == codes.PRICE_COLLAR
    assert denial.text == "price 241.61 is 5.002% from reference 230.1, more than collar_pct 5%"
    denial = submit(engine, order(qty=10, price="250.00"), clock)
    assert denial is not None and "is 8.65% from reference" in denial.text  # two decimals when they suffice
    assert submit(engine, order(qty=10, price="241.60"), clock) is None


# ---------------------------------------------------------------- 6. restored kill wording


def test_halt_when_restored_from_the_journal_then_text_keeps_the_kill_switch_wording(tmp_path: Path) -> None:
    engine, clock = make_engine(tmp_path)
    engine.set_trading_state(TradingState.HALTED, "ACC1", "alice [pid 1 uid 2]", "drill", restored=True)
    denial = submit(engine, order(qty=10), clock)
    assert denial is not None and denial.code == codes.TRADING_HALTED
    assert "for account ACC1 (kill switch by alice [pid 1 uid 2]: drill); only cancels pass" in denial.text
    record = _audit(tmp_path)[-1]
    assert record["who"] == "alice [pid 1 uid 2] (restored from the journal)"  # the restore is in the audit


# ---------------------------------------------------------------- 7. audit log rotation


def test_audit_when_file_moved_away_then_next_record_goes_to_a_new_file_at_the_path(tmp_path: Path) -> None:
    engine, _ = make_engine(tmp_path)
    audit = tmp_path / "audit.jsonl"
    rotated = tmp_path / "audit.jsonl.1"
    os.rename(audit, rotated)
    engine.halt("ACC1", "alice", "drill")
    assert [r["event"] for r in read_audit_log(rotated)] == ["startup"]
    assert [(r["event"], r["new"]) for r in read_audit_log(audit)] == [("trading_state", "HALTED")]
    engine.set_trading_state(TradingState.ACTIVE, "ACC1", "alice", "done")
    assert len(read_audit_log(audit)) == 2 and len(read_audit_log(rotated)) == 1

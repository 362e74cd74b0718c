"""riskfix33: what an independent risk officer found (risk officer's guide sections 1, 5, 7 and 11).

1. A new file written at the limits path (``rm`` then a write, ``cp``) is modified in place, not a replacement:
   the watch never applies it; only a file renamed there after its last write (``mv``) is.
2. A FIFO (or anything not a regular file) at the path is refused without blocking, old limits kept.
3. A reload refused because the audit log cannot be written is a REFUSED reload, and the watch retries it.
4. Fills replayed from the journal after a restart are not fresh last trades (no fill time in the journal).
5. A YAML file nested too deeply is one problem with a position, not a traceback.
6. REFERENCE_STALE's text says the reference is stale (it read "no reference price ... is stale").
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from gateway.cli import main
from gateway.engine import Engine
from gateway.entitlements import Entitlements, StrategyEntitlement
from gateway.recovery import Recovered
from model.order import apply_ack, apply_fill, mark_sent
from risk import codes
from risk.audit import read_audit_log
from risk.engine import WATCH_TRIGGER, WATCH_WHO
from risk.limitsfile import LimitsFileError, read_limits
from tests.risk.support import (
    code,
    fill,
    make_engine,
    order,
    px,
    replace_file,
    replace_limits,
    submit,
    write_limits,
    written_before,
)

SECOND_NS = 1_000_000_000


def _events(tmp_path: Path) -> list[object]:
    return [r["event"] for r in read_audit_log(tmp_path / "audit.jsonl")]


# ---------------------------------------------------------------- 1. a new file written at the path


def test_watch_when_file_removed_then_written_again_in_two_steps_then_never_applied_by_the_watch(
    tmp_path: Path,
) -> None:
    engine, _ = make_engine(tmp_path)
    limits = tmp_path / "limits.yaml"
    in_force = engine.limits_file.sha256
    whole = limits.read_text().replace("max_qty: 1000", "max_qty: 900", 1)
    limits.unlink()
    assert engine.changed_files() == ["limits"]  # gone: that reload is refused
    assert not engine.reload(WATCH_TRIGGER, WATCH_WHO).ok
    limits.write_text(whole[: whole.index("  ACC2:")])  # rm + cat part1 >: a valid prefix, a new inode
    read_limits(limits)  # valid: applying it would drop ACC2
    assert engine.changed_files() == []
    assert engine.changed_files() == []  # however long it stays quiet
    with limits.open("a") as handle:
        handle.write(whole[whole.index("  ACC2:") :])  # cat part2 >>
    assert engine.changed_files() == []
    assert engine.limits_file.sha256 == in_force
    assert [item["file"] for item in engine.status()["not_applied"]] == [str(limits)]
    assert _events(tmp_path) == ["startup", "reload_refused", "not_applied"]
    assert engine.reload("gateway risk reload", "alice").ok  # the officer: the write is complete
    assert engine.limits_file.document.defaults.max_qty == 900


def test_watch_when_file_copied_to_the_path_after_rm_then_not_applied_until_reloaded(tmp_path: Path) -> None:
    engine, _ = make_engine(tmp_path)
    limits = tmp_path / "limits.yaml"
    source = write_limits(tmp_path / "new.yaml", {"defaults": {"max_qty": 900}})
    written_before(source)  # an old file: cp gives the copy a new modification time all the same
    limits.unlink()
    shutil.copyfile(source, limits)  # rm + cp between two ticks: a new inode, written at the path
    assert engine.changed_files() == []
    result = engine.reload(WATCH_TRIGGER, WATCH_WHO)
    assert not result.ok and "modified in place" in result.message
    assert engine.limits_file.document.defaults.max_qty == 1000
    assert engine.reload("gateway risk reload", "alice").ok
    assert engine.limits_file.document.defaults.max_qty == 900


def test_watch_when_file_renamed_over_the_path_then_it_is_a_replacement_and_applied(tmp_path: Path) -> None:
    engine, _ = make_engine(tmp_path)
    limits = tmp_path / "limits.yaml"
    replace_limits(limits, {"defaults": {"max_qty": 900}})  # a copy written, then mv
    st = limits.stat()
    assert st.st_ctime_ns > st.st_mtime_ns  # rename(2) moved the change time on
    assert engine.changed_files() == ["limits"]
    assert engine.reload(WATCH_TRIGGER, WATCH_WHO).ok
    assert engine.limits_file.document.defaults.max_qty == 900


def test_watch_when_replacement_written_again_after_the_watch_saw_it_then_not_applied(tmp_path: Path) -> None:
    engine, _ = make_engine(tmp_path)
    limits = tmp_path / "limits.yaml"
    replace_limits(limits, {"defaults": {"max_qty": 900}})
    assert engine.changed_files() == ["limits"]  # seen; the watch waits a tick before reloading
    write_limits(limits, {"defaults": {"max_qty": 5000}})  # then written in place, at that inode
    written_before(limits)  # even re-stamped (change time after modification time again)
    assert engine.changed_files() == []
    result = engine.reload(WATCH_TRIGGER, WATCH_WHO)
    assert not result.ok and "modified in place" in result.message
    assert engine.limits_file.document.defaults.max_qty == 1000
    replace_limits(limits, {"defaults": {"max_qty": 800}})  # a new replacement is applied
    assert engine.changed_files() == ["limits"]
    assert engine.reload(WATCH_TRIGGER, WATCH_WHO).ok
    assert engine.limits_file.document.defaults.max_qty == 800
    assert engine.status()["not_applied"] == []


# ---------------------------------------------------------------- 2. not a regular file


def test_read_limits_when_path_is_a_fifo_or_a_symlink_to_one_then_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "limits.yaml"
    os.mkfifo(fifo)
    link = tmp_path / "link.yaml"
    link.symlink_to(fifo)
    for path in (fifo, link):
        with pytest.raises(LimitsFileError) as caught:
            read_limits(path)
        assert [p.message for p in caught.value.problems] == ["cannot read the file: not a regular file (a FIFO)"]


def test_reload_when_fifo_put_at_the_path_then_refused_and_old_limits_kept(tmp_path: Path) -> None:
    engine, clock = make_engine(tmp_path)
    limits = tmp_path / "limits.yaml"
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    written_before(fifo)
    os.replace(fifo, limits)  # mkfifo + mv
    assert engine.changed_files() == ["limits"]
    result = engine.reload(WATCH_TRIGGER, WATCH_WHO)
    assert not result.ok
    assert [p.message for p in result.errors] == ["cannot read the file: not a regular file (a FIFO)"]
    assert engine.limits_file.document.defaults.max_qty == 1000
    assert submit(engine, order(qty=10), clock) is None  # still trading on the old limits
    assert engine.changed_files() == []


def test_risk_check_when_path_is_a_fifo_then_exit_1_with_the_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fifo = tmp_path / "limits.yaml"
    os.mkfifo(fifo)
    assert main(["risk", "check", str(fifo)]) == 1
    assert "cannot read the file: not a regular file (a FIFO)" in capsys.readouterr().out


# ---------------------------------------------------------------- 3. audit log not writable


def test_reload_when_audit_log_not_writable_then_refused_in_status_and_the_watch_retries(tmp_path: Path) -> None:
    engine, _ = make_engine(tmp_path)
    limits = tmp_path / "limits.yaml"
    audit = tmp_path / "audit.jsonl"
    audit.rename(tmp_path / "audit.saved")
    audit.mkdir()  # the audit log cannot be (re)opened
    replace_limits(limits, {"defaults": {"max_qty": 900}})
    assert engine.changed_files() == ["limits"]
    result = engine.reload(WATCH_TRIGGER, WATCH_WHO)
    assert not result.ok and f"audit log {audit} cannot be written" in result.message
    assert engine.limits_file.document.defaults.max_qty == 1000
    last = engine.status()["last_reload"]
    assert (last["ok"], last["errors"], last["trigger"]) == (False, 1, WATCH_TRIGGER)
    assert f"the audit log {audit} cannot be written" in last["reason"]
    assert engine.changed_files() == ["limits"]  # not judged: the watch tries the file again
    audit.rmdir()
    (tmp_path / "audit.saved").rename(audit)
    assert engine.reload(WATCH_TRIGGER, WATCH_WHO).ok
    assert engine.limits_file.document.defaults.max_qty == 900
    assert engine.status()["last_reload"]["ok"]
    assert "reason" not in engine.status()["last_reload"]
    assert _events(tmp_path) == ["startup", "reload"]


# ---------------------------------------------------------------- 4. replayed fills


def test_restart_when_fills_replayed_from_the_journal_then_positions_rebuilt_but_no_fresh_last_trade(
    tmp_path: Path,
) -> None:
    risk, clock = make_engine(tmp_path, reference=None)
    filled = order(qty=10, price="100.00")
    mark_sent(filled, "1")
    apply_ack(filled, "V1")
    assert apply_fill(filled, 10, px("100.00"))
    core = Engine(
        risk=risk,
        venues=[],
        entitlements=Entitlements({"S1": StrategyEntitlement(accounts=["ACC1"], uids=[1000])}, gateway_uid=1000),
        clock=clock,
        gateway_id="test-gw",
    )
    core.adopt(Recovered(orders={filled.order_id: filled}, exposure=[(filled, 0, 0), (filled, 10, px("100.00"))]))
    assert risk.position("ACC1", "AAPL").position == 10  # the position is rebuilt
    assert code(risk.check_and_commit_new(order(qty=10, price="100.00"), clock())) == codes.REFERENCE_MISSING
    live = order(qty=10, price="100.00")
    mark_sent(live, "2")
    apply_ack(live, "V2")
    fill(risk, live, 10)  # a live fill is a last trade
    assert risk.check_and_commit_new(order(qty=10, price="100.00"), clock()) is None


# ---------------------------------------------------------------- 5. nested too deeply


def test_read_limits_when_nested_too_deeply_then_one_problem_with_a_position(tmp_path: Path) -> None:
    path = tmp_path / "deep.yaml"
    path.write_text("a: " + "[" * 5000 + "]" * 5000 + "\n")
    with pytest.raises(LimitsFileError) as caught:
        read_limits(path)
    [problem] = caught.value.problems
    assert (problem.line, problem.message) == (1, "nested too deeply")
    assert problem.column > 1
    assert str(problem).startswith(f"{path}:1:")


def test_reload_when_file_nested_too_deeply_then_refused_with_the_position(tmp_path: Path) -> None:
    engine, _ = make_engine(tmp_path)
    replace_file(tmp_path / "limits.yaml", "a:\n  b: " + "{c: " * 5000 + "}" * 5000 + "\n")
    result = engine.reload("gateway risk reload", "alice")
    assert not result.ok
    assert [(p.line, p.message) for p in result.errors] == [(2, "nested too deeply")]


# ---------------------------------------------------------------- 6. the stale text


def test_price_collar_when_reference_stale_then_text_says_the_reference_is_stale(tmp_path: Path) -> None:
    engine, clock = make_engine(tmp_path)
    clock.advance(61 * SECOND_NS)  # max_age_s: 60
    denial = engine.check_and_commit_new(order(qty=10), clock())
    assert denial is not None and denial.code == codes.REFERENCE_STALE
    assert denial.text == (
        "the reference price for AAPL is stale (last trade older than max_age_s, reference file older than "
        "file_max_age_s): the price collar cannot be checked"
    )

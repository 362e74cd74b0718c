"""A kill re-applied from the journal is said so by an explicit argument, not by the text of ``who`` (opsfix31).

The gateway used to append " (restored from the journal)" to ``who`` and the risk engine recognised a restore
by that suffix, so a live kill whose ``who`` happened to end that way lost part of it in the refusal text.
``set_trading_state(..., restored=True)`` now says it; the audit record and the refusal text stay as
documented (risk officer's guide, section 5: ``who`` ending in "(restored from the journal)", trigger
``kill`` for a kill the gateway re-applies from its journal (``admin`` before ops59); the refusal reads
``kill switch by <who>: <reason>``).
"""

from __future__ import annotations

from pathlib import Path

from gateway.app import INTERNAL_ERROR_WHO, GatewayProcess
from gateway.journal import JTradingState
from gateway.recovery import RESUME_REFUSED
from model.clock import FakeClock
from risk import codes
from risk.audit import read_audit_log
from risk.engine import RESTORED, RiskEngine
from risk.model import TradingState
from tests.e2e.support import e2e_limits, gateway_config, short_tmp
from tests.risk.support import make_engine, order, px, submit


def test_halt_when_who_itself_ends_like_a_restore_then_it_is_a_live_kill_with_the_whole_who(tmp_path: Path) -> None:
    engine, clock = make_engine(tmp_path)
    who = "ops (restored from the journal)"  # what a user may call themselves on the admin socket
    engine.halt("ACC1", who, "drill")
    denial = submit(engine, order(qty=10), clock)
    assert denial is not None and denial.code == codes.TRADING_HALTED
    assert f"for account ACC1 (kill switch by {who}: drill); only cancels pass" in denial.text
    record = read_audit_log(tmp_path / "audit.jsonl")[-1]
    assert (record["trigger"], record["who"]) == ("kill", who)


def test_set_trading_state_when_restored_then_audit_says_so_and_a_resume_is_restored_too(tmp_path: Path) -> None:
    engine, clock = make_engine(tmp_path)
    engine.set_trading_state(TradingState.HALTED, "ACC1", "alice", "drill", restored=True)
    denial = submit(engine, order(qty=10), clock)
    assert denial is not None and "(kill switch by alice: drill)" in denial.text
    engine.set_trading_state(TradingState.ACTIVE, "ACC1", "bob", "done", restored=True)
    assert submit(engine, order(qty=10), clock) is None
    records = [r for r in read_audit_log(tmp_path / "audit.jsonl") if r["event"] == "trading_state"]
    assert [(r["trigger"], r["who"], r["new"]) for r in records] == [
        ("admin", "alice (restored from the journal)", "HALTED"),
        ("admin", "bob (restored from the journal)", "ACTIVE"),
    ]


def _started(workdir: Path, clock: FakeClock) -> GatewayProcess:
    """Build a gateway and recover today's journal, as ``GatewayProcess.start`` does before any socket."""
    limits = workdir / "limits.yaml" if (workdir / "limits.yaml").exists() else e2e_limits(workdir, ("S1", "S2"))
    process = GatewayProcess(gateway_config(workdir, 1, limits), clock=clock)
    process.lock_journal()
    process.build()
    process.recover()
    return process


def test_restart_when_a_kill_is_journaled_then_restored_with_the_kills_text_and_a_restored_audit_record() -> None:
    workdir = short_tmp()
    clock = FakeClock()
    first = _started(workdir, clock)
    first.kill("ACC1", "alice [pid 1 uid 2]", "runaway strategy")
    first._close_journal()
    second = _started(workdir, clock)
    try:
        risk = second.risk
        assert isinstance(risk, RiskEngine)
        risk.set_reference_price("AAPL", px("230.10"), clock())
        denial = risk.check_and_commit_new(order(qty=10, price="230.10"), clock())
        assert denial is not None and denial.code == codes.TRADING_HALTED
        assert "for account ACC1 (kill switch by alice [pid 1 uid 2]: runaway strategy); only cancels pass" in (
            denial.text
        )
        record = read_audit_log(workdir / "audit.jsonl")[-1]
        assert (record["event"], record["trigger"], record["who"], record["new"]) == (
            "trading_state",
            "kill",  # the kill's trigger, not "admin" (ops59)
            "alice [pid 1 uid 2] (restored from the journal)",
            "HALTED",
        )
    finally:
        second._close_journal()


def test_held_by_names_the_file_and_the_firm_halt_each_only_while_it_holds(tmp_path: Path) -> None:
    engine, _clock = make_engine(tmp_path, {"accounts": {"ACC1": {"trading_state": "REDUCING"}}})
    assert engine.held_by("ACC1") == ["file"]
    assert engine.held_by(None) == []
    engine.set_trading_state(TradingState.HALTED, None, "ops", "firm")
    assert engine.held_by("ACC1") == ["file", "firm"]
    assert engine.held_by(None) == []  # the firm scope's own run-time halt is what `resume` lifts
    engine.set_trading_state(TradingState.ACTIVE, None, "ops", "done")
    assert engine.held_by("ACC1") == ["file"]
    assert engine.held_by("ACC2") == []


def test_restart_when_a_refused_resume_restated_a_halt_after_an_internal_error_then_it_stays_internal_error() -> None:
    """rev60diff: the officer's refused ``gateway resume --account`` re-states the halt (HALTED, the officer as who,
    ``resume refused``) behind the ACTIVE record whose sync failed; the start restored it as a kill switch."""
    workdir = short_tmp()
    clock = FakeClock()
    first = _started(workdir, clock)
    journal = first.journal
    assert journal is not None
    journal.append(JTradingState("ACC1", "HALTED", INTERNAL_ERROR_WHO, "INTERNAL_ERROR: drill", 1))
    journal.append(JTradingState("ACC1", "ACTIVE", "alice", "", 2))  # on disk, its sync failed
    journal.append(JTradingState("ACC1", "HALTED", "alice", RESUME_REFUSED, 3))  # app.resume's re-statement
    journal.append(JTradingState("ACC2", "HALTED", "bob", "runaway", 4))  # a kill, then a refused resume of it
    journal.append(JTradingState("ACC2", "ACTIVE", "bob", "", 5))
    journal.append(JTradingState("ACC2", "HALTED", "bob", RESUME_REFUSED, 6))
    first._close_journal()
    second = _started(workdir, clock)
    try:
        risk = second.risk
        assert isinstance(risk, RiskEngine)
        assert second.accounts_halted() == [["ACC1", "HALTED", "internal_error"], ["ACC2", "HALTED", "kill"]]
        account = risk.status()["accounts"]["ACC1"]
        assert (account["runtime_trigger"], account["runtime_by"]) == ("internal_error", "alice")
        records = [r for r in read_audit_log(workdir / "audit.jsonl") if r["event"] == "trading_state"]
        restated = [(r["account"], r["trigger"]) for r in records if r["reason"] == RESUME_REFUSED]
        assert sorted(restated) == [("ACC1", "internal_error"), ("ACC2", "kill")]
        assert all(r["who"].endswith(RESTORED) for r in records if r["reason"] == RESUME_REFUSED)
    finally:
        second._close_journal()

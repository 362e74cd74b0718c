"""``gateway metrics`` shows reload outcomes, files not applied and an audit log that cannot be written (rev54risk).

A risk officer's save with vim, nano or ``cp`` (modified in place: never applied), a file with a typo refused by the
reload, and an audit log that cannot be written (every reload refused) were visible only in ``gateway status`` and
the log: Prometheus had nothing to alert on.
"""

from __future__ import annotations

from pathlib import Path

from tests.risk.support import make_engine, write_limits


def test_reload_metrics_when_applied_refused_in_place_and_audit_failing_then_each_counted(tmp_path: Path) -> None:
    engine, _ = make_engine(tmp_path)
    limits = tmp_path / "limits.yaml"
    assert engine.reload_metrics() == {
        "risk_reloads_applied_total": 0.0,
        "risk_reloads_refused_total": 0.0,
        "risk_files_not_applied": 0.0,
        "risk_audit_records_late": 0.0,
        "risk_copies_not_kept": 0.0,
    }
    write_limits(limits, {"defaults": {"max_qty": 900}})
    assert engine.reload("gateway risk reload", "alice").ok
    limits.write_text(limits.read_text() + "defaults: {max_qty: [}\n")  # a typo: refused, old limits kept
    assert not engine.reload("gateway risk reload", "alice").ok
    numbers = engine.reload_metrics()
    assert (numbers["risk_reloads_applied_total"], numbers["risk_reloads_refused_total"]) == (1.0, 1.0)

    write_limits(limits, {"defaults": {"max_qty": 800}})  # replaced: in force after the next reload
    assert engine.reload("gateway risk reload", "alice").ok
    with limits.open("a") as handle:  # in place (vim, cp): never applied by the watch
        handle.write("# edited in place\n")
    assert engine.changed_files() == []
    assert engine.reload_metrics()["risk_files_not_applied"] == 1.0

    audit = tmp_path / "audit.jsonl"
    audit.rename(tmp_path / "audit.saved")
    audit.mkdir()  # the audit log cannot be (re)opened: a kill's record waits in memory
    engine.halt("ACC1", "alice", "drill")
    numbers = engine.reload_metrics()
    assert numbers["risk_audit_records_late"] == 1.0
    assert numbers["risk_reloads_applied_total"] == 2.0

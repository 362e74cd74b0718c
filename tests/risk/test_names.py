"""Overrides checked against the strategies the gateway runs (its config's ``strategies:``)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from risk.audit import read_audit_log
from risk.engine import RiskEngine
from risk.limitsfile import KnownNames, LimitsFileError, read_limits
from tests.risk.support import WALL_NS, code, order, submit, write_limits

REPO = Path(__file__).resolve().parents[2]
KNOWN = KnownNames.of({"S1": ["ACC1"], "S2": ["ACC1", "ACC2"]}, "gw.yaml")


def _line_of(path: Path, text: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if line.strip().startswith(text))


def test_read_limits_when_override_names_a_strategy_the_gateway_does_not_run_then_refused_at_its_line(
    tmp_path: Path,
) -> None:
    path = write_limits(
        tmp_path / "limits.yaml",
        {
            "strategies": {"S1": {"max_qty": 10}, "S3": {"max_qty": 10}},
            "accounts": {"ACC2": {"strategies": {"S9": {}}}},
        },
    )
    with pytest.raises(LimitsFileError) as caught:
        read_limits(path, known=KNOWN)
    assert [str(p) for p in caught.value.problems] == [  # in the order of the file
        f"{path}:{_line_of(path, 'S9:')}:7: accounts.ACC2.strategies.S9: strategy 'S9' is not configured in"
        " gw.yaml (strategies there: S1, S2): this override would never apply; correct the name, or remove the"
        " override",
        f"{path}:{_line_of(path, 'S3:')}:3: strategies.S3: strategy 'S3' is not configured in gw.yaml"
        " (strategies there: S1, S2): this override would never apply; correct the name, or remove the override",
    ]
    assert read_limits(path).document.strategies["S3"].max_qty == 10  # without the gateway's names: valid


def test_read_limits_when_accounts_disagree_with_the_gateway_then_warnings_not_errors(tmp_path: Path) -> None:
    path = write_limits(tmp_path / "limits.yaml", {"accounts": {"ACC2": {"strategies": {"S1": {}}}, "ACC3": {}}})
    limits = read_limits(path, known=KnownNames.of({"S1": ["ACC1", "ACC4"], "S2": ["ACC2"]}, "gw.yaml"))
    assert limits.warnings == [
        f"{path}:{_line_of(path, 'S1:')}:7: accounts.ACC2.strategies.S1: strategy S1 may not trade account ACC2 in"
        " gw.yaml: this override never applies",
        f"{path}:{_line_of(path, 'ACC3:')}:3: accounts.ACC3: no strategy in gw.yaml may trade account ACC3",
        f"gw.yaml: strategy S1 may trade account ACC4, which {path} does not list: its orders are refused"
        " (UNKNOWN_ACCOUNT)",
    ]


def test_reload_when_new_override_names_an_unknown_strategy_then_refused_and_old_limits_stay(tmp_path: Path) -> None:
    path = write_limits(tmp_path / "limits.yaml", {"strategies": {"S1": {"max_qty": 500}}})
    engine = RiskEngine.load(path, audit_log_path=tmp_path / "audit.jsonl", wall_clock=lambda: WALL_NS, known=KNOWN)
    engine.set_reference_price("AAPL", 1_000_000, 0)
    write_limits(path, {"strategies": {"S1": {"max_qty": 500}, "S1x": {"max_qty": 5}}})
    result = engine.reload("SIGHUP", "ops")
    assert not result.ok and [p.path for p in result.errors] == ["strategies.S1x"]
    assert code(engine.check_and_commit_new(order(qty=500, strategy="S1"), 0)) is None  # old limits in force
    record = read_audit_log(tmp_path / "audit.jsonl")[-1]
    assert record["event"] == "reload_refused"
    assert record["errors"] == [str(result.errors[0])]
    assert f"{path}:" in record["errors"][0] and "strategy 'S1x' is not configured in gw.yaml" in record["errors"][0]
    engine.close()


def test_submit_when_engine_knows_names_then_orders_checked_as_before(tmp_path: Path) -> None:
    path = write_limits(tmp_path / "limits.yaml", {"strategies": {"S2": {"max_qty": 5}}})
    engine = RiskEngine.load(path, known=KNOWN)
    engine.set_reference_price("AAPL", 1_000_000, 0)
    from model.clock import FakeClock

    clock = FakeClock()
    assert code(submit(engine, order(qty=6, strategy="S2"), clock)) == "MAX_QTY"


def _gateway_yaml(directory: Path, strategies: dict[str, list[str]]) -> Path:
    path = directory / "gateway.yaml"
    path.write_text(yaml.safe_dump({"strategies": {s: {"accounts": a} for s, a in strategies.items()}}))
    return path


def _check(*args: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "gateway", "risk", "check", *args]
    return subprocess.run(argv, capture_output=True, text=True, cwd=REPO, timeout=60, check=False)


def test_check_when_config_given_then_unknown_strategy_is_an_error_with_file_and_line(tmp_path: Path) -> None:
    limits = write_limits(tmp_path / "limits.yaml", {"strategies": {"momentum": {"max_qty": 100}}})
    config = _gateway_yaml(tmp_path, {"demo": ["ACC1", "ACC2"]})
    done = _check(str(limits), "--config", str(config))
    assert done.returncode == 1
    assert done.stdout.splitlines() == [
        f"{limits}:{_line_of(limits, 'momentum:')}:3: strategies.momentum: strategy 'momentum' is not configured in"
        f" {config} (strategies there: demo): this override would never apply; correct the name, or remove the"
        " override",
        "1 error(s): the limits were NOT accepted",
    ]
    fixed = _gateway_yaml(tmp_path, {"demo": ["ACC1", "ACC2"], "momentum": ["ACC1"]})
    assert _check(str(limits), "--config", str(fixed)).returncode == 0


def test_check_when_no_config_then_valid_with_a_warning_that_strategy_names_were_not_checked(tmp_path: Path) -> None:
    limits = write_limits(tmp_path / "limits.yaml", {"strategies": {"momentum": {"max_qty": 100}}})
    done = _check(str(limits))
    assert done.returncode == 0
    assert "warning: strategy names not checked against a gateway config: strategies.momentum (" in done.stdout
    assert _check(str(limits), "--config", str(tmp_path / "missing.yaml")).returncode == 2


def test_check_when_example_limits_with_example_config_then_valid_without_warnings() -> None:
    done = _check("deploy/risk/limits.yaml", "--config", "deploy/gateway.yaml")
    assert done.returncode == 0, done.stdout
    warnings = [line for line in done.stdout.splitlines() if "warning" in line]
    assert len(warnings) == 1 and "as_of 2025-06-13T20:00:00Z is older than the last close" in warnings[0]  # 2025

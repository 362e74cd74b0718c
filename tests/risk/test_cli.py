"""`gateway risk check|diff|explain`: output and exit codes, through the real command-line entry point."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.cli import main
from tests.risk.support import write_limits

REPO = Path(__file__).resolve().parents[2]


def test_check_when_valid_then_exit_0_and_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_limits(tmp_path / "limits.yaml")
    assert main(["risk", "check", str(path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"OK: {path} is valid (sha256 ")
    assert "2 accounts" in out


def test_check_when_invalid_then_exit_1_listing_every_error_with_line_and_column(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_limits(
        tmp_path / "limits.yaml",
        {"accounts": {"ACC1": {"symbols": {"AAPL": {"max_qty": -5}}}}, "defaults": {"collar_pct": -1}},
    )
    assert main(["risk", "check", str(path)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert any(
        re.fullmatch(
            rf"{re.escape(str(path))}:\d+:\d+: accounts\.ACC1\.symbols\.AAPL\.max_qty: expected int > 0, got -5", line
        )
        for line in lines
    ), lines
    assert any("defaults.collar_pct: expected a percentage > 0" in line for line in lines)
    assert lines[-1] == "2 error(s): the limits were NOT accepted"


def test_check_when_no_file_argument_then_exit_2() -> None:
    with pytest.raises(SystemExit) as caught:
        main(["risk", "check"])
    assert caught.value.code == 2


def test_check_when_run_as_a_process_then_exit_code_reaches_the_shell(tmp_path: Path) -> None:
    path = write_limits(tmp_path / "limits.yaml", {"defaults": {"max_qty": "lots"}})
    done = subprocess.run(
        [sys.executable, "-m", "gateway", "risk", "check", str(path)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert "defaults.max_qty: expected int > 0, got 'lots'" in done.stdout


def test_diff_when_files_differ_then_exit_1_field_by_field(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old = write_limits(tmp_path / "old.yaml")
    new = write_limits(
        tmp_path / "new.yaml",
        {"defaults": {"max_qty": 800, "collar_pct": 2.5}, "accounts": {"ACC2": None, "ACC9": {"max_qty": 5}},
         "restricted": {"no_trade": ["XYZ"]}},
    )  # fmt: skip
    assert main(["risk", "diff", str(old), str(new)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out == [
        "defaults.max_qty: 1000 -> 800",
        "defaults.collar_pct: 5 -> 2.5",
        "accounts.ACC2: removed (was {})",
        "accounts.ACC9: added {max_qty: 5}",
        "restricted: added {no_trade: [XYZ]}",
        "5 change(s)",
    ]


def test_diff_when_same_limits_then_exit_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old = write_limits(tmp_path / "old.yaml")
    new = tmp_path / "new.yaml"
    new.write_text("# reformatted, same limits\n" + old.read_text())
    assert main(["risk", "diff", str(old), str(new)]) == 0
    assert "no changes" in capsys.readouterr().out


def test_diff_when_new_file_invalid_then_exit_2_with_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old = write_limits(tmp_path / "old.yaml")
    new = write_limits(tmp_path / "new.yaml", {"defaults": {"lot_size": 0}})
    assert main(["risk", "diff", str(old), str(new)]) == 2
    assert "defaults.lot_size: expected int > 0, got 0" in capsys.readouterr().out


def test_explain_when_order_passes_then_exit_0_every_check_listed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_limits(tmp_path / "limits.yaml")
    argv = ["risk", "explain", str(path), "--order", "account=ACC1 symbol=AAPL side=B qty=100 price=100.00",
            "--reference-price", "100.00"]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out
    for check in ("max_qty", "max_notional", "price_collar", "max_long_qty", "order_rate", "duplicate"):
        assert f"pass  {check}" in out
    assert "result: ACCEPTED" in out
    assert "max_qty                     1000 <- defaults" in out


def test_explain_when_order_breaks_limits_then_exit_1_naming_each_failed_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_limits(tmp_path / "limits.yaml", {"accounts": {"ACC1": {"max_qty": 500}}})
    order = json.dumps({"account": "ACC1", "symbol": "AAPL", "side": "S", "qty": 600, "price": "110.00"})
    assert main(["risk", "explain", str(path), "--order", order, "--reference-price", "100", "--position", "100"]) == 1
    out = capsys.readouterr().out
    assert "FAIL  max_qty" in out and "MAX_QTY: quantity 600 is above max_qty 500" in out
    assert "FAIL  price_collar" in out and "PRICE_COLLAR" in out
    assert "FAIL  short_sale" in out and "SHORT_SALE_NOT_MARKED" in out
    assert "max_qty                     500 <- accounts.ACC1" in out
    assert "result: REFUSED with MAX_QTY (4 check(s) fail)" in out


def test_explain_when_json_output_then_machine_readable(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_limits(tmp_path / "limits.yaml")
    argv = [
        "risk",
        "explain",
        str(path),
        "--json",
        "--order",
        "account=ACC1 symbol=AAPL side=B qty=10 price=100",
    ]
    assert main(argv) == 1  # no reference price known: refused
    verdicts = json.loads(capsys.readouterr().out)
    assert {"check": "price_collar", "passed": False, "code": "REFERENCE_MISSING"}.items() <= next(
        v for v in verdicts if v["check"] == "price_collar"
    ).items()


def test_explain_when_account_unknown_then_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_limits(tmp_path / "limits.yaml")
    assert main(["risk", "explain", str(path), "--order", "account=NOPE symbol=AAPL side=B qty=1 price=1"]) == 1
    assert "UNKNOWN_ACCOUNT" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("order", "words"),
    [
        ("account=ACC1 symbol=AAPL side=X qty=1 price=1", "side must be one of"),
        ("account=ACC1 symbol=AAPL side=B qty=1.5 price=1", "qty must be a whole number"),
        ("account=ACC1 symbol=AAPL side=B qty=1 price=1.00001", "at most 4 decimals"),
        ("account=ACC1 symbol=AAPL side=B qty=1", "price is required"),
        ("account=ACC1 side=B qty=1 price=1", "missing symbol"),
        ("account=ACC1 symbol=AAPL side=B qty=1 price=1 colour=red", "unknown field(s) colour"),
        ("account=ACC1 symbol", "expected key=value"),
        ("{not json", "not valid JSON"),
    ],
)
def test_explain_when_order_text_bad_then_exit_2_with_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], order: str, words: str
) -> None:
    path = write_limits(tmp_path / "limits.yaml")
    assert main(["risk", "explain", str(path), "--order", order]) == 2
    assert words in capsys.readouterr().err


def test_explain_when_limits_invalid_then_exit_2_with_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_limits(tmp_path / "limits.yaml", {"version": 3})
    assert main(["risk", "explain", str(path), "--order", "account=ACC1 symbol=AAPL side=B qty=1 price=1"]) == 2
    assert "version: expected one of 1, got 3" in capsys.readouterr().out


def test_check_when_yaml_bracket_never_closed_then_one_line_with_both_positions(tmp_path: Path) -> None:
    path = write_limits(tmp_path / "limits.yaml")
    lines = path.read_text().splitlines()
    index = next(i for i, line in enumerate(lines) if line.startswith("accounts:"))
    lines.insert(index, "restricted:\n  no_trade: [XYZ, GME")  # the `[` is never closed
    path.write_text("\n".join(lines) + "\n")
    done = subprocess.run(
        [sys.executable, "-m", "gateway", "risk", "check", str(path)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    first = done.stdout.splitlines()[0]
    opened = index + 2
    assert first.startswith(f"{path}:{opened + 1}:")
    assert first.endswith(f"(the flow sequence ('[') opened at line {opened}, column 13 is never closed)")


def test_reload_when_no_gateway_listens_then_exit_1_naming_the_command_as_typed(tmp_path: Path) -> None:
    # It said "gateway risk_reload: ..." (the admin protocol's name), not the command the operator typed.
    done = subprocess.run(
        [sys.executable, "-m", "gateway", "risk", "reload", "--admin-socket", str(tmp_path / "admin.sock")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr.startswith("gateway risk reload: no gateway admin socket at "), done.stderr
    assert "Traceback" not in done.stderr

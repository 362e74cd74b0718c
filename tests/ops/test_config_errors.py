"""Errors in the gateway config name file:line:column, as the risk files' errors do (fixops35).

The ops review found ``gateway run`` saying ``Expected `int`, got `str` - at `$.spin.loop_spin_us``` with no
line, while a risk limits file gives ``file:line:column: path: message``. Each test runs the real
``gateway run`` (or ``gateway launch --dry-run``) on a copy of deploy/gateway.yaml with one change.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"


def _deploy_copy(tmp: Path, old: str, new: str) -> tuple[Path, str]:
    """Copy deploy/ (config and risk files) under ``tmp`` with ``old`` replaced by ``new`` in gateway.yaml."""
    (tmp / "deploy").mkdir()
    shutil.copytree(DEPLOY / "risk", tmp / "deploy" / "risk")
    text = (DEPLOY / "gateway.yaml").read_text()
    assert text.count(old) == 1, old
    text = text.replace(old, new)
    (tmp / "deploy" / "gateway.yaml").write_text(text)
    return tmp / "deploy" / "gateway.yaml", text


def _gateway(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "gateway", *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, cwd=cwd, check=False)


def _where(text: str, line_text: str, column_of: str) -> str:
    """Return ``line:column`` (1-based) of ``column_of`` on the line that is ``line_text``."""
    lines = text.splitlines()
    number = next(i for i, line in enumerate(lines) if line.rstrip().startswith(line_text))
    return f"{number + 1}:{lines[number].index(column_of) + 1}"


@pytest.mark.parametrize(
    ("old", "new", "at", "expected"),
    [
        ("  loop_spin_us: 100", '  loop_spin_us: "x"', '"x"', "spin.loop_spin_us: Expected `int`, got `str`"),
        (
            "  sched_fifo_priority: null",
            "  sched_fifo_priority: 100",
            "100",
            "spin.sched_fifo_priority: Expected `int` <= 99",
        ),
        (
            "  sched_fifo_priority: null",
            "  sched_fifo_priority: null\n  spin_us: 5",
            "spin_us",
            "spin: Object contains unknown field `spin_us`",
        ),
        (  # one read's answers must fit under it (rev52diff 3: 16 KiB cut a strategy that kept reading)
            "# max_strategy_write_buffer: 8388608",
            "max_strategy_write_buffer: 16384",
            "16384",
            "max_strategy_write_buffer: Expected `int` >= 65536",
        ),
    ],
)
def test_run_when_a_setting_is_bad_then_exit_2_naming_file_line_column_and_field(
    tmp_path: Path, old: str, new: str, at: str, expected: str
) -> None:
    config, text = _deploy_copy(tmp_path, old, new)
    where = _where(text, new.splitlines()[-1], at)
    run = _gateway("run", "--config", "deploy/gateway.yaml", cwd=tmp_path)
    assert run.returncode == 2
    assert run.stderr == f"gateway run: deploy/gateway.yaml:{where}: {expected}\n"
    dry = _gateway("launch", "--dry-run", "--", "--config", str(config), cwd=tmp_path)
    assert dry.returncode == 2
    assert f"launch: refusing to start: {config}:{where}: {expected}" in dry.stderr


def test_run_when_one_strategy_of_many_is_bad_then_it_is_named(tmp_path: Path) -> None:
    # strategies is a mapping: msgspec says `$.strategies[...].accounts`, not which strategy
    _, text = _deploy_copy(tmp_path, "    accounts: [PROP3]", "    accounts: 5")
    where = _where(text, "    accounts: 5", "5")
    run = _gateway("run", "--config", "deploy/gateway.yaml", cwd=tmp_path)
    assert run.returncode == 2
    assert run.stderr == (
        f"gateway run: deploy/gateway.yaml:{where}: strategies.momentum.accounts: Expected `array`, got `int`\n"
    )


def test_run_when_the_yaml_does_not_parse_then_file_line_column(tmp_path: Path) -> None:
    _deploy_copy(tmp_path, "  loop_spin_us: 100", "  loop_spin_us: [100")
    run = _gateway("run", "--config", "deploy/gateway.yaml", cwd=tmp_path)
    assert run.returncode == 2
    assert re.fullmatch(r"gateway run: deploy/gateway\.yaml:\d+:\d+: not valid YAML: .*\n", run.stderr), run.stderr


def test_ops_guide_when_quoting_a_config_error_then_it_is_the_runs(tmp_path: Path) -> None:
    guide = (REPO / "docs" / "ops-guide.md").read_text()
    quoted = re.search(
        r"`(gateway run: deploy/gateway\.yaml:\d+:\d+: spin\.sched_fifo_priority: [^`]*`[^`]*`[^`]*)`", guide
    )
    assert quoted is not None
    _deploy_copy(tmp_path, "  sched_fifo_priority: null", "  sched_fifo_priority: 100")
    run = _gateway("run", "--config", "deploy/gateway.yaml", cwd=tmp_path)
    assert run.stderr == quoted.group(1) + "\n"


@pytest.mark.parametrize(
    ("old", "new", "at", "expected"),
    [
        ("    port: 15000", '    port: "x"', '"x"', "venues[0].port: Expected `int`, got `str` (venue OUCH)"),
        (
            '    locate_broker: ""',
            '    locate_broker: ""\n    heartbeat_ms: 5',
            "heartbeat_ms",
            "venues[0]: Object contains unknown field `heartbeat_ms` (venue OUCH)",
        ),
        (
            "  - protocol: ouch",
            "  - protocol: ouch5",
            "ouch5",
            "venues[0].protocol: unknown protocol 'ouch5'; expected one of ['boe', 'fix', 'ouch'] (venue OUCH)",
        ),
        (  # rev56ouch L3: SoupBinTCP 3.00 heartbeats once a second; a server drops a client silent ~15 s
            "    heartbeat_interval_ms: 1000\n    server_timeout_ms: 5000",
            "    server_timeout_ms: 30000\n    heartbeat_interval_ms: 20000",
            "20000",
            "venues[0].heartbeat_interval_ms: heartbeat_interval_ms 20000 must be below 15000: SoupBinTCP 3.00 wants "
            "a client heartbeat whenever the client has sent nothing for more than 1 second, and a server closes a "
            "client silent for typically 15 seconds (use 1000) (venue OUCH)",
        ),
        (  # a server heartbeats only after more than 1 s of silence
            "    heartbeat_interval_ms: 1000\n    server_timeout_ms: 5000",
            "    heartbeat_interval_ms: 500\n    server_timeout_ms: 800",
            "800",
            "venues[0].server_timeout_ms: server_timeout_ms 800 must be above 1000: a SoupBinTCP server sends its "
            "heartbeat only when it has sent nothing for more than 1 second, so the session would be dropped "
            "whenever the venue is quiet (venue OUCH)",
        ),
    ],
)
def test_run_when_a_venue_setting_is_bad_then_exit_2_naming_file_line_column_and_field(
    tmp_path: Path, old: str, new: str, at: str, expected: str
) -> None:
    # the venue sections were checked by their protocol's schema after loading: no line, no column (fixops35)
    config, text = _deploy_copy(tmp_path, old, new)
    where = _where(text, new.rstrip("\n").splitlines()[-1], at)
    run = _gateway("run", "--config", "deploy/gateway.yaml", cwd=tmp_path)
    assert run.returncode == 2
    assert run.stderr == f"gateway run: deploy/gateway.yaml:{where}: {expected}\n"
    dry = _gateway("launch", "--dry-run", "--", "--config", str(config), cwd=tmp_path)
    assert dry.returncode == 2
    assert f"launch: refusing to start: {config}:{where}: {expected}" in dry.stderr


def test_run_when_a_venue_has_no_protocol_then_its_entry_is_named(tmp_path: Path) -> None:
    _, text = _deploy_copy(tmp_path, "  - protocol: ouch\n    name: OUCH", "  - name: OUCH")
    where = _where(text, "  - name: OUCH", "name")
    run = _gateway("run", "--config", "deploy/gateway.yaml", cwd=tmp_path)
    assert run.returncode == 2
    assert run.stderr == (
        f"gateway run: deploy/gateway.yaml:{where}: venues[0]: needs a 'protocol' (one of boe, fix, ouch)\n"
    )

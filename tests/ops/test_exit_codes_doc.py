"""The exit codes the docs state are the ones ``gateway run`` exits with (opsfix31).

A bad config has been exit 2 since launch30 (systemd's ``RestartPreventExitStatus=2``), a damaged journal stays
exit 1; docs/architecture.md's start-up order still said exit 1 for a bad config. Each test reads the number
from the doc and runs the real ``gateway run`` to get it.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from gateway.commands.run import EXIT_BAD_CONFIG, EXIT_STARTUP_FAILED

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"


def _startup_step(number: int) -> str:
    """Return step ``number`` of docs/architecture.md's "Start-up order" list."""
    section = (DOCS / "architecture.md").read_text().split("## Start-up order", 1)[1].split("\n## ", 1)[0]
    return section.split(f"\n{number}. ", 1)[1].split(f"\n{number + 1}. ", 1)[0]


def _stated_exit(text: str) -> int:
    found = re.findall(r"\(exit (\d+)", text)
    assert len(found) == 1, text
    return int(found[0])


def _run(config: Path) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "gateway", "run", "--config", str(config)]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, cwd=config.parent, check=False)


def test_architecture_startup_step_1_when_config_does_not_load_then_the_stated_exit_code_is_the_runs(
    tmp_path: Path,
) -> None:
    stated = _stated_exit(_startup_step(1))
    result = _run(tmp_path / "missing.yaml")
    assert "cannot read config" in result.stderr
    assert result.returncode == stated == EXIT_BAD_CONFIG


def test_architecture_startup_step_5_when_limits_or_venue_config_bad_then_exit_2_as_stated() -> None:
    assert _stated_exit(_startup_step(5)) == EXIT_BAD_CONFIG


def test_architecture_startup_step_6_when_journal_damaged_then_exit_1_as_stated() -> None:
    # the run itself: tests/reliability/test_bad_input.py (a CRC-valid journal naming an unknown order: exit 1)
    assert _stated_exit(_startup_step(6)) == EXIT_STARTUP_FAILED


def test_reliability_fuzz_note_when_config_not_utf8_then_the_stated_exit_code_is_the_runs(tmp_path: Path) -> None:
    text = (DOCS / "reliability.md").read_text()
    note = re.search(r"a config file with non-UTF-8 bytes \(traceback instead of exit (\d+)", text)
    assert note is not None
    config = tmp_path / "gateway.yaml"
    config.write_bytes(b"gateway_id: gw\xff1\n")
    result = _run(config)
    assert "not UTF-8" in result.stderr and "Traceback" not in result.stderr
    assert result.returncode == int(note.group(1)) == EXIT_BAD_CONFIG

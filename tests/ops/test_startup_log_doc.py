"""docs/ops-guide.md section 6 quotes the ERROR lines a failed start logs, as the code logs them (opsfix31).

launch30 added two ERROR lines the section did not list: the gateway's own acceleration refusal
(``--require-onload`` / ``--strict-acceleration`` with libonload not loaded) and a directory it cannot use
(``journal directory <path>: ...``). Each test makes a real process log its line and looks the line up in
the section's tables (logger, level and the quoted text, ``<...>`` and ``...`` standing for any text).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.ops.conftest import LaunchRig
from tests.ops.test_launch_contract import _config, _run

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "ops-guide.md"
LOG_LINE = re.compile(r"^\S+ \S+ (?P<level>[A-Z]+)\s+(?P<logger>[\w.]+): (?P<message>.*)$")


def _section_6_rows() -> list[tuple[str, str, list[str]]]:
    """Return (logger, level, quoted texts) for every table row of section 6."""
    text = GUIDE.read_text().split("## 6. ", 1)[1].split("\n## 7. ", 1)[0]
    rows = []
    for line in text.splitlines():
        cells = line.split(" | ")
        head = re.match(r"^\| `([\w.]+)` ([A-Z]+)", cells[0])
        if head is not None and len(cells) >= 3:
            rows.append((head.group(1), head.group(2), re.findall(r"`([^`]+)`", cells[1])))
    return rows


def _pattern(quoted: str) -> re.Pattern[str]:
    """Return the regular expression of a quoted line: ``<words>`` and ``...`` match any text."""
    parts = re.split(r"(<[^<>]+>|\.\.\.)", quoted)
    return re.compile("".join(".+" if i % 2 else re.escape(part) for i, part in enumerate(parts)))


def documented(log_line: str) -> bool:
    """Return True if section 6 lists ``log_line`` (a line of the gateway's log) under its logger and level."""
    found = LOG_LINE.match(log_line)
    assert found is not None, log_line
    return any(
        logger == found["logger"] and level == found["level"] and _pattern(quoted).fullmatch(found["message"])
        for logger, level, quoted_texts in _section_6_rows()
        for quoted in quoted_texts
    )


def _errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if LOG_LINE.match(line) and " ERROR " in line]


def test_guide_section_6_when_journal_directory_unusable_then_the_runs_error_line_is_listed(rig: LaunchRig) -> None:
    config = _config(rig.tmp)
    (rig.tmp / "journal").write_text("not a directory\n")
    run = _run("run", "--config", str(config), cwd=rig.tmp)
    assert run.returncode == 1, run.stderr
    (error,) = _errors(run.stderr)
    assert f"failed to start: journal directory {rig.tmp / 'journal'}: exists and is not a directory" in error
    assert documented(error), error


@pytest.mark.parametrize("flag", ["--require-onload", "--strict-acceleration"])
def test_guide_section_6_when_onload_required_but_not_loaded_then_the_gateways_error_line_is_listed(
    rig: LaunchRig, flag: str
) -> None:
    rig.install_onload()  # a stand-in that execs the gateway without preloading libonload
    rig.load_driver()
    rig.install_onload_profiles()
    argv = [sys.executable, "-m", "gateway", "launch", "--python", sys.executable, flag, "--"]
    result = subprocess.run(
        [*argv, "--config", str(_config(rig.tmp))],
        env=rig.env(),
        cwd=rig.tmp,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1, result.stderr
    (error,) = _errors(result.stderr)
    assert f"acceleration: {flag}: the launcher chose onload but libonload.so not loaded" in error
    assert documented(error), error


def test_guide_section_6_when_a_profile_import_is_missing_then_the_launchs_error_line_is_listed(
    rig: LaunchRig,
) -> None:
    rig.install_onload()
    rig.load_driver()  # Onload usable, but not its own profiles: gateway-latency imports latency
    result = rig.launch("--", "--config", str(_config(rig.tmp)))
    assert result.returncode == 1, result.stderr
    (error,) = _errors(result.stderr)
    assert "launch: refusing to start: the profile gateway-latency imports latency" in error
    assert documented(error), error


def test_documented_when_a_line_is_not_in_the_guide_then_false() -> None:
    line = "2026-12-04 02:17:08,589 ERROR   gateway.commands.run: gateway gw1 failed to start: no such thing"
    assert not documented(line)
    elsewhere = line.replace("no such thing", "journal directory /x: exists and is not a directory")
    assert not documented(elsewhere.replace("ERROR", "INFO"))


def test_guide_section_6_when_an_onload_profile_named_is_missing_on_the_host_then_it_is_named_as_such(
    rig: LaunchRig,
) -> None:
    # fixops35: "--profile safe" on a host without safe.opf said "the profile safe imports safe"
    rig.install_onload()
    rig.load_driver()
    result = rig.launch("--profile", "safe", "--", "--config", str(_config(rig.tmp)))
    assert result.returncode == 1, result.stderr
    (error,) = _errors(result.stderr)
    assert "launch: refusing to start: the Onload profile safe is not found in Onload's profile directories" in error
    assert "imports" not in error
    assert documented(error), error
    assert rig.record(rig.onload_record) is None

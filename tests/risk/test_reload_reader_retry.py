"""The file watch reads a file again when the process reading it gave no verdict (risk56).

A reload reads and checks the limits files in a reader process (``python -m risk.reader``, reload55). When that
process crashed, was killed or timed out, the reload was refused, rightly (fail closed), but the file's content was
recorded as judged: the watch never read it again, and a good file a risk officer saved (``mv``) stayed out of force
until someone ran ``gateway risk reload``. Now the watch reads the same content again, after 2 s, then twice as long
each time (60 s at most), 10 times at most, until a read gives a verdict; the first failure is logged and audited,
the reads again are not; the limits in force stay meanwhile.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from gateway.app import GatewayProcess
from risk.engine import WATCH_TRIGGER, WATCH_WHO, RiskEngine
from risk.reader import reader_command
from tests.e2e.support import e2e_limits, gateway_config, short_tmp
from tests.risk import test_loader

VALID = test_loader.VALID
_KILLED = [sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"]
_FAIL_ONCE = (  # killed while the flag file (its first argument) is there, which it removes; then the real reader
    "import os, signal, sys; flag = sys.argv.pop(1)\n"
    "if os.path.exists(flag):\n    os.unlink(flag); os.kill(os.getpid(), signal.SIGKILL)\n"
    "from risk import reader; sys.exit(reader.main())"
)
S = 1_000_000_000


def _replace(path: Path, text: str) -> None:
    copy = path.with_name(path.name + ".new")
    copy.write_text(text)
    copy.replace(path)


def _audit(path: Path) -> list[tuple[str, str]]:
    records = [json.loads(line) for line in path.read_text().splitlines()]
    return [(r["event"], r["trigger"]) for r in records if r["event"] not in ("startup",)]


class _Clock:
    def __init__(self) -> None:
        self.now = 1_000 * S

    def __call__(self) -> int:
        return self.now


def _engine(tmp_path: Path) -> tuple[RiskEngine, Path, _Clock]:
    path = tmp_path / "limits.yaml"
    path.write_text(VALID)
    clock = _Clock()
    engine = RiskEngine.load(path, clock, audit_log_path=tmp_path / "audit.jsonl")
    return engine, path, clock


def _watch_reload(engine: RiskEngine, command: list[str]) -> Any:
    """What the gateway does when the watch reports a change: begin, read in a reader process, finish."""
    pending = engine.begin_reload(WATCH_TRIGGER, WATCH_WHO)
    pending.reader = command
    pending.read()
    return engine.finish_reload(pending)


def test_watch_reload_when_the_reader_process_dies_then_read_again_with_backoff_audited_once_then_given_up(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    engine, path, clock = _engine(tmp_path)
    engine.reader_retries = 3
    in_force = engine.status()["sha256"]
    _replace(path, VALID.replace("max_qty: 500", "max_qty: 400"))
    assert engine.changed_files() == ["limits"]
    caplog.set_level(logging.INFO, logger="risk")
    result = _watch_reload(engine, _KILLED)
    assert not result.ok and "was killed by signal 9 before answering" in result.errors[0].message
    assert engine.status()["sha256"] == in_force  # fail closed meanwhile
    assert _audit(tmp_path / "audit.jsonl") == [("reload_refused", WATCH_TRIGGER)]
    assert (
        "reads" in engine.status()["last_reload"]["retry"] and "again in 2 s" in engine.status()["last_reload"]["retry"]
    )
    for delay_s in (2, 4, 8):  # twice as long each time
        clock.now += delay_s * S - 1
        assert engine.changed_files() == []  # the old code: never again (the content was judged)
        clock.now += 1
        assert engine.changed_files() == ["limits"]
        assert engine.changed_files() == []  # once
        result = _watch_reload(engine, _KILLED)
        assert not result.ok and result.errors == [] and "NOT applied" in result.message
    assert _audit(tmp_path / "audit.jsonl") == [("reload_refused", WATCH_TRIGGER)]  # audited once
    assert engine.reload_metrics()["risk_reloads_refused_total"] == 1.0
    refusals = [r for r in caplog.records if r.levelno >= logging.WARNING and r.name == "risk"]
    gave_up = [r.getMessage() for r in refusals if "gave up" in r.getMessage()]
    assert len(gave_up) == 1 and "after 3 attempts" in gave_up[0] and "gateway risk reload" in gave_up[0]
    assert len(refusals) <= 5, [r.getMessage() for r in refusals]  # the first failure's lines and giving up
    assert "gave up" in engine.status()["last_reload"]["retry"]
    clock.now += 3600 * S
    assert engine.changed_files() == []  # given up: bounded
    pending = engine.begin_reload("gateway risk reload", "officer")  # the manual reload still applies it
    pending.reader = reader_command()
    pending.read()
    assert engine.finish_reload(pending).ok
    assert engine.status()["sha256"] == _sha(path)
    engine.close()


def test_watch_reload_when_the_reader_process_dies_once_then_the_file_is_applied_without_a_command(
    tmp_path: Path,
) -> None:
    engine, path, clock = _engine(tmp_path)
    _replace(path, VALID.replace("max_qty: 500", "max_qty: 400"))
    assert engine.changed_files() == ["limits"]
    assert not _watch_reload(engine, _KILLED).ok
    clock.now += 2 * S
    assert engine.changed_files() == ["limits"]
    result = _watch_reload(engine, reader_command())
    assert result.ok, result
    assert engine.status()["sha256"] == _sha(path)
    assert _audit(tmp_path / "audit.jsonl") == [("reload_refused", WATCH_TRIGGER), ("reload", WATCH_TRIGGER)]
    assert "retry" not in engine.status()["last_reload"]
    clock.now += 3600 * S
    assert engine.changed_files() == []  # a verdict: nothing to read again
    engine.close()


def test_watch_reload_when_the_reader_fails_then_a_new_version_is_read_and_a_bad_one_judged_once(
    tmp_path: Path,
) -> None:
    """A file replaced after the failure is read as usual; a verdict on it (refused for its content) ends the reads
    again, and that content is not refused twice."""
    engine, path, clock = _engine(tmp_path)
    _replace(path, VALID.replace("max_qty: 500", "max_qty: 400"))
    assert engine.changed_files() == ["limits"]
    assert not _watch_reload(engine, _KILLED).ok
    _replace(path, VALID.replace("max_qty: 500", "max_qty: -4"))  # saved again, with a mistake
    assert engine.changed_files() == ["limits"]
    result = _watch_reload(engine, reader_command())
    assert not result.ok and "max_qty" in str(result.errors[0])
    clock.now += 3600 * S
    assert engine.changed_files() == []
    events = _audit(tmp_path / "audit.jsonl")
    assert events == [("reload_refused", WATCH_TRIGGER), ("reload_refused", WATCH_TRIGGER)]
    engine.close()


def _sha(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


# ---------------------------------------------------------------- through the gateway


async def test_gateway_watch_when_its_reader_process_is_killed_once_then_the_saved_file_takes_effect_by_itself() -> (
    None
):
    workdir = short_tmp()
    config = gateway_config(workdir, 1, Path())
    limits = e2e_limits(workdir, config.strategies)
    process = GatewayProcess(gateway_config(workdir, 1, limits))
    process.build()
    risk = process.risk
    assert isinstance(risk, RiskEngine)
    risk.reader_retry_first_s = 0.2
    flag = workdir / "fail-once"
    flag.touch()
    process.risk_reader = [sys.executable, "-c", _FAIL_ONCE, str(flag)]
    in_force = risk.status()["sha256"]
    _replace(limits, limits.read_text() + "\n# saved by the risk officer\n")
    wanted = _sha(limits)
    deadline = time.monotonic() + 30
    while risk.status()["sha256"] != wanted:  # the watch's ticks, as the gateway's timer runs them
        assert time.monotonic() < deadline, (risk.status()["last_reload"], flag.exists())
        process._watch_risk_file()
        running = process._risk_reload
        if running is not None:
            await running
        else:
            await asyncio.sleep(0.05)
    assert not flag.exists()  # it did fail once
    assert risk.status()["sha256"] != in_force
    events = _audit(workdir / "audit.jsonl")
    assert [e for e in events if e[0].startswith("reload")] == [
        ("reload_refused", WATCH_TRIGGER),
        ("reload", WATCH_TRIGGER),
    ], events
    risk.close()

"""Every reader of the risk audit log at a start or a stop reads the same files, and none of them ever blocks (ops59).

Found by rev59ops:

1 (HIGH, fail open) a limits file held back while ``state_dir`` could not be written, then two rotations of the audit
  log before the restart (one while the gateway ran and one while it was down, or two while down): the start read
  ``<log>`` and ``<log>.1`` for its last word on the limits (``risk.startup``), while the kill switches were read
  from ``<log>.2`` too, and the stop said two rotations were safe. The held-back file was put in force. Now both
  read ``risk.audit.audit_files``.
2 (MEDIUM) a FIFO at a rotated audit path blocked the start's ``open()`` for ever (SIGTERM held during start-up could
  not end it). Every read goes through ``risk.audit.read_tail``: ``O_NONBLOCK``, a regular file or an ``OSError``.
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

import gateway.audit_kills
import risk.audit
from risk.engine import RiskEngine
from risk.limitsfile import LimitsFileError
from risk.startup import last_word
from tests.e2e.support import short_tmp
from tests.risk.test_held_back_note_lost import _held_back_while_unwritable, _records, _sha
from tests.risk.test_reload_copy_unwritable import _built, _refuse_all, _replace

pytestmark = pytest.mark.timeout(120)

ROOT = Path(__file__).resolve().parents[2]


def _rotate(audit: Path) -> None:
    """logrotate (``nocreate``): ``.1`` -> ``.2``, the log -> ``.1``; then another gateway's record makes a new log."""
    one, two = audit.with_name(audit.name + ".1"), audit.with_name(audit.name + ".2")
    if one.exists():
        os.rename(one, two)
    os.rename(audit, one)
    audit.write_text('{"time":"t","time_ns":1,"event":"new_day","trigger":"admin","who":"x","gateway_id":"other"}\n')


def test_the_start_the_kill_reader_and_the_stop_read_one_list_of_files() -> None:
    audit = Path("/var/log/gw/risk-audit.jsonl")
    assert vars(gateway.audit_kills)["audit_files"] is risk.audit.audit_files  # the old code: its own list
    assert risk.audit.audit_files(audit) == (
        Path("/var/log/gw/risk-audit.jsonl.2"),
        Path("/var/log/gw/risk-audit.jsonl.1"),
        audit,
    )
    assert risk.audit.files_read(audit) == f"{audit}, {audit}.1 and {audit}.2"
    advice = risk.audit.rotate_advice
    assert advice(audit, audit) == "do not rotate it more than 2 times before the start"
    assert advice(audit, f"{audit}.1") == "do not rotate it more than once before the start"
    assert advice(audit, f"{audit}.2") == "do not rotate it before the start"


async def test_held_back_file_whose_copy_was_not_kept_then_two_rotations_then_the_start_still_refuses(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """rev59ops finding 1: the stale copy and the held-back file's record in ``<log>.2`` after two rotations."""
    workdir, limits, keep, gateway_id, in_force = await _held_back_while_unwritable(monkeypatch, copy_kept=False)
    audit = workdir / "audit.jsonl"
    record = [r for r in _records(audit) if r["event"] == "not_applied"][-1]
    _rotate(audit)
    _rotate(audit)
    assert record in _records(workdir / "audit.jsonl.2")
    with pytest.raises(LimitsFileError) as refused:  # the old code: started on the held-back file
        RiskEngine.load(limits, audit_log_path=audit, keep=keep, gateway_id=gateway_id).close()
    text = str(refused.value)
    assert f"{limits} was modified in place and NOT applied before the gateway stopped" in text, text
    assert f"the audit log says sha256 {in_force} was in force" in text, text
    word = last_word(audit, gateway_id)
    assert word.file == str(workdir / "audit.jsonl.2"), word


async def test_held_back_file_whose_note_alone_was_not_kept_then_two_rotations_then_the_copy_in_force(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The copy in force kept, the note not: after two rotations the copy is in force, the file stays NOT APPLIED;
    the start's INFO line names the copy its hash is of (rev59ops LOW 6: it named the file)."""
    workdir, limits, keep, gateway_id, in_force = await _held_back_while_unwritable(monkeypatch, copy_kept=True)
    audit = workdir / "audit.jsonl"
    _rotate(audit)
    _rotate(audit)
    caplog.set_level("INFO", logger="risk")
    restarted = RiskEngine.load(limits, audit_log_path=audit, keep=keep, gateway_id=gateway_id)
    loaded = f"risk limits loaded from {keep}, the copy in force of {limits} (sha256 {in_force}; the file itself, NOT"
    assert loaded in caplog.text, caplog.text
    try:
        status = restarted.status()
    finally:
        restarted.close()
    assert status["sha256"] == in_force != _sha(limits), "the held-back file is in force"  # the old code: the file
    assert [n["sha256"] for n in status["not_applied"]] == [_sha(limits)], status["not_applied"]


def test_read_tail_of_a_fifo_or_a_directory_then_an_oserror_at_once(tmp_path: Path) -> None:
    read_tail = risk.audit.read_tail
    fifo = tmp_path / "audit.jsonl.1"
    os.mkfifo(fifo)
    with pytest.raises(OSError, match=r"not a regular file \(a FIFO\)"):
        risk.audit.read_tail(fifo, 1 << 20)
    (tmp_path / "audit.jsonl.2").mkdir()
    with pytest.raises(OSError, match=r"not a regular file \(a directory\)"):
        read_tail(tmp_path / "audit.jsonl.2", 1 << 20)
    with pytest.raises(FileNotFoundError):
        read_tail(tmp_path / "missing", 10)
    (tmp_path / "audit.jsonl").write_bytes(b"0123456789")
    assert read_tail(tmp_path / "audit.jsonl", 4) == (6, b"6789")
    assert read_tail(tmp_path / "audit.jsonl", 40) == (0, b"0123456789")


_READERS = textwrap.dedent(
    """
    import logging, sys
    from pathlib import Path
    from gateway.audit_kills import audited_records, held_ids
    from risk.startup import last_word

    logging.basicConfig(level=logging.WARNING, stream=sys.stdout, format="%(levelname)s %(message)s")
    audit = Path(sys.argv[1])
    word = last_word(audit, "gw1")
    print("WORD", word.record is not None and word.record.get("event"), getattr(word, "file", "?"))
    found = audited_records(audit, lambda _: True, "gw1")
    print("FOUND", [(state.account, state.state, state.state_id) for state in found])
    held = held_ids(audit, "gw1", [7])
    print("HELD", sorted(held.where), len(held.unreadable))
    """
)


def _line(record: dict[str, Any]) -> str:
    return json.dumps({"time": "t", "time_ns": 1, **record, "gateway_id": "gw1"}, separators=(",", ":")) + "\n"


def _run(script: str, audit: Path) -> str:
    """Run ``script`` on ``audit`` in a child process (the old code blocks in ``open()``: killed by the timeout)."""
    env = dict(os.environ, GATEWAY_PURE_PYTHON="1", PYTHONPATH=str(ROOT))
    try:
        done = subprocess.run(
            [sys.executable, "-B", "-c", script, str(audit)],
            capture_output=True,
            text=True,
            timeout=30,
            env=env,
            cwd=ROOT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail("a reader of the audit log blocked on a FIFO")  # the old code
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_fifos_at_the_rotated_paths_then_every_reader_warns_and_reads_the_rest_without_blocking(tmp_path: Path) -> None:
    """rev59ops finding 2: the start's readers (``last_word``, ``audited_records``) and the stop's (``held_ids``).
    In a child process: the old code blocks in ``open()`` for ever (killed by the timeout here)."""
    audit = tmp_path / "audit.jsonl"
    os.mkfifo(tmp_path / "audit.jsonl.1")
    os.mkfifo(tmp_path / "audit.jsonl.2")
    audit.write_text(
        _line({"event": "startup", "trigger": "startup", "who": "g", "file": "l.yaml", "sha256": "a" * 64})
        + _line(
            {
                "event": "trading_state",
                "trigger": "kill",
                "who": "ops",
                "scope": "account",
                "account": "ACC1",
                "old": "ACTIVE",
                "new": "HALTED",
                "reason": "r",
                "state_id": 7,
            }
        )
    )
    out = _run(_READERS, audit)
    assert f"WORD startup {audit}" in out, out
    assert "FOUND [('ACC1', 'HALTED', 7)]" in out, out
    assert "HELD [7] 2" in out, out
    for name in ("audit.jsonl.1", "audit.jsonl.2"):
        fifo = tmp_path / name
        assert f"WARNING cannot read the rotated risk audit log {fifo} ([Errno 22] not a regular file (a FIFO))" in (
            out
        ), out


_LAST_WORD = textwrap.dedent(
    """
    import logging, sys
    from pathlib import Path
    from risk.startup import last_word

    logging.basicConfig(level=logging.WARNING, stream=sys.stdout, format="%(levelname)s %(message)s")
    word = last_word(Path(sys.argv[1]), "gw1")
    print("WORD", word.record is not None and word.record.get("sha256"), getattr(word, "file", "?"))
    """
)


def test_last_word_when_the_current_file_is_a_fifo_then_a_warning_and_the_rotated_files_are_read(
    tmp_path: Path,
) -> None:
    audit = tmp_path / "audit.jsonl"
    (tmp_path / "audit.jsonl.1").write_text(
        _line({"event": "startup", "trigger": "startup", "who": "g", "file": "l.yaml", "sha256": "b" * 64})
    )
    os.mkfifo(audit)
    out = _run(_LAST_WORD, audit)
    assert f"WORD {'b' * 64} {tmp_path / 'audit.jsonl.1'}" in out, out
    said = f"WARNING risk cannot read the risk audit log {audit} ([Errno 22] not a regular file (a FIFO))"
    assert said in out, out
    assert f"the start reads {audit}, {audit}.1 and {audit}.2" in out, out


async def test_stop_still_unable_to_keep_the_copies_after_a_rotation_then_names_the_file_and_rotations_left(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The stop's ERROR says how many rotations the record stands, as the kill's CRITICAL does (the old code: "in the
    log or its previous file `<log>.1`", while one rotation during the run had already moved it there)."""
    workdir = short_tmp()
    process, limits = _built(workdir)
    risk_engine: Any = process.risk
    _replace(limits, limits.read_text() + "\n# edited\n")
    _refuse_all(monkeypatch, errno.ENOSPC)
    result = await process.reload_risk_soon("gateway risk reload", "officer")
    assert result.ok and result.copy_problem, result
    audit = workdir / "audit.jsonl"
    os.rename(audit, workdir / "audit.jsonl.1")  # logrotate while the gateway runs
    caplog.set_level("ERROR")
    await process._keep_owed_copies_at_stop()  # the state directory still refuses: the ERROR
    monkeypatch.undo()
    risk_engine.close()
    (said,) = [r.getMessage() for r in caplog.records if "stop: the copies of the files in force" in r.getMessage()]
    assert f"record at {_records(workdir / 'audit.jsonl.1')[-1]['time']}" in said, said
    assert f"is in {workdir / 'audit.jsonl.1'}; the next start reads {audit}, {audit}.1 and {audit}.2" in said, said
    assert "do not rotate it more than once before the start" in said, said

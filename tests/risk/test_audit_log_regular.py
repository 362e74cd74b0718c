"""The risk audit log is written to a regular file only, and a start that cannot read it refuses where a held-back
state may be recorded there (ops59b).

Found by rev59merge6:

1 (HIGH) a FIFO at the current audit log path: ``AuditLog._open`` opened it read-write (which never blocks), each
  record went into the pipe (its fsync failing), the late records were written again at every watch tick, and once
  the 64 KiB pipe was full ``os.write`` blocked the event loop for good, SIGTERM unheard. Now ``AuditLog`` opens
  only a regular file (``O_NONBLOCK``, ``fstat``): anything else raises ``OSError`` at once, at the start (exit 1)
  and at a reopen after a rotation (the record is held, written later, nothing blocks).
2 (HIGH, fail open) a current audit log the gateway can write but not read (mode 0200): the start skipped it like a
  rotated file and put a limits file held back while ``state_dir`` could not keep its note in force (half-written,
  never applied). Now the start refuses (exit 2) when such a file was not read and the limits file is not the copy
  in force.
3 (MEDIUM) the texts of a copy not kept said "rotate it at most twice" without "uncompressed".
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

import risk.audit
from gateway.commands.admin import _risk_reload_lines
from risk.audit import AuditLog
from risk.engine import RiskEngine
from risk.limitsfile import LimitsFileError
from tests.e2e.support import short_tmp
from tests.risk.test_held_back_note_lost import _held_back_while_unwritable, _records, _sha
from tests.risk.test_reload_copy_unwritable import COPY, _built, _refuse_all, _replace

pytestmark = pytest.mark.timeout(120)

ROOT = Path(__file__).resolve().parents[2]


def test_audit_log_at_a_fifo_then_refused_at_once(tmp_path: Path) -> None:
    fifo = tmp_path / "audit.jsonl"
    os.mkfifo(fifo)
    with pytest.raises(OSError, match=r"is not a regular file \(a FIFO\)") as refused:  # the old code: opened it
        AuditLog(fifo).close()
    assert refused.value.errno == errno.EINVAL
    assert str(fifo) in str(refused.value)


def test_fifo_put_at_the_path_after_a_rotation_then_the_write_raises_and_nothing_goes_into_the_pipe(
    tmp_path: Path,
) -> None:
    path = tmp_path / "audit.jsonl"
    audit = AuditLog(path)
    try:
        audit.write({"time": "t", "event": "startup"})
        os.rename(path, tmp_path / "audit.jsonl.1")
        os.mkfifo(path)
        reader = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        try:
            with pytest.raises(OSError, match=r"is not a regular file \(a FIFO\)"):
                audit.write({"time": "t", "event": "reload"})
            try:
                in_pipe = os.read(reader, 1 << 16)
            except BlockingIOError:
                in_pipe = b""
        finally:
            os.close(reader)
        assert in_pipe == b"", in_pipe  # the old code: the record went into the pipe (and its fsync failed)
        path.unlink()  # a regular file again: the next write goes there
        audit.write({"time": "t", "event": "new_day"})
    finally:
        audit.close()
    assert path.read_text() == '{"time":"t","event":"new_day"}\n'


_FILL = textwrap.dedent(
    """
    import os, sys
    from pathlib import Path
    from risk.audit import AuditLog

    path = Path(sys.argv[1])
    audit = AuditLog(path)
    audit.write({"time": "t", "event": "startup"})
    os.rename(path, str(path) + ".1")
    os.mkfifo(path)
    refused = 0
    for _ in range(2000):  # ~200 KiB of records: the old code blocked once the 64 KiB pipe was full
        try:
            audit.write({"time": "t", "event": "reload", "pad": "x" * 100})
        except OSError:
            refused += 1
    print("REFUSED", refused)
    """
)


def test_fifo_at_the_path_then_many_writes_never_block(tmp_path: Path) -> None:
    """rev59merge6 finding 1: the late records written again at every tick filled the pipe, then blocked."""
    env = dict(os.environ, GATEWAY_PURE_PYTHON="1", PYTHONPATH=str(ROOT))
    try:
        done = subprocess.run(
            [sys.executable, "-B", "-c", _FILL, str(tmp_path / "audit.jsonl")],
            capture_output=True,
            text=True,
            timeout=30,
            env=env,
            cwd=ROOT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail("a write to the audit log blocked on a FIFO")  # the old code
    assert done.returncode == 0, done.stdout + done.stderr
    assert "REFUSED 2000" in done.stdout, done.stdout


def _unreadable(monkeypatch: pytest.MonkeyPatch, audit: Path) -> None:
    """Mode 0200 and no CAP_DAC_OVERRIDE: the start's read of the current audit log is refused (EACCES)."""
    read_tail = risk.audit.read_tail

    def refused(path: str | os.PathLike[str], limit: int) -> tuple[int, bytes]:
        if Path(path) == audit:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
        return read_tail(path, limit)

    monkeypatch.setattr("risk.startup.read_tail", refused)


async def test_held_back_file_whose_copy_and_note_were_not_kept_and_the_audit_log_cannot_be_read_then_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """rev59merge6 finding 2: the record saying the file is held back is in a file the start cannot read."""
    workdir, limits, keep, gateway_id, in_force = await _held_back_while_unwritable(monkeypatch, copy_kept=False)
    audit = workdir / "audit.jsonl"
    before = audit.read_bytes()
    _unreadable(monkeypatch, audit)
    with pytest.raises(LimitsFileError) as refused:  # the old code: started on the held-back file (max_qty 300)
        RiskEngine.load(limits, audit_log_path=audit, keep=keep, gateway_id=gateway_id).close()
    text = str(refused.value)
    assert f"the risk audit log cannot be read: {audit} ([Errno 13] Permission denied" in text, text
    assert f"{limits} is not the copy of the limits in force when the gateway stopped ({keep})" in text, text
    assert "the gateway does not start on it (fail closed)" in text, text
    assert f"make {audit} a regular file the gateway's user can read and write" in text, text
    assert audit.read_bytes() == before  # nothing put in force, no startup record
    assert _sha(limits) != in_force

    monkeypatch.undo()  # the remedy: readable again, the start knows the file is held back and refuses on its own
    with pytest.raises(LimitsFileError, match="the audit log says sha256"):
        RiskEngine.load(limits, audit_log_path=audit, keep=keep, gateway_id=gateway_id).close()


async def test_audit_log_cannot_be_read_but_the_limits_file_is_the_copy_in_force_then_started(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """No false refusal: with the file on disk the copy in force, nothing held back matters (a WARNING only)."""
    workdir, limits, keep, gateway_id, _ = await _held_back_while_unwritable(monkeypatch, copy_kept=True)
    limits.write_bytes(keep.read_bytes())  # the officer wrote the file back as in force
    audit = workdir / "audit.jsonl"
    _unreadable(monkeypatch, audit)
    engine: Any = RiskEngine.load(limits, audit_log_path=audit, keep=keep, gateway_id=gateway_id)
    try:
        assert engine.status()["sha256"] == _sha(limits) == _sha(keep)
    finally:
        engine.close()
    assert f"risk cannot read the risk audit log {audit} ([Errno 13] Permission denied" in caplog.text


async def test_copies_not_kept_then_every_text_says_to_keep_the_rotated_files_uncompressed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """rev59merge6 finding 3 (MEDIUM): "rotate it at most twice before the restart" without "uncompressed": with
    logrotate's ``compress`` one rotation (``delaycompress``: two) leaves the record in a file the start does not read,
    and a held-back file was put in force. The reload's answer, ``gateway status`` and the start's warning say it."""
    workdir = short_tmp()
    process, limits = _built(workdir)
    risk_engine: Any = process.risk
    _replace(limits, limits.read_text() + "\n# edited\n")
    _refuse_all(monkeypatch, errno.ENOSPC)
    result = await process.reload_risk_soon("gateway risk reload", "officer")
    keep = "and keep them uncompressed: a compressed one is not read"
    assert result.ok and result.copy_problem and keep in result.message, result.message  # the old code: twice only
    status = "\n".join(_risk_reload_lines(risk_engine.status()))
    assert "and keep the rotated files uncompressed: a compressed one is not read" in status, status
    (keep_path,) = list(workdir.rglob(f"*{COPY}"))
    restarted = RiskEngine.load(limits, audit_log_path=workdir / "started.jsonl", keep=keep_path)
    monkeypatch.undo()
    risk_engine.close()
    restarted.close()
    (startup,) = _records(workdir / "started.jsonl")
    said = [w for w in startup["warnings"] if "is NOT kept" in w]
    assert said and "and keep the rotated files uncompressed: a compressed one is not read" in said[0], said

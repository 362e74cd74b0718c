"""The rotated risk audit log: an unreadable rotated file, a rotation during the run, the 32 MiB edge (kill58d).

Found by the release review of stop 58 (rev58merge6):

F1 (HIGH) a kill pending on a full journal, logrotate during the run (the kill's record now in ``<log>.1``), a stop
   whose CRITICAL said "rotate it at most once before the start", one rotation: the kill's record in ``<log>.2``,
   unread, the restart traded. Now the start reads ``<log>.2`` too, and the stop names the file holding the record
   and how many rotations before the start it stands.
F2 (HIGH) an unreadable ``<log>.1`` (retention tooling's chmod/chown) aborted the whole read: a kill in the readable
   current file was not re-applied (ERROR). Now a WARNING names the rotated file; the rest is read and judged.
F3 (LOW) the stop said the audit log holds a kill the start then missed: the start appends its own records before
   it reads the last 32 MiB. Now the stop judges with ``HELD_MARGIN`` less and says when the record is that close.

The in-process gateway of ``test_audit_kills_rotated.py`` (real journal file, real audit log, a fake full disk); the
permission case runs a real unreadable file in a subprocess without CAP_DAC_OVERRIDE (``setpriv``), as root ignores
file modes.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from gateway.audit_kills import TAIL_BYTES
from tests.e2e.support import short_tmp
from tests.test_audit_kills_identity import _started
from tests.test_audit_kills_rotated import (
    _FullDisk,
    _logged,
    _runtime,
    _stop_dropping,
    disk,  # noqa: F401 - fixture
)

pytestmark = pytest.mark.timeout(120)

ROOT = Path(__file__).resolve().parent.parent


def _rotate(audit: Path) -> None:
    """logrotate (``rotate 3``, no ``create``): ``.1`` -> ``.2``, the log -> ``.1``."""
    one, two = audit.with_name(audit.name + ".1"), audit.with_name(audit.name + ".2")
    if one.exists():
        os.rename(one, two)
    os.rename(audit, one)


def _part(stopped: str, scope: str) -> str:
    """The sentence of the stop's CRITICAL naming ``scope``'s kill."""
    (part,) = [part for part in stopped.split(". The KILL SWITCH") if f"({scope})" in part]
    return part


def test_audit_log_rotated_during_the_run_then_once_more_before_the_start_then_the_kill_is_re_applied(
    caplog: pytest.LogCaptureFixture,
    disk: _FullDisk,  # noqa: F811
) -> None:
    workdir = short_tmp()
    audit = workdir / "audit.jsonl"
    process = _started(workdir)
    disk.full = True
    assert process.kill("ACC1", "ops", "first kill").journal_pending
    _rotate(audit)  # while running (size or hourly): the kill's record is in audit.jsonl.1 now
    assert process.kill("ACC2", "ops", "second kill").journal_pending  # its record: a new audit.jsonl
    with caplog.at_level(logging.WARNING):
        _stop_dropping(process, disk)
    (stopped,) = _logged(caplog, "JOURNAL NOT DURABLE AT STOP")

    _rotate(audit)  # one rotation, as the old stop allowed ("at most once") and the new one does: in audit.jsonl.2
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        again = _started(workdir)
    try:
        assert _runtime(again, "ACC2") == "HALTED"
        assert _runtime(again, "ACC1") == "HALTED"  # the old code: ACTIVE (audit.jsonl.2 not read)
        said = " ".join(_logged(caplog, "account ACC1 starts HALTED"))
        assert f"the risk audit log {workdir / 'audit.jsonl.2'} says" in said, said
    finally:
        again._close_journal()
    # what the stop said: the file holding each kill's record, and how many rotations it stands (the old code:
    # "... rotate it at most once before the start" for both, ACC1's record already in audit.jsonl.1)
    assert "does NOT hold" not in stopped
    first, second = _part(stopped, "account ACC1"), _part(stopped, "account ACC2")
    assert f"its record is in {workdir / 'audit.jsonl.1'};" in first, first
    assert "reads audit.jsonl, audit.jsonl.1 and audit.jsonl.2: do not rotate it more than once" in first, first
    assert f"its record is in {audit};" in second and "do not rotate it more than 2 times" in second, second


def test_rotated_file_that_cannot_be_read_then_a_warning_and_the_kill_in_the_current_file_is_re_applied(
    caplog: pytest.LogCaptureFixture,
    disk: _FullDisk,  # noqa: F811
) -> None:
    """``<log>.1`` that cannot be opened (here a directory by that name: unreadable for root too; the permission
    case is ``test_rotated_file_without_read_permission_...``)."""
    workdir = short_tmp()
    audit = workdir / "audit.jsonl"
    first = _started(workdir)
    first._close_journal()
    os.rename(audit, workdir / "audit.jsonl.2")
    (workdir / "audit.jsonl.1").mkdir()
    process = _started(workdir)
    disk.full = True
    assert process.kill("ACC1", "ops", "unreadable drill").journal_pending
    with caplog.at_level(logging.WARNING):
        _stop_dropping(process, disk)
    (stopped,) = _logged(caplog, "JOURNAL NOT DURABLE AT STOP")
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        again = _started(workdir)
    try:
        assert _runtime(again, "ACC1") == "HALTED"  # the old code: ACTIVE, ERROR "cannot read the risk audit log"
        assert _logged(caplog, "cannot read the risk audit log") == []
        (warned,) = _logged(caplog, "cannot read the rotated risk audit log")
        assert str(workdir / "audit.jsonl.1") in warned, warned
        assert _logged(caplog, "account ACC1 starts HALTED")
    finally:
        again._close_journal()
    # the stop read it as the start does (the old code: "which this stop could not read (...Is a directory...)")
    assert f"which holds the kill's record (its record is in {audit};" in stopped, stopped


_UNREADABLE = textwrap.dedent(
    """
    import json, logging, sys
    from pathlib import Path
    from gateway.audit_kills import audited_records, held_ids

    logging.basicConfig(level=logging.WARNING, stream=sys.stdout, format="%(levelname)s %(message)s")
    work = Path(sys.argv[1])
    audit = work / "audit.jsonl"
    try:
        (work / "audit.jsonl.1").read_bytes()
        print("READABLE")  # the capability drop did not hold: the test cannot tell
        sys.exit(0)
    except PermissionError:
        pass
    found = audited_records(audit, lambda _: True, "gw1")
    print("FOUND", json.dumps([(state.account, state.state, state.state_id, state.file) for state in found]))
    held = held_ids(audit, "gw1", [7, 8])
    print("HELD", json.dumps({str(key): str(value) for key, value in held.where.items()}), held.unreadable)
    """
)


def _kill_record(account: str, state_id: int) -> bytes:
    now = time.time_ns()
    record = {
        "time": "t",
        "time_ns": now,
        "event": "trading_state",
        "trigger": "kill",
        "who": "ops",
        "scope": "account",
        "account": account,
        "old": "ACTIVE",
        "new": "HALTED",
        "reason": "r",
        "state_id": state_id,
        "gateway_id": "gw1",
    }
    return json.dumps(record, separators=(",", ":")).encode() + b"\n"


def test_rotated_file_without_read_permission_then_the_current_file_is_read_and_the_rotated_one_named(
    tmp_path: Path,
) -> None:
    """A real unreadable file (mode 0, as retention tooling leaves rotated files), read without CAP_DAC_OVERRIDE."""
    prefix: list[str] = []
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("root ignores file modes and setpriv is missing to drop CAP_DAC_OVERRIDE")
        caps = "-dac_override,-dac_read_search"
        prefix = [setpriv, f"--bounding-set={caps}", f"--inh-caps={caps}"]
    (tmp_path / "audit.jsonl.1").write_bytes(_kill_record("ACC2", 8))
    (tmp_path / "audit.jsonl.1").chmod(0)
    (tmp_path / "audit.jsonl").write_bytes(_kill_record("ACC1", 7))
    env = dict(os.environ, GATEWAY_PURE_PYTHON="1", PYTHONPATH=str(ROOT))
    done = subprocess.run(
        [*prefix, sys.executable, "-B", "-c", _UNREADABLE, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=ROOT,
        check=False,
    )
    out = done.stdout
    if "READABLE" in out:
        pytest.skip("the file stayed readable (capabilities not dropped)")
    assert done.returncode == 0, out + done.stderr  # the old code: PermissionError raised
    assert 'FOUND [["ACC1", "HALTED", 7, ""]]' in out, out
    assert f'HELD {{"7": "{tmp_path / "audit.jsonl"}"}}' in out, out
    assert f"WARNING cannot read the rotated risk audit log {tmp_path / 'audit.jsonl.1'} ([Errno 13]" in out, out


def _filler(path: Path, size: int) -> None:
    line = b'{"time":"2026-12-07T00:00:00Z","time_ns":1,"event":"order_refused","detail":"' + b"x" * 400 + b'"}\n'
    count, rest = divmod(size, len(line))
    with open(path, "ab") as handle:
        handle.write(line * count)
        if rest:
            handle.write(b" " * (rest - 1) + b"\n")


@pytest.mark.parametrize("margin", [200, 4096])
def test_kill_near_the_edge_of_the_32_mib_the_start_reads_then_the_stop_does_not_say_it_holds(
    caplog: pytest.LogCaptureFixture,
    disk: _FullDisk,  # noqa: F811
    margin: int,
) -> None:
    """The kill's record ``margin`` bytes inside the bound at the stop: the start's own records (~0.5 KiB) push one
    at 200 bytes out. The stop says neither "holds" nor "nothing on disk": it says the start may miss it."""
    workdir = short_tmp()
    audit = workdir / "audit.jsonl"
    process = _started(workdir)
    disk.full = True
    assert process.kill("ACC1", "ops", "bound").journal_pending
    os.rename(audit, workdir / "audit.jsonl.1")
    kill_len = len((workdir / "audit.jsonl.1").read_bytes().rstrip(b"\n").rsplit(b"\n", 1)[-1]) + 1
    _filler(audit, TAIL_BYTES - kill_len - margin)
    with caplog.at_level(logging.WARNING):
        _stop_dropping(process, disk)
    (stopped,) = _logged(caplog, "JOURNAL NOT DURABLE AT STOP")
    assert "which holds the kill's record" not in stopped, stopped  # the old code: said for both
    assert "NOTHING ON DISK" not in stopped, stopped
    assert "may push it out" in stopped and "run `gateway kill --account ACC1` again" in stopped, stopped
    assert str(workdir / "audit.jsonl.1") in stopped

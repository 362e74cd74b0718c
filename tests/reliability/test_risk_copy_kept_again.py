"""The copies in force an unwritable ``state_dir`` left stale are written again once it can be (riskcopy57).

Found by rev57merge2 (HIGH): the limits file tightened in place (the watch holds it back and notes it), then
`gateway risk reload` APPLIED (exit 3) while ``state_dir`` is immutable; the audit log rotated (``mv``, the guide's
recipe) and a restart with ``state_dir`` writable again put the STALE copy (the limits before the tightening) in
force, saying the reloaded file "was modified in place and NOT applied". Now the running gateway writes the copy
again and removes the note at the file watch's next tick once ``state_dir`` can be written, and says so once.
Real processes: ``gateway run`` and the ``gateway`` CLI (no venue listens: the gateway only dials out).
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import pytest

from gateway.commands.risk_admin import EXIT_RELOAD_COPY_NOT_KEPT
from tests.reliability.support import GATEWAY, Gateway, wait_until, write_config

NO_VENUE_PORT = 49750
"""Nothing listens there: the venue stays down, which the risk file watch does not need."""


def _chattr(flag: str, path: Path) -> bool:
    try:
        return subprocess.run(["chattr", flag, str(path)], capture_output=True, timeout=30, check=False).returncode == 0
    except OSError:
        return False


def _tighten_in_place(limits: Path) -> None:
    text = limits.read_text()
    start = text.index("max_qty: ")
    end = text.index("\n", start)
    limits.write_text(f"{text[:start]}max_qty: 200{text[end:]}")  # in place: the same file, the watch holds it back


def test_reload_applied_while_state_dir_immutable_then_copy_and_note_kept_again_and_a_restart_keeps_the_reload(
    workdir: Path, gateways: list[Gateway]
) -> None:
    config = write_config(workdir, NO_VENUE_PORT)
    gateway = Gateway(workdir, config)
    gateways.append(gateway)
    gateway.start(wait_up=False)
    wait_until(lambda: gateway.status_or_none() is not None, 60, "the gateway's admin socket")
    state = workdir / "var" / "state"
    copy = state / "rel-risk-in-force.yaml"
    note = copy.with_name(copy.name + ".not-applied.json")
    limits = workdir / "limits.yaml"
    old = gateway.status()["risk"]["sha256"]
    _tighten_in_place(limits)
    wait_until(note.exists, 30, "the watch to note the file modified in place")
    new = hashlib.sha256(limits.read_bytes()).hexdigest()
    if not _chattr("+i", state):
        pytest.skip("chattr +i refused here (not root, or the filesystem has no immutable flag)")
    try:
        reloaded = subprocess.run(
            [*GATEWAY, "risk", "reload", "--config", str(config)],
            capture_output=True,
            text=True,
            timeout=90,
            check=False,
        )
        assert reloaded.returncode == EXIT_RELOAD_COPY_NOT_KEPT, (reloaded.stdout, reloaded.stderr)
        assert gateway.status()["risk"]["sha256"] == new != old
        assert hashlib.sha256(copy.read_bytes()).hexdigest() == old and note.exists()  # stale, left there
    finally:
        _chattr("-i", state)

    wait_until(lambda: "risk the copies in force are kept again in " in gateway.log_text(), 30, "the copies kept")
    assert hashlib.sha256(copy.read_bytes()).hexdigest() == new
    assert not note.exists()
    audit = workdir / "audit.jsonl"
    events = [json.loads(line)["event"] for line in audit.read_text().splitlines()]
    assert events[-3:] == ["reload", "reload_copy_not_kept", "copies_kept"], events
    assert "NOT kept" not in gateway.cli("status").stdout

    assert gateway.stop() == 0
    audit.rename(workdir / "audit.jsonl.1")  # logrotate overnight (guide, the audit log)
    (workdir / "audit.jsonl.1").rename(workdir / "audit.old")  # even rotated twice: the copy is right
    logged = len(gateway.log_text())
    gateway.start(wait_up=False)
    wait_until(lambda: gateway.status_or_none() is not None, 60, "the gateway's admin socket after the restart")
    assert gateway.status()["risk"]["sha256"] == new  # was the stale copy's (max_qty before the tightening)
    restart = gateway.log_text()[logged:]
    assert "NOT APPLIED" not in restart and "changed while the gateway was down" not in restart, restart

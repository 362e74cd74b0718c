"""A FIFO (or a directory) at a rotated risk audit log path does not hang ``gateway run`` (ops59).

Found by rev59ops (finding 2, MEDIUM): ``mkfifo audit/risk-audit.jsonl.1`` and the start blocked for ever in
``open()`` reading the rotated file for a kill the journal lost; SIGTERM, held during start-up, could not end it (only
``kill -9``); under systemd (``Type=exec``) the unit looked running. Every read of the audit files is now
``risk.audit.read_tail`` (``O_NONBLOCK``, regular files only): the documented WARNING, and the start goes on.

Real processes: ``gateway sim ouch``, ``gateway run``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.reliability.support import Gateway, Simulator, write_config

pytestmark = pytest.mark.timeout(120)


def test_start_when_fifos_are_at_the_rotated_audit_paths_then_warned_started_and_stopped_cleanly(
    workdir: Path, sim: Simulator, gateways: list[Gateway]
) -> None:
    config = write_config(workdir, sim.port)
    os.mkfifo(workdir / "audit.jsonl.1")
    os.mkfifo(workdir / "audit.jsonl.2")
    gateway = Gateway(workdir, config)
    gateways.append(gateway)
    gateway.start()  # the old code: never answers (blocked opening audit.jsonl.2), the wait fails after 30 s
    log = gateway.log_text()
    for name in ("audit.jsonl.2", "audit.jsonl.1"):
        said = f"cannot read the rotated risk audit log {workdir / name} ([Errno 22] not a regular file (a FIFO))"
        assert said in log, log[-3000:]
    assert gateway.stop() == 0, gateway.log_text()[-3000:]

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

from tests.reliability.support import Gateway, Simulator, wait_until, write_config

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


def test_start_when_a_fifo_is_at_the_current_audit_log_path_then_refused_exit_1_before_trading(
    workdir: Path, sim: Simulator, gateways: list[Gateway]
) -> None:
    """rev59merge6 finding 1 (HIGH): the old code started and traded, then froze for good once the pipe was full
    (the late records written again at every tick). Now the start refuses, as for an unusable state_dir (exit 1)."""
    config = write_config(workdir, sim.port)
    fifo = workdir / "audit.jsonl"
    os.mkfifo(fifo)
    gateway = Gateway(workdir, config)
    gateways.append(gateway)
    gateway.start(wait_up=False)
    assert gateway.proc is not None

    def ended() -> bool:
        return (gateway.proc is not None and gateway.proc.poll() is not None) or "started (pid" in gateway.log_text()

    wait_until(ended, 60, "the gateway to refuse or start")
    log = gateway.log_text()
    assert "started (pid" not in log, log[-3000:]  # the old code: started, and took orders
    assert gateway.proc.wait(30) == 1, log[-3000:]
    said = f"failed to start: [Errno 22] the risk audit log {fifo} is not a regular file (a FIFO)"
    assert said in log, log[-3000:]

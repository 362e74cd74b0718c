"""riskfix36 against a real ``gateway run``: quick saves the watch must apply, and ``gateway risk reload``'s
wording when the audit log cannot be written."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.admin import admin_request
from tests.e2e.support import short_tmp
from tests.e2e.test_processes import GATEWAY, _cli, _venue_state, wait_until, write_config
from tests.reliability.support import spawn_listening


@pytest.fixture
def ouch_simulator() -> Iterator[int]:
    """Run ``gateway sim ouch`` as a process; yield its port."""
    port, proc = spawn_listening(["sim", "ouch"], ["--reference-price", "AAPL=230.10"], short_tmp() / "sim.log", "sim")
    try:
        yield port
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)


def _records(audit: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in audit.read_text().splitlines()]


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("sed") is None, reason="needs sed")
def test_gateway_when_three_quick_saves_then_the_last_applied_and_reload_names_an_unwritable_audit_log(
    ouch_simulator: int,
) -> None:
    workdir = short_tmp()
    config = write_config(workdir, ouch_simulator)
    limits = workdir / "limits.yaml"
    audit = workdir / "audit.jsonl"
    whole = limits.read_text()
    assert "max_qty: 10000" in whole
    log = workdir / "gateway.log"
    with log.open("wb") as out:
        gateway = subprocess.Popen([*GATEWAY, "run", "--config", str(config)], stdout=out, stderr=out)
    try:
        wait_until(lambda: _venue_state(workdir / "a.sock") == "UP", 30, "the gateway")
        temp = workdir / "limits.yaml.tmp"
        temp.write_text(whole.replace("max_qty: 10000", "max_qty: 7000", 1))
        os.replace(temp, limits)  # written and renamed within one clock tick
        time.sleep(0.5)
        temp.write_text(whole.replace("max_qty: 10000", "max_qty: 8000", 1))
        os.replace(temp, limits)
        time.sleep(0.1)
        subprocess.run(["sed", "-i", "s/max_qty: 8000/max_qty: 5000/", str(limits)], check=True)
        wait_until(
            lambda: any(_new_max_qty(r) == 5000 for r in _records(audit)),
            15,
            "the watch reload of the last save",
        )
        last = _records(audit)[-1]
        assert (last["event"], last["who"]) == ("reload", "file watch")
        # the reload's audit record is written (in its thread) before the loop switches the limits in: wait for the
        # switch (rev60merge5: status read at the record's appearance showed the old sha256 in 1-2 runs of 10)
        wait_until(
            lambda: admin_request(workdir / "a.sock", {"cmd": "status"})["status"]["risk"]["sha256"] == last["sha256"],
            15,
            "the reloaded limits in force",
        )
        status = admin_request(workdir / "a.sock", {"cmd": "status"})["status"]["risk"]
        assert status["not_applied"] == []
        assert last["sha256"] == status["sha256"]
        owner = last["file_owner"]
        assert isinstance(owner, dict) and owner["uid"] == os.stat(limits).st_uid

        audit.rename(workdir / "audit.saved")
        audit.mkdir()
        temp.write_text(whole.replace("max_qty: 10000", "max_qty: 6000", 1))
        os.replace(temp, limits)
        reload = _cli("risk", "reload", "--config", str(config))
        assert reload.returncode == 1
        assert "risk reload NOT applied; the limits in force are unchanged" in reload.stderr, reload.stderr
        assert f"the audit log {audit} cannot be written ([Errno 21] Is a directory" in reload.stderr
        assert "the limits file is valid, but no change is applied without its audit record" in reload.stderr
        assert "error(s): the limits were NOT accepted" not in reload.stderr
    finally:
        gateway.send_signal(signal.SIGTERM)
        assert gateway.wait(15) == 0


def _new_max_qty(record: dict[str, object]) -> object:
    for change in record.get("changes") or []:  # type: ignore[attr-defined]
        if change.get("field") == "defaults.max_qty":
            return change.get("new")
    return None

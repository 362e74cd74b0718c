"""A reference-price file written in place while a watch reload starts its reader is never applied (risk61b).

rev61merge4 HIGH: a feed `mv`-s a small reference-price file over the path (each version settles: a watch reload).
When the gateway's reader process (``-m risk.reader``) appears, the watch has made its last look; the test then writes
the file IN PLACE, a valid prefix first (``AAPL: 23`` of ``AAPL: 230.10``), the rest 1.5 s later. Before the fix the
reader process read the prefix by path and the gateway applied it (audit ``reload``: ``reference_file.prices.AAPL
230.1 -> 23``), then logged that the file was "modified in place and NOT applied". The guide (risk-officer-guide
section 11, and its table of failures) promises a file modified in place is never applied by the file watch. A real
`gateway run` process (no venue listens: the watch runs all the same).
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
import yaml

from gateway.admin import AdminError, admin_request
from risk.audit import read_audit_log
from tests.e2e.support import short_tmp
from tests.e2e.test_processes import GATEWAY, wait_until, write_config

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

FULL = "as_of: loaded\nprices:\n  AAPL: 230.10\n"
PREFIX = FULL[: FULL.index("230.10") + 2]  # "AAPL: 23": a valid file


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _up(admin: Path) -> bool:
    try:
        admin_request(admin, {"cmd": "status"}, timeout_s=2)
    except (AdminError, OSError):
        return False
    return True


def _reader_running(pid: int) -> bool:
    """Return True while a reader process (``-m risk.reader``) of the gateway ``pid`` runs."""
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return False
    for tid in tasks:
        try:
            children = Path(f"/proc/{pid}/task/{tid}/children").read_text().split()
        except OSError:
            continue
        for child in children:
            try:
                if b"risk.reader" in Path(f"/proc/{child}/cmdline").read_bytes():
                    return True
            except OSError:
                continue
    return False


def test_reference_file_written_in_place_while_a_watch_reload_reads_then_never_applied() -> None:
    workdir = short_tmp()
    config = write_config(workdir, 1, spin_us=0)
    limits = workdir / "limits.yaml"
    doc = yaml.safe_load(limits.read_text())
    doc["reference_prices"]["file"] = "refs.yaml"
    limits.write_text(yaml.safe_dump(doc, sort_keys=False))
    refs = workdir / "refs.yaml"
    stop = threading.Event()

    def write_refs(k: int) -> None:
        new = workdir / "refs.tmp"
        new.write_text(f"as_of: loaded\nprices:\n  AAPL: {230 + k % 3}.10\n")
        os.replace(new, refs)

    def feed() -> None:
        k = 1
        while not stop.is_set():
            write_refs(k)
            k += 1
            stop.wait(2.5)

    write_refs(0)
    log = workdir / "gateway.log"
    with log.open("wb") as out:
        gateway = subprocess.Popen([*GATEWAY, "run", "--config", str(config)], stdout=out, stderr=subprocess.STDOUT)
    thread = threading.Thread(target=feed, daemon=True)
    try:
        wait_until(lambda: _up(workdir / "a.sock") or gateway.poll() is not None, 40, "the gateway")
        assert gateway.poll() is None, log.read_text()
        thread.start()
        deadline = time.monotonic() + 40
        while not _reader_running(gateway.pid):  # a watch reload past its last look
            assert time.monotonic() < deadline, "no watch reload started its reader process"
            time.sleep(0.001)
        stop.set()
        with open(refs, "r+") as f:  # `cat > refs.yaml`, slowly: a prefix first
            f.write(PREFIX)
            f.truncate()
        time.sleep(1.5)  # a slow writer (not a synchronisation: the watch's reaction is awaited below)
        with open(refs, "r+") as f:
            f.write(FULL)
            f.truncate()

        def noted() -> bool:
            return any(
                r.get("event") == "not_applied" and r.get("file") == str(refs)
                for r in read_audit_log(workdir / "audit.jsonl")
            )

        wait_until(noted, 30, "the watch's not_applied record of the file written in place")
        records = read_audit_log(workdir / "audit.jsonl")
        applied = [r["reference_sha256"] for r in records if r.get("event") in ("startup", "reload")]
        assert _sha(PREFIX) not in applied, "a reference-price file written in place was applied by the file watch"
        changes = [c for r in records if r.get("event") == "reload" for c in r.get("changes", [])]
        assert all(c.get("new") != "23" for c in changes), changes
    finally:
        stop.set()
        if thread.is_alive():
            thread.join(10)
        gateway.send_signal(signal.SIGTERM)
        try:
            gateway.wait(30)
        except subprocess.TimeoutExpired:
            gateway.kill()
            gateway.wait(10)

"""riskfix30, end to end with real processes (``gateway sim ouch``, ``gateway run``, the CLI): a limits file
written in place is never applied by the file watch, even when the part written so far is a valid file that
would loosen the limits; a replacement (``mv``) is. The text status shows the last reload and what was not
applied; the audit log follows rotation (``mv``)."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from gateway.admin import admin_request
from gateway.client import BlockingGatewayClient
from gateway.protocol.messages import OrderAccepted
from model.enums import Side
from risk.filewatch import INLINE_BYTES
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


def _accounts_first(limits: Path) -> str:
    """Lay the limits file out with ``accounts`` before ``restricted``, ``strategies`` and ``symbols``."""
    doc = yaml.safe_load(limits.read_text())
    order = ["version", "defaults", "reference_prices", "start_positions_file", "accounts"]
    ordered = {key: doc[key] for key in order} | {k: v for k, v in doc.items() if k not in order}
    return yaml.safe_dump(ordered, sort_keys=False)


def _codes(workdir: Path) -> dict[str, str]:
    """Send the reviewer's three orders; return each one's reject code (``accepted`` if it is working)."""
    orders = {
        "BBBY buy (sell-only)": ("BBBY", 10, "0.75"),
        "ZVZZT 101 (max_qty 100)": ("ZVZZT", 101, "10.00"),
        "GME (no_trade)": ("GME", 10, "10.00"),
    }
    found: dict[str, str] = {}
    with BlockingGatewayClient(workdir / "s.sock", "S1") as client:
        for name, (symbol, qty, price) in orders.items():
            # the first answer, not a quiet spell: a reject slower than a fixed wait must not read as "accepted"
            answer = client.wait_accepted(client.submit("ACC1", "OUCH", symbol, Side.BUY, qty, price), timeout=15)
            if isinstance(answer, OrderAccepted):  # working at the venue
                found[name] = "accepted"
            else:
                found[name] = str(getattr(answer, "code", type(answer).__name__))
    return found


REFUSED = {
    "BBBY buy (sell-only)": "SELL_ONLY_SYMBOL",
    "ZVZZT 101 (max_qty 100)": "MAX_QTY",
    "GME (no_trade)": "RESTRICTED_SYMBOL",
}


@pytest.mark.slow
def test_watch_when_limits_file_written_in_place_with_pauses_then_never_applied_until_replaced(
    ouch_simulator: int,
) -> None:
    workdir = short_tmp()
    config = write_config(workdir, ouch_simulator)
    limits = workdir / "limits.yaml"
    audit = workdir / "audit.jsonl"
    whole = _accounts_first(limits)
    limits.write_text(whole)
    log = workdir / "gateway.log"
    with log.open("wb") as out:
        gateway = subprocess.Popen([*GATEWAY, "run", "--config", str(config)], stdout=out, stderr=out)
    try:
        wait_until(lambda: _venue_state(workdir / "a.sock") == "UP", 30, "the gateway")
        in_force = admin_request(workdir / "a.sock", {"cmd": "status"})["status"]["risk"]["sha256"]

        # written in place up to the end of `accounts`, flushed, then a pause longer than watch + settle
        written = whole.replace("max_qty: 10000", "max_qty: 9500", 1)  # the new version, written in place
        prefix = written[: written.index("\nrestricted:") + 1]
        with limits.open("r+") as handle:
            handle.truncate(0)
            handle.write(prefix)
            handle.flush()
            time.sleep(3.5)
            assert _codes(workdir) == REFUSED  # the old limits are in force while the half file is on disk
            handle.write(written[len(prefix) :])
        time.sleep(2.5)
        status = admin_request(workdir / "a.sock", {"cmd": "status"})["status"]["risk"]
        assert status["sha256"] == in_force  # complete now, but written in place: still not applied
        assert [item["file"] for item in status["not_applied"]] == [str(limits)]
        text = _cli("status", "--config", str(config)).stdout
        assert f"risk NOT APPLIED: {limits} was modified in place" in text, text
        records = [json.loads(line) for line in audit.read_text().splitlines()]
        assert [r["event"] for r in records] == ["startup", "not_applied"]
        assert records[1]["in_force_sha256"] == in_force

        # a replacement is applied by the watch
        edited = whole.replace("max_qty: 10000", "max_qty: 9000", 1)
        copy = workdir / "limits.yaml.new"
        copy.write_text(edited)
        copied = copy.stat()  # a copy written before its mv (same clock tick otherwise: taken for in place)
        os.utime(copy, ns=(copied.st_atime_ns, copied.st_mtime_ns - 1_000_000_000))
        os.replace(copy, limits)
        wait_until(
            lambda: any(json.loads(line)["event"] == "reload" for line in audit.read_text().splitlines()),
            15,
            "the file-watch reload of the replacement",
        )
        reload = [json.loads(line) for line in audit.read_text().splitlines()][-1]
        assert (reload["event"], reload["trigger"], reload["who"]) == ("reload", "file changed on disk", "file watch")
        assert [c["field"] for c in reload["changes"]] == ["defaults.max_qty"]

        def risk_status() -> dict[str, Any]:
            risk: dict[str, Any] = admin_request(workdir / "a.sock", {"cmd": "status"})["status"]["risk"]
            return risk

        def applied(risk: dict[str, Any]) -> bool:
            return bool(risk["not_applied"] == [] and risk["loaded_at"] >= reload["time"])

        # applied just after the record is written: wait for the status to show it (a slow machine reads between)
        wait_until(lambda: applied(risk_status()), 15, "the status to show the reload applied")
        status = risk_status()
        assert applied(status)
        text = _cli("status", "--config", str(config)).stdout
        when = status["last_reload"]["time"]
        assert f"risk last reload: {when} file changed on disk by file watch: applied, 1 change(s)" in text, text
        assert f"loaded {status['loaded_at']}" in text
        assert _codes(workdir) == REFUSED

        # the audit log follows rotation: mv it away, the next record creates a new file
        os.rename(audit, workdir / "audit.jsonl.1")
        assert _cli("kill", "--config", str(config), "--account", "ACC1", "--reason", "drill").returncode == 0
        (record,) = [json.loads(line) for line in audit.read_text().splitlines()]
        assert (record["event"], record["account"], record["new"]) == ("trading_state", "ACC1", "HALTED")
    finally:
        gateway.send_signal(signal.SIGTERM)
        assert gateway.wait(15) == 0
    warned = [line for line in log.read_text(errors="replace").splitlines() if "modified in place" in line]
    assert len(warned) == 1 and "WARNING" in warned[0], warned


@pytest.mark.slow
def test_watch_when_a_large_limits_file_is_replaced_then_read_in_its_thread_and_applied(ouch_simulator: int) -> None:
    """risk60: a file over ``INLINE_BYTES`` is read and hashed in the gateway's ``risk-look`` thread, not on the loop;
    the replacement is applied by the watch all the same, and one written in place after it is not (its sha256
    audited)."""
    workdir = short_tmp()
    config = write_config(workdir, ouch_simulator)
    limits = workdir / "limits.yaml"
    audit = workdir / "audit.jsonl"
    pad = ("# " + "p" * 200 + "\n") * 5000  # ~1 MB of comments: the same limits
    assert len(pad) > INLINE_BYTES
    whole = limits.read_text()
    log = workdir / "gateway.log"
    with log.open("wb") as out:
        gateway = subprocess.Popen([*GATEWAY, "run", "--config", str(config)], stdout=out, stderr=out)
    try:
        wait_until(lambda: _venue_state(workdir / "a.sock") == "UP", 30, "the gateway")
        edited = whole.replace("max_qty: 10000", "max_qty: 9000", 1) + pad
        assert edited != whole + pad
        copy = workdir / "limits.yaml.new"
        copy.write_text(edited)
        copied = copy.stat()
        os.utime(copy, ns=(copied.st_atime_ns, copied.st_mtime_ns - 1_000_000_000))
        os.replace(copy, limits)

        def events() -> list[dict[str, Any]]:
            return [json.loads(line) for line in audit.read_text().splitlines()]

        wait_until(lambda: any(r["event"] == "reload" for r in events()), 30, "the file-watch reload of the large file")
        reload = [r for r in events() if r["event"] == "reload"][-1]
        assert (reload["who"], reload["sha256"]) == ("file watch", hashlib.sha256(edited.encode()).hexdigest())
        assert [c["field"] for c in reload["changes"]] == ["defaults.max_qty"]

        in_place = edited.replace("max_qty: 9000", "max_qty: 9900", 1)
        limits.write_text(in_place)  # `cp` over it
        wait_until(lambda: any(r["event"] == "not_applied" for r in events()), 30, "the not_applied record")
        note = [r for r in events() if r["event"] == "not_applied"][-1]
        assert note["sha256"] == hashlib.sha256(in_place.encode()).hexdigest()
        risk = admin_request(workdir / "a.sock", {"cmd": "status"})["status"]["risk"]
        assert risk["sha256"] == reload["sha256"]  # not applied
    finally:
        gateway.send_signal(signal.SIGTERM)
        assert gateway.wait(15) == 0

"""A refused reload's audit record is written off the event loop, in the order of the events (risk56).

reload55 moved the accepted reload's audit record (written and fsynced) to a worker thread; the refused reload's
``reload_refused`` record was still written, and fsynced, on the event loop: a slow disk held every order up.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from gateway.app import GatewayProcess
from risk.audit import AuditLog
from tests.e2e.support import e2e_limits, gateway_config, short_tmp


def _built(workdir: Path) -> tuple[GatewayProcess, Path]:
    config = gateway_config(workdir, 1, Path())
    limits = e2e_limits(workdir, config.strategies)
    process = GatewayProcess(gateway_config(workdir, 1, limits))
    process.build()
    return process, limits


def _replace(path: Path, text: str) -> None:
    copy = path.with_name(path.name + ".new")
    copy.write_text(text)
    copy.replace(path)


async def test_refused_reload_when_its_audit_write_is_slow_then_the_loop_runs_and_kills_are_written_after_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A bad file: the ``reload_refused`` record is written in a worker thread (a slow disk: 0.5 s) while the loop
    keeps running; the kills made meanwhile take effect at once and their records follow the refusal's, whole, in
    order."""
    workdir = short_tmp()
    process, limits = _built(workdir)
    assert process.risk is not None
    in_force = process.risk.status()["sha256"]
    loop_thread = threading.get_ident()
    threads: dict[str, int] = {}
    write = AuditLog.write

    def slow_write(self: AuditLog, record: dict[str, Any]) -> None:
        if record.get("event") == "reload_refused":
            threads["audit"] = threading.get_ident()
            time.sleep(0.5)
        write(self, record)

    monkeypatch.setattr(AuditLog, "write", slow_write)
    process.risk.halt(None, who="before", reason="r0")
    _replace(limits, limits.read_text().replace("max_qty:", "max_qty: -5 #", 1))
    task = process.reload_risk_soon("gateway risk reload", "officer")
    kills = 0
    while not task.done():
        await asyncio.sleep(0.01)
        if threads.get("audit") and kills < 5:  # the refusal's record is being written: kill meanwhile
            kills += 1
            process.risk.halt(None, who=f"during{kills}", reason="r")
    result = await task
    assert not result.ok and result.errors, result
    assert process.risk.status()["sha256"] == in_force
    assert threads["audit"] != loop_thread  # the old code: written (and fsynced) on the loop
    assert kills >= 3, kills  # the loop ran during the 0.5 s write
    process.risk.halt(None, who="after", reason="r")
    records = [json.loads(line) for line in (workdir / "audit.jsonl").read_text().splitlines()]  # every line whole
    order = [(r["event"], r["who"]) for r in records if r["event"] in ("reload_refused", "trading_state")]
    expected = [("trading_state", "before"), ("reload_refused", "officer")]
    expected += [("trading_state", f"during{i}") for i in range(1, kills + 1)] + [("trading_state", "after")]
    assert order == expected, order
    refused = next(r for r in records if r["event"] == "reload_refused")
    during = next(r for r in records if r["who"] == "during1")
    assert refused["time_ns"] <= during["time_ns"]  # the time it was made, not when it reached the disk
    process.risk.close()  # type: ignore[attr-defined]


async def test_refused_reload_when_the_audit_log_refuses_its_record_then_written_late_in_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The audit log refuses the ``reload_refused`` record (a full disk, in the worker thread): kept, and written
    late before the next record, as on the loop before."""
    workdir = short_tmp()
    process, limits = _built(workdir)
    assert process.risk is not None
    write = AuditLog.write
    full = [True]

    def full_disk(self: AuditLog, record: dict[str, Any]) -> None:
        if full[0] and record.get("event") == "reload_refused":
            raise OSError(28, "No space left on device")
        write(self, record)

    monkeypatch.setattr(AuditLog, "write", full_disk)
    _replace(limits, limits.read_text().replace("max_qty:", "max_qty: -5 #", 1))
    result = await process.reload_risk_soon("gateway risk reload", "officer")
    assert not result.ok and result.errors
    assert process.risk.reload_metrics()["risk_audit_records_late"] == 1.0  # type: ignore[attr-defined]
    full[0] = False
    process.risk.halt(None, who="after", reason="r")
    records = [json.loads(line) for line in (workdir / "audit.jsonl").read_text().splitlines()]
    tail = [(r["event"], r["who"], r.get("late", False)) for r in records[-2:]]
    assert tail == [("reload_refused", "officer", True), ("trading_state", "after", False)], tail
    process.risk.close()  # type: ignore[attr-defined]

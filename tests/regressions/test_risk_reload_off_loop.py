"""Regression (rev42risk): reloading a large limits file stopped the event loop for seconds.

Reading and checking 20,000 symbol overrides took seconds of CPU on the loop: strategies missed their
heartbeats and were dropped. The gateway now reads the files in a worker thread and swaps the new limits in
on the loop; the limits in force stay until then.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from pathlib import Path

from gateway.app import GatewayProcess
from tests.e2e.support import e2e_limits, gateway_config, short_tmp


def _big(limits: Path, symbols: int) -> str:
    """Return the limits text with ``symbols`` more symbol overrides (as a large desk's file has)."""
    text = limits.read_text()
    rows = "".join(f"  SYM{i}:\n    max_qty: {100 + i}\n" for i in range(symbols))
    return text.replace("\nsymbols:\n", "\nsymbols:\n" + rows, 1)


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


async def test_reload_when_file_is_large_then_the_loop_keeps_serving_and_old_limits_stay_until_applied() -> None:
    workdir = short_tmp()
    process, limits = _built(workdir)
    assert process.risk is not None
    in_force = process.risk.status()["sha256"]
    big = _big(limits, 3000)
    assert "\nsymbols:\n  SYM0:" in big
    _replace(limits, big)
    gaps: list[float] = []
    seen_old: list[bool] = []
    task = process.reload_risk_soon("gateway risk reload", "officer")
    last = time.monotonic()
    while True:
        await asyncio.sleep(0.005)
        if task.done():
            break
        now = time.monotonic()
        gaps.append(now - last)
        last = now
        seen_old.append(process.risk.status()["sha256"] == in_force)
    result = await task
    assert result.ok, result
    assert process.risk.status()["sha256"] == hashlib.sha256(big.encode()).hexdigest()
    # the loop ran while the files were read, with the old limits in force until the switch, the new ones after it
    # (reload55: the reload's task ends after the switch, once the copies in force are kept)
    switched = seen_old.index(False) if False in seen_old else len(seen_old)
    assert len(gaps) >= 5 and switched >= 5 and not any(seen_old[switched:]), (len(gaps), switched, seen_old[-3:])
    records = [json.loads(line) for line in (workdir / "audit.jsonl").read_text().splitlines()]
    assert [r["event"] for r in records if r["event"].startswith("reload")] == ["reload"]


async def test_reloads_when_asked_during_another_then_each_reads_after_the_one_before() -> None:
    workdir = short_tmp()
    process, limits = _built(workdir)
    assert process.risk is not None
    first = _big(limits, 1000)
    _replace(limits, first)
    one = process.reload_risk_soon("SIGHUP", "a")
    process._watch_risk_file()  # a reload is reading the files: the watch waits for it
    two = process.reload_risk_soon("gateway risk reload", "b")
    results = await asyncio.gather(one, two)
    assert [r.ok for r in results] == [True, True]
    assert [len(r.changes) > 0 for r in results] == [True, False]  # the second read what the first applied
    process._watch_risk_file()
    process._watch_risk_file()
    records = [json.loads(line) for line in (workdir / "audit.jsonl").read_text().splitlines()]
    assert [(r["event"], r["who"]) for r in records if r["event"].startswith("reload")] == [
        ("reload", "a"),
        ("reload", "b"),
    ]


async def test_reloads_when_asked_before_the_next_one_starts_then_they_join_it_one_audit_record_naming_each() -> None:
    workdir = short_tmp()
    process, limits = _built(workdir)
    _replace(limits, _big(limits, 1000))
    under_way = process.reload_risk_soon("SIGHUP", "a")
    joined = [process.reload_risk_soon("gateway risk reload", who) for who in ("b", "c", "c")]
    assert joined[0] is joined[1] is joined[2]  # old: three reloads, one after another
    hup = process.reload_risk_soon("SIGHUP", "d")  # another trigger: its own reload, after them
    results = await asyncio.gather(under_way, *joined, hup)
    assert [r.ok for r in results] == [True] * 5
    assert results[1].who == "b; c x2"  # each request answered with the reload that covered it
    later = await process.reload_risk_soon("gateway risk reload", "e")  # none waiting: a reload of its own
    assert later.ok
    records = [json.loads(line) for line in (workdir / "audit.jsonl").read_text().splitlines()]
    assert [(r["event"], r["who"]) for r in records if r["event"].startswith("reload")] == [
        ("reload", "a"),
        ("reload", "b; c x2"),
        ("reload", "d"),
        ("reload", "e"),
    ]

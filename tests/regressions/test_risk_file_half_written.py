"""Regression (faults14): the file watch applied a limits file caught half-way through being rewritten in place."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from gateway.app import GatewayProcess
from risk.limitsfile import read_limits
from tests.e2e.support import e2e_limits, gateway_config, short_tmp


def _reloads(audit: Path) -> list[dict[str, object]]:
    records = [json.loads(line) for line in audit.read_text().splitlines()]
    return [r for r in records if r["event"] in ("reload", "reload_refused")]


def test_file_watch_when_file_rewritten_in_place_across_a_tick_then_only_the_whole_file_is_applied() -> None:
    workdir = short_tmp()
    config = gateway_config(workdir, 1, Path())
    limits = e2e_limits(workdir, config.strategies)
    process = GatewayProcess(gateway_config(workdir, 1, limits))
    process.build()
    whole = limits.read_text().replace("max_qty: 10000", "max_qty: 9000", 1)
    # `cp`, `cat >`, an editor saving in place: truncate, then write in pieces. A watch tick between two
    # pieces sees a prefix, and a prefix that ends between two accounts is itself a valid file.
    half = whole[: whole.index("\n  ACC2:") + 1]
    limits.write_text(half)
    read_limits(limits)  # the half is valid: applying it would refuse every order of ACC2 (UNKNOWN_ACCOUNT)
    process._watch_risk_file()
    limits.write_text(whole)
    process._watch_risk_file()
    process._watch_risk_file()  # the file has stopped changing
    process._watch_risk_file()
    audit = workdir / "audit.jsonl"
    whole_sha = hashlib.sha256(whole.encode()).hexdigest()
    assert [(r["event"], r["sha256"]) for r in _reloads(audit)] == [("reload", whole_sha)]
    assert process.risk is not None and process.risk.status()["sha256"] == whole_sha

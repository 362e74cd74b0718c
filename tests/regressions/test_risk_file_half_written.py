"""Regression (faults14): the file watch applied a limits file caught half-way through being rewritten in place."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from gateway.app import GatewayProcess
from risk.limitsfile import read_limits
from tests.e2e.support import e2e_limits, gateway_config, short_tmp


def _reloads(audit: Path) -> list[dict[str, object]]:
    records = [json.loads(line) for line in audit.read_text().splitlines()]
    return [r for r in records if r["event"] in ("reload", "reload_refused")]


def _replace(path: Path, text: str) -> None:
    """Replace ``path`` as the watch wants it: a copy beside it, renamed over it (``mv``)."""
    copy = path.with_name(path.name + ".new")
    copy.write_text(text)
    _written_before(copy)
    copy.replace(path)


def _written_before(path: Path) -> None:
    """Date the copy's last write a second back: a write and a rename in one clock tick look like in place."""
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns - 1_000_000_000))


def _built_gateway(workdir: Path) -> tuple[GatewayProcess, Path]:
    """Build (not start) a gateway in ``workdir`` with the example limits; return it and its limits file."""
    config = gateway_config(workdir, 1, Path())
    limits = e2e_limits(workdir, config.strategies)
    process = GatewayProcess(gateway_config(workdir, 1, limits))
    process.build()
    return process, limits


def test_file_watch_when_file_rewritten_in_place_across_a_tick_then_nothing_is_applied_until_replaced() -> None:
    """riskfix30: the settle time only narrowed the window (a writer pausing longer got its prefix applied);
    a file modified in place is now never applied by the watch, only a replacement (``mv``)."""
    workdir = short_tmp()
    process, limits = _built_gateway(workdir)
    in_force = hashlib.sha256(limits.read_bytes()).hexdigest()
    whole = limits.read_text().replace("max_qty: 10000", "max_qty: 9000", 1)
    # `cp`, `cat >`, an editor saving in place: truncate, then write in pieces. A watch tick between two
    # pieces sees a prefix, and a prefix that ends between two accounts is itself a valid file.
    half = whole[: whole.index("\n  ACC2:") + 1]
    limits.write_text(half)
    read_limits(limits)  # the half is valid: applying it would refuse every order of ACC2 (UNKNOWN_ACCOUNT)
    for _ in range(3):  # a writer pausing longer than the settle time
        process._watch_risk_file()
    limits.write_text(whole)
    for _ in range(3):
        process._watch_risk_file()
    audit = workdir / "audit.jsonl"
    assert _reloads(audit) == []
    assert process.risk is not None and process.risk.status()["sha256"] == in_force
    copy = workdir / "limits.yaml.new"
    copy.write_text(whole)
    _written_before(copy)
    copy.replace(limits)
    process._watch_risk_file()
    process._watch_risk_file()  # the file has stopped changing
    whole_sha = hashlib.sha256(whole.encode()).hexdigest()
    assert [(r["event"], r["sha256"]) for r in _reloads(audit)] == [("reload", whole_sha)]
    assert process.risk.status()["sha256"] == whole_sha


def test_file_watch_when_reference_file_rewritten_every_tick_then_a_limits_edit_is_still_applied() -> None:
    """Regression (mend26): the watch waited for a tick quiet over both files, so a reference-price file
    rewritten every tick (a price feed) kept a limits edit from ever being applied by the watch."""
    workdir = short_tmp()
    process, limits = _built_gateway(workdir)
    reference = workdir / "reference-prices.yaml"
    prices = reference.read_text()
    edited = limits.read_text().replace("max_qty: 10000", "max_qty: 9000", 1)
    _replace(limits, edited)
    for tick in range(1, 5):
        _replace(reference, prices + "#" * tick + "\n")  # new content before every tick (a feed, with mv)
        process._watch_risk_file()
    edited_sha = hashlib.sha256(edited.encode()).hexdigest()
    assert process.risk is not None and process.risk.status()["sha256"] == edited_sha
    assert [r["event"] for r in _reloads(workdir / "audit.jsonl")] == ["reload"]


def test_file_watch_when_limits_rewrite_starts_as_the_reference_file_settles_then_the_half_is_not_applied() -> None:
    workdir = short_tmp()
    process, limits = _built_gateway(workdir)
    reference = workdir / "reference-prices.yaml"
    _replace(reference, reference.read_text() + "# new close\n")
    process._watch_risk_file()  # the reference file changed
    whole = limits.read_text().replace("max_qty: 10000", "max_qty: 9000", 1)
    limits.write_text(whole[: whole.index("\n  ACC2:") + 1])  # a valid prefix, in place: must not be applied
    process._watch_risk_file()  # the reference file is quiet now, the limits file just changed
    limits.write_text(whole)
    process._watch_risk_file()
    process._watch_risk_file()  # both quiet
    assert _reloads(workdir / "audit.jsonl") == []  # in place: held back, the new reference file with it
    _replace(limits, whole)
    process._watch_risk_file()
    process._watch_risk_file()
    whole_sha = hashlib.sha256(whole.encode()).hexdigest()
    assert [(r["event"], r["sha256"]) for r in _reloads(workdir / "audit.jsonl")] == [("reload", whole_sha)]

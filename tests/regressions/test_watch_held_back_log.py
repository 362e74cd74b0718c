"""Regression (opsfix31): a file-watch reload held back by a file modified in place logged an empty ERROR.

riskfix30 made the risk engine hold back every watch reload while a limits file is modified in place,
returning a refused result with no errors and logging its own WARNING (``reload NOT applied: ...``).
gateway/app.py took it for a refused file and added ``risk limits reload refused (...); old limits stay
in force: `` with nothing after the colon. The held-back reload logs the risk WARNING only.
"""

from __future__ import annotations

import hashlib
import logging

import pytest

from tests.e2e.support import short_tmp
from tests.regressions.test_risk_file_half_written import _built_gateway, _reloads, _replace


def test_watch_when_reload_held_back_by_an_in_place_edit_then_only_the_risk_warning_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    workdir = short_tmp()
    process, limits = _built_gateway(workdir)
    assert process.risk is not None
    in_force = process.risk.status()["sha256"]
    reference = workdir / "reference-prices.yaml"
    _replace(reference, reference.read_text() + "# a new price file\n")  # mv: reloaded once it has settled
    process._watch_risk_file()  # the reference file changed: it settles for a tick
    limits.write_text(limits.read_text().replace("max_qty: 10000", "max_qty: 9000", 1))  # in place, same inode
    caplog.clear()
    with caplog.at_level(logging.DEBUG):
        process._watch_risk_file()  # the reference settled, the reload is due: held back by the in-place edit
        held_back = [(r.name, r.levelno, r.getMessage()) for r in caplog.records]
        caplog.clear()
        process._watch_risk_file()  # nothing moved since: nothing more to say
        assert caplog.records == []
    assert [(name, level) for name, level, _ in held_back] == [("risk", logging.WARNING), ("risk", logging.WARNING)]
    noticed, reload = (message for _, _, message in held_back)
    assert noticed.startswith(f"risk {limits} was modified in place and NOT applied")  # the edit, once
    assert reload == f"risk reload NOT applied: {limits} was modified in place; old limits stay in force"
    assert process.risk.status()["sha256"] == in_force
    assert _reloads(workdir / "audit.jsonl") == []  # nothing refused or applied: held back
    # a replacement of the limits file lets the held-back reload through, reference file included
    edited = limits.read_text()
    _replace(limits, edited)
    process._watch_risk_file()
    process._watch_risk_file()
    assert process.risk.status()["sha256"] == hashlib.sha256(edited.encode()).hexdigest()
    assert [r["event"] for r in _reloads(workdir / "audit.jsonl")] == ["reload"]

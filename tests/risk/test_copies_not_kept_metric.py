"""``gateway metrics`` says while the copies of the risk files in force are not kept in ``state_dir`` (audit58b).

Found by rev58ops (finding 5, LOW): a reload by the file watch (the risk officer's ``mv``: no command, no exit code)
whose copy could not be written showed only in an ERROR line and ``gateway status``; ``gateway_risk_*`` were
unchanged, so no alert could fire while a restart depended on the audit log. Now ``gateway_risk_copies_not_kept`` is 1
until the gateway keeps them again (alert ``GatewayRiskCopiesNotKept``).
"""

from __future__ import annotations

import errno
from typing import Any

import pytest

from tests.e2e.support import gateway_metrics, running_gateway, short_tmp
from tests.risk.test_reload_copy_unwritable import _refuse_all, _replace


async def _not_kept(process: Any) -> list[tuple[dict[str, str], float]]:
    samples = await gateway_metrics(process.config)
    return samples.get("gateway_risk_copies_not_kept", [])


async def test_metrics_when_a_watch_reload_cannot_keep_its_copy_then_copies_not_kept_until_kept_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    workdir = short_tmp()
    async with running_gateway(workdir) as (process, _):
        risk: Any = process.risk
        limits = workdir / "limits.yaml"
        assert await _not_kept(process) == [({}, 0.0)]  # the old code: no such series
        _replace(limits, limits.read_text().replace("max_qty: ", "max_qty: 9", 1))
        _refuse_all(monkeypatch, errno.ENOSPC)  # state_dir full
        result = await process.reload_risk_soon("file changed on disk", "file watch")
        assert result.ok and result.copy_problem, result
        process._watch_risk_file()  # still full: tried again off the loop, quietly
        if process._risk_keeping is not None:
            await process._risk_keeping
        assert await _not_kept(process) == [({}, 1.0)]
        monkeypatch.undo()  # space freed: the next tick keeps them
        process._watch_risk_file()
        assert process._risk_keeping is not None
        await process._risk_keeping
        assert not risk.copies_owed
        assert await _not_kept(process) == [({}, 0.0)]

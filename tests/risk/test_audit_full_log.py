"""The risk audit log on a full disk: a kill's record that cannot be written is one ERROR line (opsfix37).

The ops review filled the audit log's disk: ``gateway kill`` still worked (its record kept, written later),
but the log carried a full traceback for the expected ENOSPC. The file here is /dev/full: every write is
refused by the kernel with ENOSPC.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from tests.e2e.support import running_gateway, short_tmp


async def test_kill_when_the_audit_log_disk_is_full_then_one_error_line_without_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with running_gateway(short_tmp()) as (process, _sim):
        assert process.risk is not None
        audit = process.risk._audit  # type: ignore[attr-defined]
        os.close(audit._fd)
        audit.path = Path("/dev/full")
        audit._fd = os.open("/dev/full", os.O_WRONLY)
        caplog.clear()
        with caplog.at_level(logging.INFO):
            result = process.kill(None, "ops", "audit disk full")
        assert result.orders_canceled == 0
        assert process.risk.trading_state().name == "HALTED"  # the kill works all the same
        failed = [r for r in caplog.records if "audit log write failed" in r.getMessage()]
        assert [(r.name, r.levelno) for r in failed] == [("risk", logging.ERROR)]
        assert failed[0].getMessage() == (
            "risk audit log write failed for trading_state record ([Errno 28] No space left on device): "
            "written later, marked late"
        )
        assert failed[0].exc_info is None and "Traceback" not in caplog.text
        os.close(audit._fd)  # no descriptor on /dev/full left behind (tests/test_journal_nearly_full.py counts them)
        audit.path = Path(os.devnull)
        audit._fd = os.open(os.devnull, os.O_WRONLY)

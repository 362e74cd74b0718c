"""A replacement saved the moment a reload's audit record shows is still applied by the watch."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from risk.audit import AuditLog
from risk.engine import WATCH_TRIGGER, WATCH_WHO
from tests.risk.support import BASE_LIMITS, make_engine, merge


def _save_by_mv(limits: Path, max_qty: int) -> None:
    """Save as an editor does: a new file written well before its rename over the path."""
    new = limits.with_name("limits.yaml.new")
    new.write_text(yaml.safe_dump(merge(BASE_LIMITS, {"defaults": {"max_qty": max_qty}}), sort_keys=False))
    st = new.stat()
    os.utime(new, ns=(st.st_atime_ns, st.st_mtime_ns - 1_000_000_000))
    new.replace(limits)


def test_watch_when_file_replaced_right_after_a_reload_wrote_its_audit_record_then_applied(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine, _ = make_engine(tmp_path)
    limits = tmp_path / "limits.yaml"
    limits.write_text(yaml.safe_dump(merge(BASE_LIMITS, {"defaults": {"max_qty": 800}}), sort_keys=False))
    write = AuditLog.write

    def write_then_save(self: AuditLog, record: dict[str, Any]) -> None:
        write(self, record)
        if record.get("event") == "reload" and record.get("trigger") == "SIGHUP":
            _save_by_mv(limits, 700)  # the officer saw the record and saved the next version at once

    monkeypatch.setattr(AuditLog, "write", write_then_save)
    assert engine.reload("SIGHUP", "test").ok  # reads 800; the 700 file is at the path before it is judged
    monkeypatch.setattr(AuditLog, "write", write)
    assert engine.limits_file.document.defaults.max_qty == 800
    assert engine.changed_files() == ["limits"]  # a replacement, not "modified in place"
    assert engine.status()["not_applied"] == []
    assert engine.reload(WATCH_TRIGGER, WATCH_WHO).ok
    assert engine.limits_file.document.defaults.max_qty == 700
    engine.close()

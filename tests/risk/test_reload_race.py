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


REFERENCE_PRICES = "as_of: loaded\nprices:\n  AAPL: {price}\n"


def _aapl(engine: Any) -> Any:
    reference = engine.limits_file.reference
    assert reference is not None
    return reference.prices["AAPL"]


@pytest.mark.parametrize("in_child", [True, False], ids=["reader-process", "in-process"])
def test_reference_file_replaced_while_a_reload_reads_is_then_applied_by_the_watch(
    tmp_path: Path, in_child: bool
) -> None:
    """A reference-price file replaced (``mv``) during a reload's read is the watch's next replacement (rev56diff).

    Its signature used to be taken after the read and paired with the old content's hash: the watch then saw
    "nothing moved" for good and the price collar ran on the old prices.
    """
    from risk.reader import reader_command
    from tests.risk.support import px, replace_file

    doc = merge(BASE_LIMITS, {"reference_prices": {"max_age_s": 60, "file": "reference-prices.yaml"}})
    (tmp_path / "reference-prices.yaml").write_text(REFERENCE_PRICES.format(price="100.00"))
    engine, _ = make_engine(tmp_path, {"reference_prices": doc["reference_prices"]})
    assert _aapl(engine) == px("100.00")

    replace_file(tmp_path / "limits.yaml", yaml.safe_dump(merge(doc, {"defaults": {"max_qty": 900}}), sort_keys=False))
    pending = engine.begin_reload("SIGHUP", "officer")
    pending.reader = reader_command() if in_child else None
    pending.read()  # reads the prices at 100.00
    replace_file(tmp_path / "reference-prices.yaml", REFERENCE_PRICES.format(price="150.00"))  # the price job's mv
    assert engine.finish_reload(pending).ok
    assert _aapl(engine) == px("100.00")  # what the read saw

    changed = engine.changed_files()
    assert changed == ["reference"]
    assert engine.reload(WATCH_TRIGGER, WATCH_WHO).ok
    assert _aapl(engine) == px("150.00")
    assert engine.changed_files() == []  # judged now: nothing more
    engine.close()


@pytest.mark.parametrize("in_child", [True, False], ids=["reader-process", "in-process"])
def test_reference_file_named_anew_and_replaced_while_a_reload_reads_is_then_applied(
    tmp_path: Path, in_child: bool
) -> None:
    """The same for limits that switch to another reference file (or name one for the first time) (rev56merge).

    The signature is the one the reader took just before it read the file, whichever file that is.
    """
    from risk.reader import reader_command
    from tests.risk.support import px, replace_file

    doc = merge(BASE_LIMITS, {"reference_prices": {"max_age_s": 60, "file": "reference-prices.yaml"}})
    (tmp_path / "reference-prices.yaml").write_text(REFERENCE_PRICES.format(price="100.00"))
    engine, _ = make_engine(tmp_path, {"reference_prices": doc["reference_prices"]})
    (tmp_path / "ref-b.yaml").write_text(REFERENCE_PRICES.format(price="120.00"))
    new = merge(doc, {"reference_prices": {"max_age_s": 60, "file": "ref-b.yaml"}})
    replace_file(tmp_path / "limits.yaml", yaml.safe_dump(new, sort_keys=False))
    pending = engine.begin_reload("SIGHUP", "officer")
    pending.reader = reader_command() if in_child else None
    pending.read()  # reads ref-b at 120.00
    replace_file(tmp_path / "ref-b.yaml", REFERENCE_PRICES.format(price="150.00"))  # the price job's mv
    assert engine.finish_reload(pending).ok
    assert _aapl(engine) == px("120.00")
    assert engine.changed_files() == ["reference"]
    assert engine.reload(WATCH_TRIGGER, WATCH_WHO).ok
    assert _aapl(engine) == px("150.00")
    engine.close()

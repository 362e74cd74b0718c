"""A venue's long Text (58) that is not UTF-8: bounded, with the length and SHA-256 of its bytes (rev59fix LOW).

Before fixresend59 the adapter decoded it with U+FFFD for every byte that is not UTF-8; the engine clipped that for
the journal and the strategy ("… [clipped: 60,000 characters; the gateway log has the whole text]") and logged "the
whole text": a 180 KB line of U+FFFD from which the venue's bytes could not be told. Now the adapter bounds it
itself, naming the bytes' length and digest as a non-UTF-8 id is named (``model.venue_events.id_text``), and logs
one bounded WARNING with its first 64 bytes in hex. A short one, and any UTF-8 text, are as before.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import pytest

from gateway.engine import Engine
from gateway.protocol.messages import Canceled, OrderRejected
from model.venue_events import EVENT_MAX_TEXT
from tests.fix.test_adapter import Rig
from tests.harness import MemoryLink, engine_over

pytestmark = pytest.mark.timeout(30)

TEXT = b"\xe9" * 60_000


def _order(fix: Rig, tmp_path: Path) -> tuple[Engine, MemoryLink, bytes]:
    engine, rig = engine_over(fix.adapter, fix.clock, tmp_path / "journal", max_qty=1_000)
    strat = rig.connect("S1")
    rig.new_order(strat, "A", qty=100, price=230_000, venue="FIXV")
    (new_order,) = fix.wire.take()
    return engine, strat, new_order.get(b"11")


def test_reject_with_a_long_text_not_utf8_then_bounded_with_its_length_and_digest_and_one_short_log_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    fix = Rig("broker-fix44").up()
    engine, strat, ref = _order(fix, tmp_path)
    with caplog.at_level(logging.WARNING):
        fix.deliver(engine, fix.peer.execution_report(ref, b"8", ord_status=b"8", extra=[(b"58", TEXT)]))
    (rejected,) = [m for m in strat.received() if isinstance(m, OrderRejected)]
    digest = hashlib.sha256(TEXT).hexdigest()
    # the old code: 2,000 U+FFFD ending "… [clipped: 60,000 characters; the gateway log has the whole text]"
    assert rejected.text.endswith(f"… [60,000 bytes, not UTF-8, sha256 {digest}]"), rejected.text[-120:]
    assert len(rejected.text) <= EVENT_MAX_TEXT and rejected.text.startswith("\ufffd" * 100)
    lines = [r.getMessage() for r in caplog.records]
    assert max(len(line) for line in lines) < 1_000, [len(line) for line in lines]  # the old code: 180,000
    (line,) = [line for line in lines if "not UTF-8" in line]
    assert "60000 bytes, not UTF-8" in line and digest in line and "e9" * 64 in line, line


def test_cancel_with_a_short_text_not_utf8_then_as_before_and_a_long_utf8_text_still_clipped_by_the_engine(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    fix = Rig("broker-fix44").up()
    engine, strat, ref = _order(fix, tmp_path)
    fix.deliver(engine, fix.peer.execution_report(ref, b"0"))
    fix.deliver(engine, fix.peer.execution_report(ref, b"4", ord_status=b"4", extra=[(b"58", b"Prix \xe9lev\xe9")]))
    (canceled,) = [m for m in strat.received() if isinstance(m, Canceled)]
    assert canceled.text == "Prix \ufffdlev\ufffd"
    fix2 = Rig("broker-fix44").up()
    engine2, strat2, ref2 = _order(fix2, tmp_path / "2")
    with caplog.at_level(logging.WARNING):
        fix2.deliver(engine2, fix2.peer.execution_report(ref2, b"8", ord_status=b"8", extra=[(b"58", b"x" * 3000)]))
    (rejected,) = [m for m in strat2.received() if isinstance(m, OrderRejected)]
    assert rejected.text.endswith("… [clipped: 3,000 characters; the gateway log has the whole text]")
    assert any("the whole text: '" + "x" * 3000 + "'" in r.getMessage() for r in caplog.records)

"""Regression (found feeding a FIX venue's ExecutionReports): one with no ExecType (150), or a value FIX does not
define, was dropped without a word.

docs/venues/fix.md lists what each ExecType does and which are ignored on purpose (6, A, E: counted in
``ignored_exec_reports``; D, Restated, only when it changes no quantity, since fixfix38). Anything else fell
into the same silent branch: no Reject, no log line, so a venue that sent its fills under a value the gateway
does not know would see them accepted while the strategy never heard of them. Now such a report gets a session
Reject naming tag 150 (the venue learns), counted as ``unparseable`` and logged; the documented ignored ones stay
ignored.
"""

from __future__ import annotations

import pytest

from venues.fix.fields import MsgType

from ..fix.test_adapter import Rig, _sent


def _report(rig: Rig, exec_type: bytes | None) -> bytes:
    body = [(b"37", b"OID1"), (b"17", b"E9"), (b"11", b"Q6rj7"), (b"20", b"0")]
    if exec_type is not None:
        body.append((b"150", exec_type))
    body += [(b"39", b"1"), (b"55", b"AAPL"), (b"54", b"1"), (b"38", b"100"), (b"151", b"60"), (b"14", b"40")]
    body += [(b"6", b"150"), (b"32", b"40"), (b"31", b"150")]
    return rig.peer.message(MsgType.EXECUTION_REPORT, body)


@pytest.mark.parametrize("exec_type", [None, b"Z", b"11"])  # (an empty 150= is the session's Reject, reason 4)
def test_execution_report_when_exec_type_missing_or_undefined_then_rejected_naming_tag_150(
    exec_type: bytes | None,
) -> None:
    rig = Rig("equities-fix42").up()
    _sent(rig, 7)
    rig.feed(_report(rig, exec_type))
    assert rig.events() == []
    (reject,) = rig.wire.take()
    assert (reject.msg_type, reject.get(b"371"), reject.get(b"45")) == (MsgType.REJECT, b"150", b"3")
    assert rig.adapter.counters["unparseable"] == 1


@pytest.mark.parametrize("exec_type", [b"6", b"A", b"E"])
def test_execution_report_when_exec_type_documented_as_ignored_then_still_ignored_quietly(exec_type: bytes) -> None:
    rig = Rig("equities-fix42").up()
    _sent(rig, 7)
    rig.feed(_report(rig, exec_type))
    assert rig.events() == [] and rig.wire.take() == []
    assert rig.adapter.counters["ignored_exec_reports"] == 1


def test_restated_when_cum_qty_above_the_order_count_then_fill_reported_and_nothing_cut() -> None:
    # 150=D, CumQty 40 (the order counted 0), LeavesQty 60: the 40 as a fill from CumQty, the 60 stay open
    rig = Rig("equities-fix42").up()
    order, _ = _sent(rig, 7)
    rig.events()
    rig.feed(_report(rig, b"D"))
    events = rig.events()
    assert [(type(e).__name__, getattr(e, "qty", None), getattr(e, "exec_id", None)) for e in events] == [
        ("VenueExecuted", 40, "")
    ]
    assert rig.wire.take() == [] and order.order_id == 7
    assert (rig.adapter.counters["ignored_exec_reports"], rig.adapter.counters["fills_from_cum_qty"]) == (0, 1)

"""Regression (faults15): FIX 4.4 Trade Correct / Trade Cancel were ignored without a word.

A trade correction or bust changes the strategy's position, and the gateway does not apply it (docs/venues/fix.md,
"Known limits"). FIX 4.2 says so with ExecTransType 1 / 2, which the adapter counts and logs; FIX 4.4 says it with
ExecType G / H, which it only counted: the operator never heard of a busted trade. Both are now counted and
logged the same way, and neither reaches a strategy as a fill.
"""

from __future__ import annotations

import logging

import pytest

from venues.fix.fields import MsgType

from ..fix.test_adapter import Rig, _sent


def _report(rig: Rig, exec_type: bytes, exec_trans_type: bytes) -> bytes:
    body = [
        (b"37", b"OID1"),
        (b"17", b"E2"),
        (b"19", b"E1"),  # ExecRefID: the execution corrected or busted
        (b"11", b"B6rj7" if rig.dialect.begin_bytes == b"FIX.4.4" else b"Q6rj7"),
    ]
    if exec_trans_type:
        body.append((b"20", exec_trans_type))
    body += [
        (b"150", exec_type),
        (b"39", b"1"),
        (b"55", b"AAPL"),
        (b"54", b"1"),
        (b"38", b"100"),
        (b"151", b"60"),
        (b"14", b"40"),
        (b"6", b"150.25"),
        (b"32", b"40"),
        (b"31", b"150.25"),
    ]
    return rig.peer.message(MsgType.EXECUTION_REPORT, body)


@pytest.mark.parametrize(
    ("dialect", "exec_type", "exec_trans_type"),
    [
        ("broker-fix44", b"G", b""),  # 4.4 Trade Correct
        ("broker-fix44", b"H", b""),  # 4.4 Trade Cancel
        ("equities-fix42", b"2", b"2"),  # 4.2 ExecTransType Correct of a fill
        ("equities-fix42", b"1", b"1"),  # 4.2 ExecTransType Cancel (bust) of a partial fill
    ],
)
def test_trade_correction_when_received_then_counted_logged_and_no_fill(
    dialect: str, exec_type: bytes, exec_trans_type: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    rig = Rig(dialect).up()
    _sent(rig, 7)
    with caplog.at_level(logging.WARNING, logger="venues.fix.adapter"):
        rig.feed(_report(rig, exec_type, exec_trans_type))
    assert rig.events() == []
    assert rig.wire.take() == []  # a valid message: no Reject
    assert rig.adapter.status()["ignored_exec_reports"] == 1
    assert [r.getMessage() for r in caplog.records if "not applied" in r.getMessage()] != []

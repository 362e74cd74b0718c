"""An ExecID that is not UTF-8: the fill still reaches the core, once, under an id no other id can equal.

Before lead56b the fill path decoded the ExecID strictly: a fill whose ExecID held a byte that is not UTF-8 was
refused as undecodable (a session Reject) and never reached the strategy, while the other paths decoded it with
replacement characters (two different such ids became equal). lead56b kept such bytes as ``\\xNN`` escapes, which
made the bytes ``E\\xff1`` and the six ASCII characters ``E\\xff1`` one id (rev56merge2): the second fill was dropped
as a repeat. Now such bytes get a form of their own with the SHA-256 of the bytes (``model.venue_events.id_text``).
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import pytest

from gateway.protocol.messages import Executed
from model.order import mark_sent
from model.venue_events import EVENT_MAX_ID, VenueAccepted, VenueExecuted, bounded_id, id_text
from tests.fix.helpers import make_order
from tests.fix.test_adapter import Rig
from tests.harness import engine_over, sent_ref


def _form(raw: bytes, prefix: str) -> str:
    return f"{prefix}…[{len(raw)} bytes, not UTF-8, sha256 {hashlib.sha256(raw).hexdigest()}]"


def test_id_text_when_utf8_then_as_sent_else_a_form_with_the_digest_of_the_bytes() -> None:
    assert id_text(b"E-1") == "E-1"
    assert id_text("É-1".encode()) == "É-1"
    assert id_text(b"E\xff1") == _form(b"E\xff1", "E\\xff1")
    assert id_text(b"E\xfe1") != id_text(b"E\xff1")
    assert id_text(b"E\xff1") != id_text(b"E\\xff1")  # the bytes vs the same text in ASCII


def test_fill_when_exec_id_is_not_utf8_then_applied_and_two_such_ids_stay_apart() -> None:
    rig = Rig().up()
    order = make_order(7)
    mark_sent(order, sent_ref(rig.adapter.send_new(order)))
    rig.applying(order)
    rig.feed(
        rig.peer.execution_report(b"Q6rj7", b"0"),
        rig.peer.execution_report(
            b"Q6rj7", b"1", ord_status=b"1", leaves=60, cum=40, last_qty=40, last_px=b"150.2", exec_id=b"E\xff1"
        ),
        rig.peer.execution_report(
            b"Q6rj7", b"1", ord_status=b"1", leaves=30, cum=70, last_qty=30, last_px=b"150.2", exec_id=b"E\xfe1"
        ),
    )
    assert rig.events() == [
        VenueAccepted(2, 7, "OID1", 100, 1_502_500),
        VenueExecuted(3, 7, 40, 1_502_000, "", _form(b"E\xff1", "E\\xff1")),
        VenueExecuted(4, 7, 30, 1_502_000, "", _form(b"E\xfe1", "E\\xfe1")),
    ]


def test_strategy_gets_both_fills_when_one_exec_id_is_bytes_and_the_other_their_escaped_text(tmp_path: Path) -> None:
    """rev56merge2: with ``\\xNN`` escapes the second fill (another ExecID) was dropped as a repeat."""
    fix = Rig("broker-fix44").up()
    engine, rig = engine_over(fix.adapter, fix.clock, tmp_path / "journal", max_qty=1_000)
    strat = rig.connect("S1")
    rig.new_order(strat, "A", qty=100, price=230_000, venue="FIXV")
    (new_order,) = fix.wire.take()
    ref = new_order.get(b"11")
    fix.deliver(engine, fix.peer.execution_report(ref, b"0"))
    for exec_id, last, cum in ((b"E\xff1", 40, 40), (b"E\\xff1", 30, 70)):
        fix.deliver(
            engine,
            fix.peer.execution_report(
                ref, b"F", ord_status=b"1", leaves=100 - cum, cum=cum, last_qty=last, last_px=b"23", exec_id=exec_id
            ),
        )
    got = [(m.qty, m.cum_qty) for m in strat.received() if isinstance(m, Executed)]
    assert got == [(40, 40), (30, 70)]


def test_id_text_when_long_and_not_utf8_then_one_form_naming_the_length_and_digest_of_the_bytes() -> None:
    """lows57: a 300-byte id's form passed 128 characters and was bounded again as text, ``'\\xff…[352 characters,
    sha256 <of the escaped text>]'``: neither its length nor its digest was the venue's bytes'."""
    raw = b"\xff" * 300
    text = id_text(raw)
    assert text.endswith(f"…[300 bytes, not UTF-8, sha256 {hashlib.sha256(raw).hexdigest()}]"), text
    assert text.startswith("\\xff\\xff") and len(text) <= EVENT_MAX_ID, text
    assert bounded_id(text) == text  # one form: the engine's bound leaves it as it is
    assert id_text(raw[:-1] + b"\xfe") != text  # two ids stay two (their prefixes alike)
    mixed = "é".encode() * 70 + b"\xc3"  # UTF-8 but for its last byte
    assert id_text(mixed) == _form(mixed, "é" * 32), id_text(mixed)
    assert len(id_text(b"\xff" * 12_345_678)) <= EVENT_MAX_ID


def test_id_text_when_not_utf8_and_its_form_fitted_then_the_form_it_had_before() -> None:
    """An id journaled before lows57 in a form within the bound must still equal its repeat after the upgrade."""
    for raw in (b"E\xff1", b"\xff" * 8, b"ORDER-\xfe\xff-42"):
        before = _form(raw, raw[:64].decode(errors="backslashreplace"))
        assert len(before) <= EVENT_MAX_ID and id_text(raw) == before


def test_strategy_gets_a_300_byte_exec_id_in_the_form_of_its_bytes_and_its_copy_is_not_applied(tmp_path: Path) -> None:
    fix = Rig("broker-fix44").up()
    engine, rig = engine_over(fix.adapter, fix.clock, tmp_path / "journal", max_qty=1_000)
    strat = rig.connect("S1")
    rig.new_order(strat, "A", qty=100, price=230_000, venue="FIXV")
    (new_order,) = fix.wire.take()
    ref = new_order.get(b"11")
    fix.deliver(engine, fix.peer.execution_report(ref, b"0"))
    raw = b"\xff" * 300
    for cum, extra in ((40, []), (40, [(b"97", b"Y")]), (50, [])):  # the fill, its copy, its id again (CumQty up)
        report = fix.peer.execution_report(
            ref, b"F", ord_status=b"1", leaves=100 - cum, cum=cum, last_qty=40, last_px=b"23", exec_id=raw, extra=extra
        )
        fix.deliver(engine, report)
    got = [m for m in strat.received() if isinstance(m, Executed)]
    assert [(m.qty, m.cum_qty) for m in got] == [(40, 40)]  # the same ExecID is not applied again
    digest = hashlib.sha256(raw).hexdigest()
    # before: '\xff…(16 times)…[352 characters, sha256 b122…]' (the escaped text's length and digest)
    assert got[0].exec_id.endswith(f"…[300 bytes, not UTF-8, sha256 {digest}]"), got[0].exec_id
    assert engine.strategies["S1"].orders["A"].exec_id == got[0].exec_id  # the journal's and recovery's id too


def test_fill_for_an_unknown_cl_ord_id_not_utf8_then_the_error_names_it_in_the_form_of_its_bytes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """rev58fix F2: the ClOrdID was printed with U+FFFD (``'Q��1'``), so two different unknown ids read the same in
    the line that tells ops to reconcile; the ExecID in the same line already had the form of its bytes."""
    rig = Rig().up()
    with caplog.at_level(logging.WARNING, logger="venues.fix.adapter"):
        for cl_ord_id, exec_id in ((b"Q\xff\xfe1", b"E1"), (b"Q\xfe\xff1", b"E2")):
            rig.feed(
                rig.peer.execution_report(
                    cl_ord_id, b"2", ord_status=b"2", leaves=0, cum=100, last_qty=100, last_px=b"150.2", exec_id=exec_id
                )
            )
    lines = [r.getMessage() for r in caplog.records if "for unknown ClOrdID" in r.getMessage()]
    assert len(lines) == 2, lines
    for line, raw in zip(lines, (b"Q\xff\xfe1", b"Q\xfe\xff1"), strict=True):
        assert repr(id_text(raw)) in line, line  # the old code: 'Q\ufffd\ufffd1' for both
        assert "\ufffd" not in line

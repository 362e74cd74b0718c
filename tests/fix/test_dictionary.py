"""Everything we encode is valid for quickfix's FIX42/FIX44 data dictionaries (custom tags declared)."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from model.enums import OrderType
from venues.fix.codec import build_message, resend_copy
from venues.fix.dialect import BeginString, Dialect, load_dialect
from venues.fix.dictionary import FixValidator, dictionary_path, extend_dictionary, quickfix_data_dir
from venues.fix.session import SessionConfig
from venues.fix.session.admin import AdminEncoder
from venues.fix.templates import OrderTemplates

from .helpers import make_order

pytest.importorskip("quickfix")

STAMP = b"20240102-10:00:00.000"
DIALECTS = ["equities-fix42", "broker-fix44"]


@pytest.fixture(scope="module", params=DIALECTS)
def dialect(request: pytest.FixtureRequest) -> Dialect:
    return load_dialect(request.param)


@pytest.fixture(scope="module")
def validator(dialect: Dialect, tmp_path_factory: pytest.TempPathFactory) -> FixValidator:
    return FixValidator.for_dialect(dialect, tmp_path_factory.mktemp("dictionaries"))


def _order_messages(dialect: Dialect) -> list[bytes]:
    templates = OrderTemplates(dialect, dialect.sender_comp_id, dialect.target_comp_id)
    out: list[bytes] = []
    combos = itertools.product(templates.sides, templates.tif, templates.ord_types)
    for n, (side, tif, ord_type) in enumerate(combos, start=1):
        account = "ACC1"
        order = make_order(n, side=side, tif=tif, ord_type=ord_type, account=account)
        if ord_type is OrderType.MARKET:
            order.price = 0
        order.venue_order_id = f"OID{n}" if n % 2 else ""
        ref = b"X%d" % n
        out.append(templates.new_order(n, STAMP, ref, order))
        out.append(templates.replace(n, STAMP, ref, ref + b"-1", order, qty=order.qty * 2, price=1_234_567))
        out.append(templates.cancel(n, STAMP, ref + b"-1", ref + b"-2", order))
        out.append(templates.status_request(n, STAMP, ref + b"-1", order))
    return out


def _admin_messages(dialect: Dialect) -> list[bytes]:
    config = SessionConfig(
        begin_string=dialect.begin_bytes,
        sender_comp_id=dialect.sender_comp_id.encode(),
        target_comp_id=dialect.target_comp_id.encode(),
        username=b"user" if dialect.logon.send_credentials else b"",
        password=b"pw" if dialect.logon.send_credentials else b"",
        logon_fields=tuple((k.encode(), v.encode()) for k, v in dialect.logon.fields.items()),
    )
    admin = AdminEncoder(config)
    return [
        admin.logon(1, STAMP, reset=False),
        admin.logon(1, STAMP, reset=True),
        admin.heartbeat(2, STAMP),
        admin.heartbeat(3, STAMP, b"TEST1"),
        admin.test_request(4, STAMP, b"TEST2"),
        admin.resend_request(5, STAMP, 2, 0),
        admin.gap_fill(6, STAMP, 9),
        admin.sequence_reset(10, STAMP, 20),
        admin.reject(11, STAMP, 7, 0, "garbled field", ref_tag=58, ref_msg_type=b"8"),
        admin.reject(12, STAMP, 8, 5, "value", ref_msg_type=b"4"),
        admin.business_reject(13, STAMP, 9, ref_msg_type=b"B", reason=3, text="unsupported"),
        admin.logout(14, STAMP, "MsgSeqNum too low, expecting 10 but received 3"),
        admin.logout(15, STAMP),
    ]


def test_validator_when_order_messages_of_every_mapping_then_all_valid(
    dialect: Dialect, validator: FixValidator
) -> None:
    messages = _order_messages(dialect)
    assert len(messages) >= 3 * 6
    problems = [(m, validator.check(m)) for m in messages]
    assert [p for p in problems if p[1] is not None] == []


def test_validator_when_admin_messages_then_all_valid(dialect: Dialect, validator: FixValidator) -> None:
    problems = [(m, validator.check(m)) for m in _admin_messages(dialect)]
    assert [p for p in problems if p[1] is not None] == []


def test_validator_when_order_replayed_for_resend_then_still_valid(dialect: Dialect, validator: FixValidator) -> None:
    original = _order_messages(dialect)[0]
    copy, _ = resend_copy(original, dialect.begin_bytes, b"20240102-10:00:09.000")
    assert validator.check(copy) is None


def test_validator_when_checksum_wrong_then_reports_it(validator: FixValidator, dialect: Dialect) -> None:
    raw = _order_messages(dialect)[0]
    bad = raw[:-4] + b"%03d\x01" % ((int(raw[-4:-1]) + 1) % 256)
    problem = validator.check(bad)
    assert problem is not None
    assert "CheckSum" in problem


def test_validator_when_required_tag_missing_then_reports_it(validator: FixValidator, dialect: Dialect) -> None:
    raw = build_message(
        dialect.begin_bytes,
        b"D",
        sender=b"GATEWAY",
        target=b"VENUE",
        seq=2,
        sending_time=STAMP,
        body_fields=[(b"11", b"X1"), (b"55", b"AAPL"), (b"38", b"100"), (b"40", b"2"), (b"44", b"1")],
    )
    problem = validator.check(raw)
    assert problem is not None
    assert "RequiredTagMissing" in problem


def test_validator_when_custom_tag_in_undeclared_message_then_reports_it(tmp_path: Path) -> None:
    dialect = load_dialect("broker-fix44")
    validator = FixValidator.for_dialect(dialect, tmp_path)
    templates = OrderTemplates(dialect, "GATEWAY", "BRKR")
    cancel = templates.cancel(4, STAMP, b"B1", b"B1-4", make_order(1))
    body = cancel[cancel.index(b"35=") : cancel.rindex(b"10=")]
    from venues.fix.codec import finish

    tampered = finish(b"FIX.4.4", body + b"9101=DMA\x01")
    problem = validator.check(tampered)
    assert problem is not None
    assert "9101" in problem


def test_extend_dictionary_when_custom_fields_then_declared_and_placed() -> None:
    dialect = load_dialect("broker-fix44")
    base = (quickfix_data_dir() / "FIX44.xml").read_bytes()
    extended = extend_dictionary(base, dialect.custom_fields)
    assert b'<field number="9102" name="ClientStrategyID" type="STRING"' in extended
    assert extended.count(b'<field name="ClientStrategyID" required="N"') == 3  # D, G and 8


def test_dictionary_path_when_no_custom_fields_then_the_standard_file() -> None:
    dialect = Dialect(name="plain", begin_string=BeginString.FIX42)
    assert dictionary_path(dialect).name == "FIX42.xml"
    assert dictionary_path(dialect).parent == quickfix_data_dir()

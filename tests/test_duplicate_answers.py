"""A NewOrder reusing a cl_ord_id gets one answer text, which names a broken field too (strat60).

rev60strat LOW 3: a version-3 NewOrder with ``req_seq`` 0 or missing and an id already used was answered
``DUPLICATE_CL_ORD_ID`` "cl_ord_id already used", and nothing told the strategy that its ``req_seq`` was wrong or
that the request took no place in the sequence (protocol doc 4.5: the answer's text says so); a strategy sending
such requests reached ``TOO_MANY_ERRORS`` without ever being told why. A valid NewOrder reusing an id had another
text ("cl_ord_id 'X' was already used by this strategy"). The code stays ``DUPLICATE_CL_ORD_ID`` (the original order
is untouched; an ``INVALID_FIELD`` OrderRejected by its id would read as its end, 6.1), with the one text, and for a
request that breaks a field rule that rule after it.
"""

from __future__ import annotations

import msgspec
import pytest

from gateway.protocol.messages import NewOrder, OrderRejected
from model.enums import Side
from model.order import OrderState
from tests.harness import Rig, self_numbered_link

pytestmark = pytest.mark.timeout(30)

USED = "cl_ord_id 'a' was already used by this strategy"
NO_PLACE = "takes no place in the sequence"


def _raw(*fields: object) -> bytes:
    payload = msgspec.msgpack.encode([2, *fields])
    return len(payload).to_bytes(4, "big") + payload


def _new(cl_ord_id: str, *tail: object) -> bytes:
    return _raw(cl_ord_id, "ACC1", "V1", "AAPL", "B", 100, 1_000_000, "0", "2", 0, *tail)


def test_new_order_reusing_an_id_without_a_req_seq_then_duplicate_whose_text_says_it_takes_no_place() -> None:
    rig = Rig()
    link = self_numbered_link(rig, "S1")
    rig.engine.link_data(link, _new("a", 1), rig.clock())
    rig.venue.accept(rig.order("S1", "a").order_id, 1_000_000)
    rig.engine.flush()
    link.received()
    rig.engine.link_data(link, _new("a", 0) + _new("a"), rig.clock())  # req_seq 0, then none at all
    zero, missing = link.received()
    for answer in (zero, missing):
        assert isinstance(answer, OrderRejected) and (answer.cl_ord_id, answer.code) == ("a", "DUPLICATE_CL_ORD_ID")
        assert answer.text.startswith(f"{USED}; the request breaks a field rule too: `req_seq` is missing or 0")
        assert answer.text.endswith(NO_PLACE), answer.text  # before: "cl_ord_id already used"
    assert rig.order("S1", "a").state is OrderState.LIVE  # the original order untouched
    assert rig.engine.strategies["S1"].last_req_seq == 1  # neither took a place: the next number is 2
    rig.engine.link_data(link, _new("a", 2), rig.clock())  # valid, numbered: the same text
    (valid,) = link.received()
    assert isinstance(valid, OrderRejected) and (valid.code, valid.text) == ("DUPLICATE_CL_ORD_ID", USED)
    bad_qty = _raw("a", "ACC1", "V1", "AAPL", "B", -5, 1_000_000, "0", "2", 0, 3)  # numbered, a field broken
    rig.engine.link_data(link, bad_qty, rig.clock())
    (broken,) = link.received()
    assert isinstance(broken, OrderRejected) and broken.code == "DUPLICATE_CL_ORD_ID"
    assert broken.text.startswith(f"{USED}; the request breaks a field rule too: ") and "qty" in broken.text
    assert not broken.text.endswith(NO_PLACE)  # it took its number
    assert rig.engine.strategies["S1"].last_req_seq == 3
    rig.send(link, NewOrder("b", "ACC1", "V1", "AAPL", Side.BUY, 100, 1_000_000, req_seq=4))
    assert rig.order("S1", "b").state is OrderState.PENDING_NEW  # the sequence went on with no gap


def test_new_orders_reusing_an_id_past_the_error_budget_then_duplicate_naming_the_budget_and_the_rule() -> None:
    """rev60merge3 LOW 2: past the error budget, a malformed NewOrder reusing an id got the duplicate's text alone.

    Its answer now names the budget (``TOO_MANY_ERRORS``, 7.2) and then the field rule (or, for a valid one, that it
    was not carried out). The code stays ``DUPLICATE_CL_ORD_ID``: any other refusal by a used id reads as the
    original order's end (6.1; the SDK's handle takes it so), and the original is untouched.
    """
    rig = Rig()
    link = self_numbered_link(rig, "S1")
    rig.engine.link_data(link, _new("a", 1), rig.clock())
    rig.venue.accept(rig.order("S1", "a").order_id, 1_000_000)
    rig.engine.flush()
    link.received()
    budget = link.session.max_errors
    rig.engine.link_data(link, _new("a", 0) * (budget + 5) + _new("a", 2), rig.clock())
    answers = [m for m in link.received() if isinstance(m, OrderRejected)]
    assert [a.code for a in answers] == ["DUPLICATE_CL_ORD_ID"] * (budget + 6)
    rule = f"{USED}; the request breaks a field rule too: `req_seq` is missing or 0"
    assert all(a.text.startswith(rule) and a.text.endswith(NO_PLACE) for a in answers[: budget + 1])
    spent = f"{USED}; read after the error budget ran out (TOO_MANY_ERRORS): "
    for late in answers[budget + 1 : budget + 5]:  # before: the duplicate's text alone
        assert late.text.startswith(f"{spent}`req_seq` is missing or 0"), late.text
        assert late.text.endswith(NO_PLACE)
    assert answers[-1].text == f"{spent}not carried out: the session is closing after too many protocol errors"
    assert rig.order("S1", "a").state is OrderState.LIVE  # the original order untouched

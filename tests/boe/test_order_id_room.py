"""A BOE ClOrdID's room for order ids, and the start-up line when the next ids no longer fit (after a skip)."""

from __future__ import annotations

from pathlib import Path

from gateway.app import order_id_room_problems
from gateway.recovery import ORDER_ID_MARGIN
from model.send_result import Refused
from tests.boe.harness import Link, make_order


def test_max_order_id_when_prefix_given_then_the_last_id_check_order_accepts(tmp_path: Path) -> None:
    for prefix in ("", "GW", "ABCDE", "GWPREFIX"):
        venue = Link(tmp_path / (prefix or "none"), cl_ord_id_prefix=prefix).venue
        room = venue.max_order_id()
        assert room > 0, prefix
        assert venue.check_order(make_order(room)) is None, (prefix, room)
        verdict = venue.check_order(make_order(room + 1))
        assert isinstance(verdict, Refused) and verdict.code == "BOE_ORDER_ID", (prefix, room)


def test_problems_when_ids_skipped_past_a_long_prefix_then_that_venue_named(tmp_path: Path) -> None:
    short = Link(tmp_path / "short", cl_ord_id_prefix="GW").venue
    long = Link(tmp_path / "long", cl_ord_id_prefix="ABCDE").venue
    venues = {"BOE-A": short, "BOE-B": long}
    assert order_id_room_problems(venues, 1_000) == []
    problems = order_id_room_problems(venues, 100 + ORDER_ID_MARGIN)
    assert len(problems) == 1
    assert problems[0].startswith(f"venue BOE-B: order ids from {100 + ORDER_ID_MARGIN} no longer fit")
    assert "cl_ord_id_prefix" in problems[0]

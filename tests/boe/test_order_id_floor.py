"""BOE's order id floor (day55): ``<name>.boe-order-ids.json`` keeps the trading day's ClOrdIDs from being used twice.

Before, BOE had no ``order_id_floor``: a start on a journal without the day's earlier orders (a new one after the
host's midnight while Cboe's day went on, rev55boe s12; one moved away) began again at order id 1 and sent the day's
ClOrdIDs again. The restart against the simulator is tests/e2e/test_trading_day.py; here, the rules of the file.
"""

from __future__ import annotations

import json
from pathlib import Path

from model.send_result import Refused, Sent
from tests.boe.harness import Link, make_order
from venues.boe.state import ORDER_ID_BLOCK, order_ids_path


def _file(link: Link) -> dict[str, object]:
    loaded: dict[str, object] = json.loads(order_ids_path(link.state_dir, link.config.name).read_text())
    return loaded


def test_floor_when_new_orders_went_out_then_reserved_before_and_the_last_at_a_clean_stop(tmp_path: Path) -> None:
    link = Link(tmp_path)
    link.connect()
    link.venue.journal_opened("/j/a.journal", True, False, True)
    assert link.venue.order_id_floor() == 0
    assert isinstance(link.venue.send_new(make_order(7)), Sent)
    first = _file(link)
    assert (first["reserved"], first["last"], first["journal"]) == (7 + ORDER_ID_BLOCK, None, "/j/a.journal")
    assert isinstance(link.venue.send_new(make_order(8)), Sent)
    assert _file(link) == first  # within the block: no write
    link.venue.close()  # a clean stop: the last id sent
    assert _file(link)["last"] == 8
    # the next process, on another (empty) journal: its ids start above 8
    again = Link(tmp_path)
    again.venue.journal_opened("/j/b.journal", True, False, True)
    assert again.venue.order_id_floor() == 8  # the old code: 0 (no floor), ids from 1 again


def test_floor_when_the_stop_was_not_clean_then_reserved_on_another_journal_none_on_the_same(tmp_path: Path) -> None:
    link = Link(tmp_path)
    link.connect()
    link.venue.journal_opened("/j/a.journal", True, False, True)
    assert isinstance(link.venue.send_new(make_order(5)), Sent)  # then kill -9: no close
    other = Link(tmp_path)
    other.venue.journal_opened("/j/b.journal", True, False, True)
    assert other.venue.order_id_floor() == 5 + ORDER_ID_BLOCK  # ids up to there may have gone out
    same = Link(tmp_path)
    same.venue.journal_opened("/j/a.journal", False, False, False)
    assert same.venue.order_id_floor() == 0  # the core skips 4,194,304 past that journal's ids anyway


def test_new_order_when_the_file_cannot_be_written_then_refused_boe_order_id_and_nothing_sent(tmp_path: Path) -> None:
    link = Link(tmp_path)
    link.connect()
    order_ids_path(link.state_dir, link.config.name).mkdir(parents=True)  # a directory in the way: no write
    sent_before = len(link.wire)
    verdict = link.venue.send_new(make_order(3))
    assert isinstance(verdict, Refused) and verdict.code == "BOE_ORDER_ID"
    assert "cannot be recorded" in verdict.text
    link.venue.flush()
    assert len(link.wire) == sent_before

"""BOE's order id floor at every kind of start (rev56diff item 1): no ClOrdID of the trading day goes out twice.

Before, ``order_id_floor`` waived ``<name>.boe-order-ids.json``'s reservation whenever the journal opened had the path
the killed process ran on, trusting the core to skip ``ORDER_ID_MARGIN`` past that journal's ids. The core skips only
after a stop it sees as not clean under ``fsync: interval``/``none``: a journal moved away with its ``.open`` marker
(or lost) and begun empty at the same path on purpose (docs/reliability.md 2.3d) is clean and empty, so the next
start began at order id 1 and sent the day's first ClOrdID again. Here every combination of the previous stop
(clean, ``kill -9``), the fsync policy, what became of the journal and of the reservation file; the start's first
order id is the core's (``first_order_id``, then ``GatewayProcess._order_ids_above_venue_state``), and the New Order
goes to the simulator that took the killed process's (it lists a ClOrdID it had before as a violation). The real
restart is tests/e2e/test_boe_order_ids_restart.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from gateway.recovery import ORDER_ID_MARGIN, first_order_id
from model.fsync import FsyncPolicy
from model.send_result import Sent
from tests.boe.harness import DAY_NS, Link, make_order
from venues.boe.adapter import trading_day
from venues.boe.state import ORDER_ID_BLOCK, order_ids_path, save_order_ids

JOURNAL = "/j/gw-20240501.journal"
OTHER = "/j/gw-20240502.journal"
SENT = (1, 2, 3)
"""The order ids the first process sends New Orders of (its first start of the day: ids from 1)."""


@dataclass(frozen=True)
class Journal:
    """What the core finds at the next start: the journal's path, one past its last order id, the marker's first id
    (``read_open_marker``: None when there is no marker), whether it counts the stop as clean."""

    path: str
    next_id: int
    marker: int | None
    clean: bool


def _journals(clean_stop: bool, fsync: FsyncPolicy) -> dict[str, Journal]:
    """Every journal a start may open after the first process stopped (cleanly or not) under ``fsync``."""
    marker = None if clean_stop else SENT[0]
    found = {
        "kept": Journal(JOURNAL, SENT[-1] + 1, marker, clean_stop),
        # moved away with its marker (or the directory lost), the day begun empty at the same path on purpose
        "empty, same path": Journal(JOURNAL, 1, None, True),
        "replaced by an older copy": Journal(JOURNAL, SENT[0] + 1, None, True),
        "moved, another path": Journal(OTHER, 1, None, True),
    }
    if not clean_stop:
        found["moved away, its marker left"] = Journal(JOURNAL, 1, SENT[0], False)
        found["replaced, not closed cleanly"] = Journal(JOURNAL, SENT[0] + 1, None, False)
        if fsync is not FsyncPolicy.BATCH:  # a power failure cut the tail (batch: nothing left before it was durable)
            found["its tail cut by a power failure"] = Journal(JOURNAL, SENT[0] + 1, marker, False)
    return found


CASES = [
    pytest.param(clean_stop, fsync, name, id=f"{'clean' if clean_stop else 'kill-9'}-{fsync.value}-{name}")
    for clean_stop in (True, False)
    for fsync in FsyncPolicy
    for name in _journals(clean_stop, fsync)
]


def _first_process(tmp_path: Path, clean_stop: bool) -> tuple[Link, set[str]]:
    """Run the day's first process on ``JOURNAL``: New Orders of ``SENT``, then a clean stop or a ``kill -9``."""
    first = Link(tmp_path)
    first.connect()
    first.venue.journal_opened(JOURNAL, True, False, True)
    for order_id in SENT:
        assert isinstance(first.venue.send_new(make_order(order_id)), Sent)
        first.pump()
    sent = {first.venue.cl_ord_id(order_id) for order_id in SENT}
    if clean_stop:
        first.venue.close()
    first.disconnect()  # a kill -9 writes nothing more: the file says reserved, no last
    return first, sent


def _start(first: Link, tmp_path: Path, journal: Journal, fsync: FsyncPolicy) -> tuple[Link, int]:
    """Start the next process as ``gateway run`` does; return it and its first order id."""
    second = Link(tmp_path, core=first.core, clock=first.clock)
    second.venue.journal_opened(journal.path, journal.clean, fsync is FsyncPolicy.BATCH, journal.next_id == 1)
    floor = second.venue.order_id_floor()
    start = first_order_id(journal.next_id, journal.marker, journal.clean, fsync, floor)
    return second, max(start, floor + 1)  # GatewayProcess._order_ids_above_venue_state


@pytest.mark.parametrize(("clean_stop", "fsync", "name"), CASES)
def test_start_when_the_reservation_file_is_kept_then_no_clordid_of_the_day_again_and_no_margin_on_it(
    tmp_path: Path, clean_stop: bool, fsync: FsyncPolicy, name: str
) -> None:
    first, sent = _first_process(tmp_path, clean_stop)
    journal = _journals(clean_stop, fsync)[name]
    second, start = _start(first, tmp_path, journal, fsync)
    used = SENT[-1] if clean_stop else SENT[0] + ORDER_ID_BLOCK  # the file: last sent, or the block reserved
    assert start > used  # the old code, the same path after a kill -9: 1, 2 (order id 1 or 2 again)
    # exactly the journal's rule or just above the file's, whichever is higher: the margin is not added to the file
    assert start == max(first_order_id(journal.next_id, journal.marker, journal.clean, fsync), used + 1)
    second.connect()
    assert isinstance(second.venue.send_new(make_order(start)), Sent)
    second.pump()
    assert second.venue.cl_ord_id(start) not in sent
    assert first.core.exchange.violations == []  # the old code: ['#... New Order <the day's first ClOrdID> again ...']


@pytest.mark.parametrize(("clean_stop", "fsync", "name"), CASES)
def test_start_when_the_reservation_file_is_lost_then_the_journal_alone_counts(
    tmp_path: Path, clean_stop: bool, fsync: FsyncPolicy, name: str
) -> None:
    first, _ = _first_process(tmp_path, clean_stop)
    order_ids_path(tmp_path, first.config.name).unlink()
    journal = _journals(clean_stop, fsync)[name]
    second, start = _start(first, tmp_path, journal, fsync)
    assert second.venue.order_id_floor() == 0  # nothing on file to go by (docs/venues/boe.md, "ClOrdIDs")
    assert start == first_order_id(journal.next_id, journal.marker, journal.clean, fsync)


@pytest.mark.parametrize("clean", [True, False])
@pytest.mark.parametrize("fsync", list(FsyncPolicy))
def test_start_when_the_reservation_file_is_another_days_then_it_counts_for_nothing(
    tmp_path: Path, clean: bool, fsync: FsyncPolicy
) -> None:
    link = Link(tmp_path)
    today = trading_day(link.config.timezone, lambda: DAY_NS)
    assert today == "2024-05-01"
    save_order_ids(tmp_path, link.config.name, "2024-04-30", 9 * ORDER_ID_MARGIN, journal=JOURNAL)  # yesterday's
    again = Link(tmp_path)
    again.venue.journal_opened(JOURNAL, clean, fsync is FsyncPolicy.BATCH, False)
    assert again.venue.order_id_floor() == 0  # the day code keeps yesterday's ClOrdIDs apart


@pytest.mark.parametrize("clean", [True, False])
@pytest.mark.parametrize("fsync", list(FsyncPolicy))
def test_start_when_the_reservation_is_far_above_the_journal_then_new_ids_start_right_above_it(
    tmp_path: Path, clean: bool, fsync: FsyncPolicy
) -> None:
    link = Link(tmp_path)
    reserved = 3 * ORDER_ID_MARGIN + 17  # a long day, then the journal lost (its marker kept when not clean)
    save_order_ids(tmp_path, link.config.name, "2024-05-01", reserved, journal=JOURNAL)
    again = Link(tmp_path)
    again.venue.journal_opened(JOURNAL, clean, fsync is FsyncPolicy.BATCH, True)
    floor = again.venue.order_id_floor()
    start = max(first_order_id(1, None if clean else 1, clean, fsync, floor), floor + 1)
    skips = not clean and fsync is not FsyncPolicy.BATCH
    assert start == reserved + 1  # not reserved + 1 + the margin: the margin counts from the journal's ids
    assert floor == (reserved - ORDER_ID_MARGIN if skips else reserved)

"""Recovery's exception for main's repeated drops is no wider than those journals (rev60merge7 LOW).

ended60 lets the start read a JCancelRefused that finds nothing held when it repeats the drop just read (main wrote
one at every poll after an illegal drop). Its first form also let a Replace sent in between keep the "just dropped"
mark: a journal no version writes (a drop, a new Replace, a drop with nothing held) was accepted, with a start WARNING
blaming an older version. Any record of the order other than the repeat now ends the mark: such a journal is refused
as main refuses it. Built with the rig (a real engine and file journal) plus appended records, read by ``recover``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from gateway.journal import JournalCorruptError, JournalScan
from gateway.journal_records import JCancelQueued, JCancelRefused, JournalRecord, JSentCancel, JSentReplace
from gateway.recovery import Recovered, recover
from tests.harness import Rig, journal_of_kind

Tail = Callable[[int], list[JournalRecord]]

IMPOSSIBLE: dict[str, Tail] = {
    "drop, new Replace, drop": lambda o: [
        JCancelQueued(o, False),
        JCancelRefused(o),
        JSentReplace(o, 150, 1_000_100, "9"),
        JCancelRefused(o),
    ],
    "drop, Cancel sent, drop": lambda o: [
        JCancelQueued(o, False),
        JCancelRefused(o),
        JSentCancel(o, "", False),
        JCancelRefused(o),
    ],
    "drop with nothing ever held": lambda o: [JCancelRefused(o)],
}


def _journal_with(path: Path, tail: Tail) -> None:
    rig = Rig(journal=journal_of_kind("file", path))
    link = rig.connect("S1")
    rig.new_order(link, "a1")
    order = rig.order("S1", "a1")
    rig.venue.accept(order.order_id, 1_000_000)
    rig.engine.flush()
    for record in tail(order.order_id):
        rig.engine.journal.append(record)
    rig.engine.flush()
    rig.engine.journal.close()


def _recover(path: Path) -> Recovered:
    journal = journal_of_kind("file", path)
    scan = JournalScan()
    try:
        return recover(journal.records(scan), scan)
    finally:
        journal.close()


@pytest.mark.parametrize("case", list(IMPOSSIBLE))
def test_start_when_a_drop_finds_nothing_held_and_repeats_no_drop_then_journal_refused(
    tmp_path: Path, case: str
) -> None:
    _journal_with(tmp_path / "journal", IMPOSSIBLE[case])
    with pytest.raises(JournalCorruptError):
        _recover(tmp_path / "journal")  # ended60: "drop, new Replace, drop" accepted (repeated_drops {1: 1})

"""Find, in the journal, which order a venue reference that does not name it (an OUCH UserRefNum) was sent for.

For a fill the venue reports under a reference its adapter no longer maps: the order ended and was
released from memory (``memory.terminal_orders_kept``), or it ended before a restart (only open orders'
references are restored). FIX and BOE ClOrdIDs carry the order id; an OUCH UserRefNum does not, so the
engine looks it up here (``Engine._order_of_ref``), only when such a fill arrives: nothing is kept or
written per order.

A venue's numeric references increase with the journal within one of its sessions (the UserRefNum store
never goes back in a session day), so a binary search over the replay index (``JournalMarks``: every
1,024th order id -> a journal position) finds where to start: at a mark, the first new order sent to the
venue names a reference below the one looked for, so that one was sent after the mark. The search reads a
few records at each probe (at most ``PROBE_RECORDS``), then the scan reads from the start found until it
passes a new order with a higher reference (or the journal's end). A record of another session of the venue
(a ``JVenueEpoch`` naming another session id, whose numbers started again at 1) never answers.

The engine keeps two bounds per venue session so that a number the journal cannot hold is answered without
reading: the highest number up to a position (``RefHigh``) and the lowest number (``Engine.ref_lows``: numbers
increase with the journal, so the first one the session journaled is its lowest and stays so).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Sequence
from typing import Final

from gateway.journal import JournalReader
from gateway.journal_records import JOrderSent, JRequest, JSentNew, JSentReplace, JVenueEpoch

PROBE_RECORDS: Final = 4096
"""Records a probe of the binary search reads at most looking for a new order of the venue."""
PROBE_STEP: Final = 64
"""Records a probe reads per call of the reader (the venue's first new order is usually within a few)."""
SCAN_STEP: Final = 512
"""Records the scan reads per call of the reader."""


def note_session(sessions: dict[str, tuple[str, int]], venue: str, epoch: str, position: int) -> None:
    """Note that ``venue``'s numbering is ``epoch`` from the record at ``position``: a new session starts there."""
    session = epoch.partition("#")[0]
    known = sessions.get(venue)
    if known is None or known[0] != session:
        sessions[venue] = (session, position)


def session_floor(sessions: dict[str, tuple[str, int]], venue: str, session: str) -> int | None:
    """Return where ``venue``'s session ``session`` began in the journal (0: not known); None if it is not the latest.

    A reference of an earlier session names nothing the venue can still fill under it: it is not searched.
    """
    known = sessions.get(venue)
    if known is None:
        return 0
    return known[1] if known[0] == session else None


def _first_ref(reader: JournalReader, venue: str) -> tuple[int, int]:
    """Return the reference of the first new order sent to ``venue`` from the reader's position (-1: none near)."""
    records = 0
    try:
        while records < PROBE_RECORDS and (batch := reader.read(min(PROBE_STEP, PROBE_RECORDS - records))):
            records += len(batch)
            for _position, record in batch:
                rec = record.record if type(record) is JRequest else record
                if type(rec) is JOrderSent and rec.venue == venue:
                    ref = rec.venue_ref
                    return (int(ref) if ref.isdigit() else -1), records
    finally:
        reader.close()
    return -1, records


def ref_scan_start(
    open_reader: Callable[[int], JournalReader], positions: Sequence[int], venue: str, ref: int, floor: int = 0
) -> tuple[int, int]:
    """Return a journal position before the record that sent ``ref`` to ``venue``, and the records read for it.

    ``positions`` are the replay index's (increasing); ``floor`` is where the venue's current session began
    (``note_session``; 0: the journal's start): only marks from there are probed, the numbers increasing
    over them. A probe that finds no new order of the venue near its mark moves the search back (an
    earlier start costs reading, never an answer).
    """
    lo, hi = bisect_left(positions, floor), len(positions)
    start = floor
    records = 0
    while lo < hi:
        mid = (lo + hi) // 2
        first, read = _first_ref(open_reader(positions[mid]), venue)
        records += read
        if 0 <= first < ref:
            start = positions[mid]
            lo = mid + 1
        else:
            hi = mid
    return start, records


class ScanEnd:
    """What a ``find_ref`` learnt on the way: where the data ended, the highest and the lowest number read.

    ``end`` (-1: the scan stopped before the end, or left the session) is the file offset after the last record
    read; ``high`` the highest numeric reference of the venue's session the scan read (-1: none). With the
    numbers increasing in the journal, every number of the session journaled before ``end`` is at most
    ``max(high, ref)``: a later search for a higher number reads from ``end`` only (``RefHigh``).

    ``low`` (-1: not known) is the lowest number of the session the scan read once it read one that is surely the
    venue's (a new order sent to it, or a Replace of an order known to be its), whether it stopped there or read
    on; a record it could not tell was the venue's counts too (a lower ``low`` answers less, never wrongly). For a
    scan that started where the session began, every number of the session is at least ``low``
    (``Engine.ref_lows``: a lower number is not searched for).
    """

    __slots__ = ("end", "high", "low")

    def __init__(self) -> None:
        self.end = -1
        self.high = -1
        self.low = -1


class RefHigh:
    """The highest number a venue's session has in the journal up to a position (``Engine.ref_highs``).

    ``floor``: where the session began (``session_floor``; the note holds while it is the same); every numeric
    reference of the venue journaled from ``floor`` to ``end`` is at most ``high``. Noted by recovery (its
    read of the whole journal at start) and by each search that reads to the journal's end, never per order:
    a number above ``high`` (a standby's, a venue's out of frame) is searched for from ``end`` on only, the
    records journaled since (ouchlookup56: before, each such number read the whole session, 100-200 ms).
    """

    __slots__ = ("end", "floor", "high")

    def __init__(self, floor: int, high: int, end: int) -> None:
        self.floor = floor
        self.high = high
        self.end = end


def ref_number(venue_ref: str) -> int:
    """Return the number a journaled venue reference names, -1 if it is not one."""
    return int(venue_ref) if venue_ref.isdigit() else -1


def find_ref(
    reader: JournalReader,
    venue: str,
    ref: int,
    session: str,
    venue_of: Callable[[int], str | None],
    scan_end: ScanEnd | None = None,
) -> tuple[int, int]:
    """Return the order sent to ``venue`` under ``ref`` in its session ``session`` (its id, 0: none), records read.

    Reads from the reader's position (``ref_scan_start``) until a new order of the venue in that session
    names a higher reference, or to the end. A Replace (or a new order sent after its creation) names its
    order by id only: it answers if ``venue_of`` (the engine's orders) or a creation read here says the
    order is the venue's, or if nothing says otherwise (the engine checks the venue of what it rebuilds).
    With ``scan_end``: a scan that reads to the end, still in the session, says there where the data ended
    and the highest number it read; any scan says the lowest number it read (``ScanEnd.low``).
    """
    text = str(ref)
    current = True
    """The records read are of the venue's session ``session`` (until an epoch record of another says not)."""
    created: dict[int, str] = {}
    found = 0
    records = 0
    high = -1
    low = -1
    """The lowest number of the session read (-1: none), of the venue's or of a record that may be its."""
    sure = False
    """A number read is surely the venue's (``low`` is then a bound: ``ScanEnd.low``)."""
    try:
        while batch := reader.read(SCAN_STEP):
            records += len(batch)
            for _position, record in batch:
                rec = record.record if type(record) is JRequest else record
                kind = type(rec)
                if kind is JOrderSent:
                    assert isinstance(rec, JOrderSent)
                    created[rec.order_id] = rec.venue
                    if rec.venue != venue or not current:
                        continue
                    number = ref_number(rec.venue_ref)
                    if number >= 0:
                        sure = True
                        if low < 0 or number < low:
                            low = number
                    if rec.venue_ref == text:
                        found = rec.order_id
                        high = max(high, ref)
                    elif number > ref:
                        if scan_end is not None:
                            scan_end.low = low
                        return found, records
                    else:
                        high = max(high, number)
                elif kind is JSentReplace or kind is JSentNew:
                    assert isinstance(rec, (JSentReplace, JSentNew))
                    if current:
                        owner = created.get(rec.order_id) or venue_of(rec.order_id)
                        if owner is None or owner == venue:
                            number = ref_number(rec.venue_ref)
                            if rec.venue_ref == text:
                                found = rec.order_id
                            high = max(high, number)
                            if number >= 0:
                                sure = sure or owner is not None
                                if low < 0 or number < low:
                                    low = number
                elif kind is JVenueEpoch:
                    assert isinstance(rec, JVenueEpoch)
                    if rec.venue == venue:
                        current = rec.epoch.partition("#")[0] == session
                        if not current:
                            found = 0
        if scan_end is not None:
            if sure:
                scan_end.low = low
            if current:
                scan_end.end = reader.position
                scan_end.high = high
    finally:
        reader.close()
    return found, records

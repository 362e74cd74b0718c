"""OUCH orders answered in doubt and canceled at the venue, on disk across restarts (``<name>.ouch-doubts.json``).

An Enter with no Accepted or Rejected within ``answer_timeout_ms``, or left unanswered after a re-login though the
venue's NextUserRefNum shows it took its UserRefNum, is answered in doubt (taken as accepted) and canceled at the
venue by its UserRefNum; the order ends ``OUCH_OUTCOME_UNKNOWN`` if the venue says nothing of it a second
``answer_timeout_ms`` after that Cancel (``OuchVenue._doubt_cancels``). The journal holds the order as accepted, not
that it is in doubt: without this file a restarted process took it for an acknowledged order, sent no Cancel, and a
strategy's Cancel of it (ignored by a venue that never had it) stayed unanswered for ever (rev52ouch HIGH 3). The
UserRefNums are on file, fsynced, before the order's answer goes to the core (so before it is journaled); the next
process, logged into the same session of the same trading day, restores them with the orders (``restore``), sends
their Cancel after its first login and ends those the venue still says nothing about (doubt53). Each entry keeps
the Enter's bytes, so the venue's late Accepted is still compared with the order's own terms. Another day's or
session's numbers mean nothing (OUCH orders end with the session): they are dropped.

A Replace answered ``CancelRejected`` ``OUCH_IN_DOUBT`` (no answer within ``answer_timeout_ms``, a replay gap, an
unreadable Replaced) is kept here too, as its new UserRefNum -> (order id, the UserRefNum it replaced): the journal
holds the order under its old number only (the core's replace was answered refused), so without it a restarted
process knew the order by that number alone and a Cancel named only it, which the venue ignores once the Replace
took effect: the Cancel was never answered (fixouch54, rev54ouch t11). The next process restores the new number as a
candidate (a Cancel names both). So is a Replace not sent again after a login because its order was in doubt
already (ouch56). ``replace_terms`` keeps what each such Replace asked for (its total Quantity and Price, read off the
packet sent; ouchdoubt57): a message of the venue naming its number proves it took effect, and the order then takes
those terms, after a restart too (before, the fill or Canceled was applied against the old size and price).
Entries of orders that ended, or whose doubt settled, leave the file at the adapter's next sweep
(``OuchVenue._prune_doubts``), not one write per order.

``unreadable`` names the Enters whose answer arrived but could not be read (ouch56): one the venue then says nothing
of ends with its own text (most likely rejected, not never received), after a restart too. A file written before
ouch56 has no such list (read as none).

``foreign`` names the numbers of Replaces answered in doubt that proved not to be their order's (the venue never
applied the Replace: another host's Accepted names the number, or the venue never took it; ouchdoubt58c): a message
naming one is never this gateway's, after a restart too (before, the journal's Replace record gave the number back
to the order and the gateway canceled the other host's order by itself). ``replace_only`` names the numbers of
Replaces left unanswered when their order ended (in doubt, or in flight): an Accepted naming one is another host's
Enter (a Replace is never answered Accepted), never the order's live at the venue. Both stay for the session.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple

import msgspec

from venues.atomic_file import write_file_atomically

log = logging.getLogger(__name__)


class _Doubts(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):  # no empty lists: older readers
    day: str
    session: str
    orders: dict[str, tuple[int, str]]
    """UserRefNum of the Enter -> (order id, the Enter packet in hex; "" if not kept)."""
    replaces: dict[str, tuple[int, int]] = {}
    """New UserRefNum of a Replace answered in doubt -> (order id, the UserRefNum it replaced) (fixouch54)."""
    replace_terms: dict[str, tuple[int, int]] = {}
    """New UserRefNum of ``replaces`` -> (the Replace's total Quantity, its Price) (ouchdoubt57). A file written before
    has none: such a Replace's number still settles the doubt, its terms unknown (the old ones kept, logged)."""
    unreadable: list[int] = []
    """The UserRefNums of ``orders`` whose Enter's answer arrived but could not be read (ouch56): the venue had the
    Enter, so after a restart too its silence after the Cancel most likely means it rejected it (that order's own
    ``OUCH_OUTCOME_UNKNOWN`` text). A file written before ouch56 has none."""
    foreign: list[int] = []
    """Numbers of Replaces in doubt that are not their order's (ouchdoubt58c): a message naming one is not ours."""
    replace_only: list[int] = []
    """Numbers of Replaces left unanswered when their order ended (ouchdoubt58c): an Accepted naming one is not ours."""
    replayed: list[int] = []
    """Order ids whose Enter was unanswered in the journal at a start (ouchpf61): its number is not this host's own."""


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(_Doubts)


def doubts_path(state_dir: str | Path, name: str) -> Path:
    """Return the file of venue ``name``'s orders answered in doubt."""
    return Path(state_dir) / f"{name}.ouch-doubts.json"


def load_doubts(state_dir: str | Path, name: str, day: str, session: str) -> dict[int, tuple[int, bytes]]:
    """Return the orders answered in doubt in ``session`` on ``day`` (UserRefNum -> (order id, Enter packet)).

    An unreadable or corrupt file is logged at ERROR and read as empty (those orders get the re-login rules).
    """
    return read_doubts(state_dir, name, day, session)[0]


def read_doubts(
    state_dir: str | Path, name: str, day: str, session: str
) -> tuple[dict[int, tuple[int, bytes]], dict[int, tuple[int, int]]]:
    """Return the Enters (as ``load_doubts``) and the Replaces answered in doubt in ``session`` on ``day``.

    The Replaces: new UserRefNum -> (order id, the UserRefNum it replaced). An unreadable or corrupt file is logged
    at ERROR and read as empty.
    """
    enters, replaces, _unreadable = read_doubt_entries(state_dir, name, day, session)
    return enters, replaces


class DoubtFile(NamedTuple):
    """What ``read_doubt_file`` found for the session (empty when the file is missing, unreadable or another's)."""

    enters: dict[int, tuple[int, bytes]]
    """UserRefNum of an Enter in doubt -> (order id, the Enter packet)."""
    replaces: dict[int, tuple[int, int]]
    """New UserRefNum of a Replace in doubt -> (order id, the UserRefNum it replaced)."""
    unreadable: set[int]
    """The Enters whose answer could not be read (ouch56)."""
    replace_terms: dict[int, tuple[int, int]]
    """New UserRefNum of a Replace of ``replaces`` -> (its total Quantity, its Price) (ouchdoubt57)."""
    foreign: frozenset[int] = frozenset()
    """Numbers of Replaces in doubt that proved not to be their order's (ouchdoubt58c)."""
    replace_only: frozenset[int] = frozenset()
    """Numbers of Replaces left unanswered when their order ended (ouchdoubt58c)."""
    replayed: frozenset[int] = frozenset()
    """Order ids whose Enter was unanswered in the journal at a start (ouchpf61)."""


def read_doubt_entries(
    state_dir: str | Path, name: str, day: str, session: str
) -> tuple[dict[int, tuple[int, bytes]], dict[int, tuple[int, int]], set[int]]:
    """Return the Enters and Replaces (as ``read_doubts``) and the Enters whose answer could not be read (ouch56).

    Those are UserRefNums of the Enters returned. An unreadable or corrupt file is logged at ERROR and read as empty.
    """
    found = read_doubt_file(state_dir, name, day, session)
    return found.enters, found.replaces, found.unreadable


def read_doubt_file(state_dir: str | Path, name: str, day: str, session: str) -> DoubtFile:
    """Return everything on file for ``session`` on ``day`` (``read_doubt_entries`` and the Replaces' terms).

    An unreadable or corrupt file is logged at ERROR and read as empty.
    """
    nothing = DoubtFile({}, {}, set(), {})
    path = doubts_path(state_dir, name)
    try:
        doubts = _decoder.decode(path.read_bytes())
    except FileNotFoundError:
        return nothing
    except (OSError, msgspec.DecodeError, msgspec.ValidationError) as exc:
        log.error(
            "cannot read the orders answered in doubt from %s (%s): an order answered in doubt before the restart "
            "is taken as acknowledged (no Cancel is sent for it, it is never ended OUCH_OUTCOME_UNKNOWN); check "
            "the account's open orders with the venue desk",
            path,
            exc,
        )
        return nothing
    if doubts.day != day or doubts.session != session or not session:
        return nothing
    found: dict[int, tuple[int, bytes]] = {}
    for urn, (order_id, enter) in doubts.orders.items():
        if not urn.isdigit() or int(urn) <= 0:
            continue
        try:
            packet = bytes.fromhex(enter)
        except ValueError:
            packet = b""
        found[int(urn)] = (order_id, packet)
    replaces: dict[int, tuple[int, int]] = {}
    for urn, (order_id, orig) in doubts.replaces.items():
        if urn.isdigit() and 0 < orig < int(urn):
            replaces[int(urn)] = (order_id, orig)
    terms: dict[int, tuple[int, int]] = {}
    for urn, (quantity, price) in doubts.replace_terms.items():
        if urn.isdigit() and int(urn) in replaces and quantity > 0:
            terms[int(urn)] = (quantity, price)
    return DoubtFile(
        found,
        replaces,
        {urn for urn in doubts.unreadable if urn in found},
        terms,
        frozenset(urn for urn in doubts.foreign if urn > 0),
        frozenset(urn for urn in doubts.replace_only if urn > 0),
        frozenset(order_id for order_id in doubts.replayed if order_id > 0),
    )


def save_doubts(
    state_dir: str | Path,
    name: str,
    day: str,
    session: str,
    doubts: dict[int, tuple[int, bytes]],
    replaces: dict[int, tuple[int, int]] | None = None,
    unreadable: Iterable[int] = (),
    replace_terms: dict[int, tuple[int, int]] | None = None,
    foreign: Iterable[int] = (),
    replace_only: Iterable[int] = (),
    replayed: Iterable[int] = (),
) -> None:
    """Write the orders answered in doubt in ``session`` on ``day`` (atomically, fsynced); OSError if it cannot.

    ``replaces``: the Replaces answered in doubt (new UserRefNum -> (order id, the UserRefNum it replaced)).
    ``unreadable``: the UserRefNums of ``doubts`` whose answer could not be read (ouch56).
    ``replace_terms``: the (total Quantity, Price) of Replaces of ``replaces`` (ouchdoubt57).
    ``foreign``, ``replace_only``: numbers of Replaces not their order's, or unanswered at its end (ouchdoubt58c).
    ``replayed``: order ids whose Enter was unanswered in the journal at a start (ouchpf61).
    """
    path = doubts_path(state_dir, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    entries = {str(urn): (order_id, enter.hex()) for urn, (order_id, enter) in doubts.items()}
    kept = {str(urn): entry for urn, entry in (replaces or {}).items()}
    marked = sorted(urn for urn in unreadable if urn in doubts)
    terms = {str(urn): entry for urn, entry in (replace_terms or {}).items() if urn in (replaces or {})}
    doubts_file = _Doubts(
        day, session, entries, kept, terms, marked, sorted(foreign), sorted(replace_only), sorted(replayed)
    )
    write_file_atomically(path, _encoder.encode(doubts_file))

"""The Cancels an OUCH venue owes the exchange, kept on disk across restarts (``<name>.ouch-owed-cancels.json``).

An order that ended here which the venue showed live (a mismatched Order Accepted, an Accepted, Replaced or
Modified after the order ended: ``OuchVenue._late_cancels``) is canceled at the venue at once and again after
each login until the venue answers. The UserRefNum is on file, fsynced, before the event of the message that
showed it goes to the core (so before it is journaled) and before the Cancel goes out; it leaves the file once
the venue answers. A crash that loses the Cancel leaves the number here: the next process, logged into the same
session of the same trading day, cancels it again after its replay. Another day's or session's numbers mean
nothing (OUCH orders end with the session): they are dropped.
"""

from __future__ import annotations

import logging
from pathlib import Path

import msgspec

from venues.atomic_file import write_file_atomically

log = logging.getLogger(__name__)


class _Owed(msgspec.Struct, forbid_unknown_fields=True):
    day: str
    session: str
    cancels: dict[str, list[int]]
    """UserRefNum -> [order id, shares the venue showed open (-1: not said)]."""


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(_Owed)


def owed_cancels_path(state_dir: str | Path, name: str) -> Path:
    """Return the file of the Cancels venue ``name`` owes the exchange."""
    return Path(state_dir) / f"{name}.ouch-owed-cancels.json"


def load_owed_cancels(state_dir: str | Path, name: str, day: str, session: str) -> dict[int, list[int]]:
    """Return the Cancels owed in ``session`` on ``day`` (UserRefNum -> [order id, open shares]); none if unsure.

    An unreadable or corrupt file is logged at ERROR and read as empty (the venue's orders must be checked).
    """
    path = owed_cancels_path(state_dir, name)
    try:
        owed = _decoder.decode(path.read_bytes())
    except FileNotFoundError:
        return {}
    except (OSError, msgspec.DecodeError, msgspec.ValidationError) as exc:
        log.error(
            "cannot read the Cancels owed to the venue from %s (%s): orders the venue may still work that ended "
            "here are unknown; check the account's open orders with the venue desk",
            path,
            exc,
        )
        return {}
    if owed.day != day or owed.session != session or not session:
        return {}
    return {
        int(urn): [entry[0], entry[1]]
        for urn, entry in owed.cancels.items()
        if urn.isdigit() and int(urn) > 0 and len(entry) == 2
    }


def save_owed_cancels(state_dir: str | Path, name: str, day: str, session: str, cancels: dict[int, list[int]]) -> None:
    """Write the Cancels owed in ``session`` on ``day`` (atomically, fsynced); OSError if it cannot."""
    path = owed_cancels_path(state_dir, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    entries = {str(urn): [entry[0], entry[1]] for urn, entry in cancels.items()}
    write_file_atomically(path, _encoder.encode(_Owed(day, session, entries)))

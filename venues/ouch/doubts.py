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
"""

from __future__ import annotations

import logging
from pathlib import Path

import msgspec

from venues.atomic_file import write_file_atomically

log = logging.getLogger(__name__)


class _Doubts(msgspec.Struct, forbid_unknown_fields=True):
    day: str
    session: str
    orders: dict[str, tuple[int, str]]
    """UserRefNum of the Enter -> (order id, the Enter packet in hex; "" if not kept)."""


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(_Doubts)


def doubts_path(state_dir: str | Path, name: str) -> Path:
    """Return the file of venue ``name``'s orders answered in doubt."""
    return Path(state_dir) / f"{name}.ouch-doubts.json"


def load_doubts(state_dir: str | Path, name: str, day: str, session: str) -> dict[int, tuple[int, bytes]]:
    """Return the orders answered in doubt in ``session`` on ``day`` (UserRefNum -> (order id, Enter packet)).

    An unreadable or corrupt file is logged at ERROR and read as empty (those orders get the re-login rules).
    """
    path = doubts_path(state_dir, name)
    try:
        doubts = _decoder.decode(path.read_bytes())
    except FileNotFoundError:
        return {}
    except (OSError, msgspec.DecodeError, msgspec.ValidationError) as exc:
        log.error(
            "cannot read the orders answered in doubt from %s (%s): an order answered in doubt before the restart "
            "is taken as acknowledged (no Cancel is sent for it, it is never ended OUCH_OUTCOME_UNKNOWN); check "
            "the account's open orders with the venue desk",
            path,
            exc,
        )
        return {}
    if doubts.day != day or doubts.session != session or not session:
        return {}
    found: dict[int, tuple[int, bytes]] = {}
    for urn, (order_id, enter) in doubts.orders.items():
        if not urn.isdigit() or int(urn) <= 0:
            continue
        try:
            packet = bytes.fromhex(enter)
        except ValueError:
            packet = b""
        found[int(urn)] = (order_id, packet)
    return found


def save_doubts(state_dir: str | Path, name: str, day: str, session: str, doubts: dict[int, tuple[int, bytes]]) -> None:
    """Write the orders answered in doubt in ``session`` on ``day`` (atomically, fsynced); OSError if it cannot."""
    path = doubts_path(state_dir, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    entries = {str(urn): (order_id, enter.hex()) for urn, (order_id, enter) in doubts.items()}
    write_file_atomically(path, _encoder.encode(_Doubts(day, session, entries)))

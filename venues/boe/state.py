"""What a BOE venue keeps on disk besides the journal: the number of this process's start in the trading day.

A Modify Order gives the order a new ClOrdID (reference §7.5). The gateway derives every ClOrdID
from the journaled order id; a Modify's also carries ``<start>.<n>``: which start of the gateway
in the day issued it and the order's n-th Modify in that process. The start number is written
(atomically, fsynced) before the venue connects, so no two processes of one day can issue the same
Modify ClOrdID, whatever a crash cut off from the journal. A new trading day starts from 1 again.
"""

from __future__ import annotations

from pathlib import Path

import msgspec

from venues.atomic_file import write_file_atomically


class BoeStateError(Exception):
    """The state file exists but cannot be trusted, or cannot be written (the venue does not start)."""


class _Starts(msgspec.Struct, forbid_unknown_fields=True):
    day: str
    starts: int


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(_Starts)


def next_start(state_dir: str | Path, name: str, day: str) -> int:
    """Count one more start of venue ``name`` on ``day`` in its state file and return the new count (1 first)."""
    path = Path(state_dir) / f"{name}.boe-starts.json"
    starts = 0
    try:
        raw: bytes | None = path.read_bytes()
    except FileNotFoundError:
        raw = None
    except OSError as exc:
        raise BoeStateError(f"cannot read BOE state {path}: {exc}") from exc
    if raw is not None:
        try:
            state = _decoder.decode(raw)
        except msgspec.DecodeError as exc:
            raise BoeStateError(
                f"BOE state {path} is corrupt ({exc}): Modify ClOrdIDs issued today are unknown; "
                "if it is a new trading day delete the file, otherwise restore it"
            ) from exc
        if state.day == day:
            starts = state.starts
    starts += 1
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_file_atomically(path, _encoder.encode(_Starts(day, starts)))
    except OSError as exc:
        raise BoeStateError(f"cannot write BOE state {path}: {exc}") from exc
    return starts

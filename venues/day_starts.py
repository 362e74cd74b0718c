"""What BOE and FIX ClOrdIDs share: base-36 digits, the day's code, and a venue's start count in the day.

Both venues name a request by ``<day>``, this process's start number in the day and a per-order count, so no
ClOrdID repeats across days, restarts or crashes. The start count lives in a small JSON file
(``{"day": ..., "starts": n}``), written atomically and fsynced before the venue connects.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Final

import msgspec

from venues.atomic_file import write_file_atomically

EPOCH_DAY: Final = dt.date(2000, 1, 1)
"""Day codes count days since this date."""
DAY_LEN: Final = 3
"""Base-36 digits of a day code (46,655 days: until the year 2127)."""
_DIGITS: Final = "0123456789abcdefghijklmnopqrstuvwxyz"


def base36(value: int) -> str:
    """Return ``value`` (>= 0) in base 36, lower case ("0" for 0 and below)."""
    if value <= 0:
        return "0"
    chars = []
    while value:
        value, rem = divmod(value, 36)
        chars.append(_DIGITS[rem])
    return "".join(reversed(chars))


def day_code(day: dt.date) -> str:
    """Return the three base-36 digits of ``day``: days since 2000-01-01."""
    return base36(max((day - EPOCH_DAY).days, 0)).rjust(DAY_LEN, "0")[-DAY_LEN:]


class _Starts(msgspec.Struct, forbid_unknown_fields=True):
    day: str
    starts: int


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(_Starts)


def count_start(path: Path, day: str, error: type[Exception], what: str, corrupt_hint: str) -> int:
    """Count one more start on ``day`` (ISO date) in ``path`` and return the new count (1 first; a new day from 1).

    Raise ``error`` (``what`` names the file in its text, e.g. "FIX state") when the file cannot be read,
    is corrupt (``corrupt_hint`` says what is lost and what to do) or cannot be written.
    """
    starts = 0
    try:
        raw: bytes | None = path.read_bytes()
    except FileNotFoundError:
        raw = None
    except OSError as exc:
        raise error(f"cannot read {what} {path}: {exc}") from exc
    if raw is not None:
        try:
            state = _decoder.decode(raw)
        except msgspec.DecodeError as exc:
            raise error(f"{what} {path} is corrupt ({exc}): {corrupt_hint}") from exc
        if state.day == day:
            starts = state.starts
    starts += 1
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_file_atomically(path, _encoder.encode(_Starts(day, starts)))
    except OSError as exc:
        raise error(f"cannot write {what} {path}: {exc}") from exc
    return starts


def save_starts(path: Path, day: str, starts: int) -> None:
    """Put ``starts`` on file as the count of starts on ``day`` (atomically, fsynced); OSError if it cannot.

    For a count found too low after it was read (``count_start``): a BOE start whose journal shows Modify
    ClOrdIDs of a start number at or above its own (the state file lost or replaced, the journal kept).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    write_file_atomically(path, _encoder.encode(_Starts(day, starts)))

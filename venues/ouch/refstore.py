"""UserRefNum allocation that stays strictly increasing for the session day, across restarts and crashes.

OUCH silently ignores a request whose UserRefNum is not above every number already
used on the account that day, so reusing one after a restart would lose an order
without a word. The store reserves numbers in blocks: the state file records the
highest number that may have been handed out (the end of the current block), written
atomically (temp file, fsync, rename, fsync of the directory) before any number of the
block is used. After a crash a new store starts above the whole block. The hot path
touches the disk once per block.

A new trading day, or a session id different from the one on file, starts again at 1.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Final

import msgspec

log = logging.getLogger(__name__)

DEFAULT_BLOCK: Final = 1000


class RefStoreError(Exception):
    """The state file exists but cannot be trusted (the operator must look at it)."""


class _State(msgspec.Struct, forbid_unknown_fields=True):
    day: str
    session: str
    reserved: int


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(_State)


class UserRefNumStore:
    """Hand out UserRefNums for one OUCH account from a small state file in ``state_dir``."""

    def __init__(
        self,
        state_dir: str | Path,
        name: str,
        *,
        today: Callable[[], str],
        block: int = DEFAULT_BLOCK,
    ) -> None:
        if block < 1:
            raise ValueError("block must be at least 1")
        self.path = Path(state_dir) / f"{name}.userrefnum.json"
        self._today = today
        self._block = block
        self.writes = 0
        self.error: str | None = None
        """Why the last write of the state file failed (None when the file is current)."""
        self.day = today()
        self.session = ""
        self._next = 1
        self._reserved = 0
        state = self._load()
        if state is not None and state.day == self.day:
            self.session = state.session
            self._next = state.reserved + 1
            self._reserved = state.reserved

    @property
    def last_issued(self) -> int:
        """Return the highest number handed out by this store (0 if none yet)."""
        return self._next - 1

    def next(self) -> int:
        """Return the next UserRefNum (persisting a new block first when the current one is used up)."""
        number = self._next
        if number > self._reserved:
            self._reserve(number + self._block - 1)
        self._next = number + 1
        return number

    def is_current_day(self) -> bool:
        """Return True if the state on file belongs to today's session day."""
        return self.day == self._today()

    def ensure_above(self, used: int) -> None:
        """Never hand out ``used`` or anything below it (learned from recovery or an Account Query)."""
        if used >= self._next:
            self._next = used + 1

    def bind(self, session: str) -> None:
        """Attach to the session the venue logged us into; a new day or another session restarts at 1."""
        day = self._today()
        if day != self.day or (self.session and session != self.session):
            log.info(
                "UserRefNum for %s restarts at 1 (day %s -> %s, session %r -> %r)",
                self.path.name,
                self.day,
                day,
                self.session,
                session,
            )
            self.day = day
            self.session = session
            self._next = 1
            self._reserved = 0
            self._reserve(0)
        elif session != self.session:
            self.session = session
            self._reserve(self._reserved)

    def _load(self) -> _State | None:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise RefStoreError(f"cannot read UserRefNum state {self.path}: {exc}") from exc
        try:
            state = _decoder.decode(raw)
        except msgspec.DecodeError as exc:
            raise RefStoreError(
                f"UserRefNum state {self.path} is corrupt ({exc}); numbers already used today are unknown. "
                "If it is a new trading day, delete the file; otherwise restore it "
                "or set it from an Account Query"
            ) from exc
        if state.reserved < 0:
            raise RefStoreError(f"UserRefNum state {self.path} has a negative reservation")
        return state

    def _reserve(self, reserved: int) -> None:
        """Persist ``reserved`` as the highest number that may be handed out, then allow it in memory."""
        data = _encoder.encode(_State(self.day, self.session, reserved))
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            temp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            try:
                os.write(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(temp, self.path)
            dir_fd = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        except OSError as exc:
            if self.error is None:
                log.error("cannot persist UserRefNum reservation to %s: %s", self.path, exc)
            self.error = f"cannot persist UserRefNum reservation to {self.path}: {exc}"
        else:
            self.error = None
            self.writes += 1
        self._reserved = reserved

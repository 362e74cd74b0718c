"""Buffers another process of this host reads in place, through ``/proc/<pid>/mem`` (the AeronStat idea, no file).

The writer pins a ``bytearray`` (a ctypes view holds a buffer export, so the array can no longer be
resized or moved) and publishes its address; a reader allowed to read the writer's memory (the
kernel's ptrace read check: the same user, and Yama's ``ptrace_scope`` 0, or root / CAP_SYS_PTRACE)
opens ``/proc/<pid>/mem`` and copies the bytes out with ``pread``, the writer doing nothing per read.
Whether it may is known when it opens the file, before it asks for anything (``open_memory``). A random
token, pinned the same way and also sent by other means, is read first: a reader whose pid names
another process (another pid namespace, a restart) reads no token, or the wrong one, and is refused
rather than given another process's bytes.

Torn reads: the writer keeps writing while the reader copies. Each byte is one store, so a read sees
every byte as it was at some instant of the copy, not all at the same instant.
"""

from __future__ import annotations

import ctypes
import errno
import os
import secrets
from collections.abc import Sequence
from typing import Final

TOKEN_BYTES: Final = 16


class RemoteReadError(OSError):
    """The other process's buffers could not be read, or were not the ones published (fall back to a copy)."""


class Pinned:
    """A ``bytearray`` whose address stays valid while this object lives (it holds a buffer export)."""

    __slots__ = ("_view", "address", "buffer", "size")

    def __init__(self, buffer: bytearray) -> None:
        self.buffer = buffer
        self.size = len(buffer)
        self._view = (ctypes.c_char * self.size).from_buffer(buffer)
        self.address: int = ctypes.addressof(self._view)


def new_token() -> Pinned:
    """Return a pinned random token (published by address and by value)."""
    return Pinned(bytearray(secrets.token_bytes(TOKEN_BYTES)))


def open_memory(pid: int) -> int | None:
    """Return a read-only descriptor of process ``pid``'s memory, or None when this process may not read it."""
    if pid <= 0:
        return None
    try:
        return os.open(f"/proc/{pid}/mem", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None


def read_remote(memory: int, token: bytes, token_address: int, parts: Sequence[tuple[int, int]]) -> list[bytes]:
    """Return the bytes of ``parts`` ((address, length) each) of the process ``memory`` is open on.

    The token at ``token_address`` is read first and must be ``token``. Raises ``RemoteReadError`` when
    it is not, when a read fails or comes back short (an unmapped address, a process gone).
    """
    try:
        seen = os.pread(memory, TOKEN_BYTES, token_address)
        if seen != token:
            raise RemoteReadError(errno.ESRCH, "the process read is not the gateway that answered (token differs)")
        out = [os.pread(memory, length, address) for address, length in parts]
    except RemoteReadError:
        raise
    except OSError as exc:
        raise RemoteReadError(exc.errno, f"reading the gateway's memory: {exc.strerror}") from exc
    if any(len(got) != length for got, (_address, length) in zip(out, parts, strict=True)):
        raise RemoteReadError(errno.EFAULT, "reading the gateway's memory: a short read")
    return out

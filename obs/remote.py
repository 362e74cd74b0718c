"""Buffers another process of this host reads in place: ``process_vm_readv`` (the AeronStat idea, without a file).

The writer pins a ``bytearray`` (a ctypes view holds a buffer export, so the array can no longer be
resized or moved) and publishes its address; a reader of the same user (or root) copies the bytes out
of the writer's memory with one ``process_vm_readv``, the writer doing nothing per read. A random
token, pinned the same way and also sent by other means, is read in the same call: a reader whose
pid names another process (another pid namespace, a restart) reads no token, or the wrong one, and
is refused rather than given another process's bytes.

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


class _IoVec(ctypes.Structure):
    _fields_ = (("base", ctypes.c_void_p), ("len", ctypes.c_size_t))


_libc = ctypes.CDLL(None, use_errno=True)
_process_vm_readv = getattr(_libc, "process_vm_readv", None)
if _process_vm_readv is not None:
    _process_vm_readv.restype = ctypes.c_ssize_t
    _process_vm_readv.argtypes = (
        ctypes.c_int,
        ctypes.POINTER(_IoVec),
        ctypes.c_ulong,
        ctypes.POINTER(_IoVec),
        ctypes.c_ulong,
        ctypes.c_ulong,
    )


def read_remote(pid: int, token: bytes, token_address: int, parts: Sequence[tuple[int, int]]) -> list[bytes]:
    """Return the bytes of ``parts`` ((address, length) each) of process ``pid``, checked by its token.

    Raises ``RemoteReadError`` when the kernel refuses (another user, ``ptrace_scope``, no such
    process), reads short, or the token at ``token_address`` is not ``token``.
    """
    if _process_vm_readv is None:
        raise RemoteReadError(errno.ENOSYS, "process_vm_readv is not available here")
    sizes = [TOKEN_BYTES, *(length for _address, length in parts)]
    total = sum(sizes)
    local = ctypes.create_string_buffer(total)
    local_iov = (_IoVec * 1)(_IoVec(ctypes.addressof(local), total))
    remote = (_IoVec * len(sizes))(
        _IoVec(token_address, TOKEN_BYTES), *(_IoVec(address, length) for address, length in parts)
    )
    got = _process_vm_readv(pid, local_iov, 1, remote, len(sizes), 0)
    if got < 0:
        code = ctypes.get_errno()
        raise RemoteReadError(code, f"reading process {pid}: {os.strerror(code)}")
    if got != total:
        raise RemoteReadError(errno.EFAULT, f"reading process {pid}: {got} of {total} bytes")
    raw = local.raw
    if raw[:TOKEN_BYTES] != token:
        raise RemoteReadError(errno.ESRCH, f"process {pid} is not the gateway that answered (token differs)")
    out: list[bytes] = []
    at = TOKEN_BYTES
    for size in sizes[1:]:
        out.append(raw[at : at + size])
        at += size
    return out

"""Keep the event loop's socket registrations visible to an LD_PRELOAD interposer such as Onload.

libuv 1.45+ (uvloop 0.18+) submits ``EPOLL_CTL_ADD``/``MOD`` through an io_uring
(``IORING_OP_EPOLL_CTL``) instead of calling ``epoll_ctl``. Onload intercepts libc
calls, so it never sees those registrations and its user-level epoll misses the
accelerated sockets. When ``io_uring_setup`` fails, libuv falls back to plain
``epoll_ctl``. ``block_io_uring`` makes it fail for this process (and every thread
and child it creates) with a seccomp filter; it must run before the event loop is
created, because libuv sets the ring up in ``uv_loop_init``.

The filter checks the architecture first (x86_64 with its x32 ABI, i386, aarch64;
on every one of them ``io_uring_setup`` is system call 425) and answers
``io_uring_setup`` with ``ENOSYS``, the error every io_uring user reads as "not
available, fall back". Every other system call is allowed. The filter also sets
``no_new_privs`` (required to install a filter without CAP_SYS_ADMIN): programs this
process executes can no longer gain privileges through setuid bits.
"""

from __future__ import annotations

import ctypes
import enum
import errno
import os
import platform
import struct

import msgspec

IO_URING_SETUP_NR = 425
"""``io_uring_setup`` on x86_64, i386, aarch64 and arm (the unified numbering of new system calls)."""

_X32_SYSCALL_BIT = 0x4000_0000

AUDIT_ARCH_X86_64 = 0xC000_003E
AUDIT_ARCH_I386 = 0x4000_0003
AUDIT_ARCH_AARCH64 = 0xC000_00B7

_SECCOMP_SYSCALL_NR = {"x86_64": 317, "aarch64": 277}
_PR_SET_NO_NEW_PRIVS = 38
_PR_SET_SECCOMP = 22
_PR_GET_SECCOMP = 21
_SECCOMP_MODE_FILTER = 2
_SECCOMP_SET_MODE_FILTER = 1
_SECCOMP_FILTER_FLAG_TSYNC = 1

# Classic BPF opcodes used by the filter.
_BPF_LD_W_ABS = 0x20
_BPF_JEQ_K = 0x15
_BPF_RET_K = 0x06
_SECCOMP_RET_ALLOW = 0x7FFF_0000
_SECCOMP_RET_ERRNO = 0x0005_0000

_OFFSET_NR = 0
_OFFSET_ARCH = 4

_INSTRUCTION = struct.Struct("=HBBI")


class IoUringGuard(enum.StrEnum):
    """When to block io_uring for the gateway process."""

    AUTO = "auto"
    """Under Onload with uvloop only (the one combination where it matters)."""
    ALWAYS = "always"
    """Every run (identical epoll behaviour on every host; a small cost per registration)."""
    NEVER = "never"
    """Never (under Onload with uvloop, registrations then bypass Onload: not recommended)."""


class GuardResult(msgspec.Struct, frozen=True):
    """What ``block_io_uring`` did."""

    installed: bool
    detail: str
    rings_already_open: int = 0


def io_uring_filter_program() -> bytes:
    """Return the classic-BPF seccomp program as packed ``struct sock_filter`` entries."""
    program = [
        (_BPF_LD_W_ABS, 0, 0, _OFFSET_ARCH),
        (_BPF_JEQ_K, 2, 0, AUDIT_ARCH_X86_64),  # -> load nr
        (_BPF_JEQ_K, 1, 0, AUDIT_ARCH_AARCH64),  # -> load nr
        (_BPF_JEQ_K, 0, 3, AUDIT_ARCH_I386),  # unknown architecture -> allow
        (_BPF_LD_W_ABS, 0, 0, _OFFSET_NR),
        (_BPF_JEQ_K, 2, 0, IO_URING_SETUP_NR),  # -> errno
        (_BPF_JEQ_K, 1, 0, IO_URING_SETUP_NR | _X32_SYSCALL_BIT),  # -> errno
        (_BPF_RET_K, 0, 0, _SECCOMP_RET_ALLOW),
        (_BPF_RET_K, 0, 0, _SECCOMP_RET_ERRNO | errno.ENOSYS),
    ]
    return b"".join(_INSTRUCTION.pack(*insn) for insn in program)


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def open_io_uring_count(proc_root: str = "/proc") -> int:
    """Count io_uring instances this process already holds (``anon_inode:[io_uring]`` descriptors)."""
    fd_dir = os.path.join(proc_root, "self", "fd")
    count = 0
    try:
        names = os.listdir(fd_dir)
    except OSError:
        return 0
    for name in names:
        try:
            if os.readlink(os.path.join(fd_dir, name)) == "anon_inode:[io_uring]":
                count += 1
        except OSError:
            continue
    return count


def block_io_uring() -> GuardResult:
    """Install the seccomp filter that makes ``io_uring_setup`` fail with ENOSYS in this process.

    Call it before the event loop exists. Never raises: the result says whether the
    filter is in place and, if not, why. Installing it twice is harmless.
    """
    machine = platform.machine()
    if os.uname().sysname != "Linux":
        return GuardResult(False, f"not Linux ({os.uname().sysname}): no io_uring to block")
    if machine not in _SECCOMP_SYSCALL_NR:
        return GuardResult(False, f"unsupported architecture {machine} (x86_64 and aarch64 are supported)")
    already = open_io_uring_count()
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        err = ctypes.get_errno()
        return GuardResult(False, f"prctl(PR_SET_NO_NEW_PRIVS) failed: {os.strerror(err)}", already)
    code = io_uring_filter_program()
    buffer = ctypes.create_string_buffer(code, len(code))
    prog = _SockFprog(len(code) // _INSTRUCTION.size, ctypes.addressof(buffer))
    libc.syscall.restype = ctypes.c_long
    rc = libc.syscall(
        ctypes.c_long(_SECCOMP_SYSCALL_NR[machine]),
        ctypes.c_uint(_SECCOMP_SET_MODE_FILTER),
        ctypes.c_uint(_SECCOMP_FILTER_FLAG_TSYNC),
        ctypes.byref(prog),
    )
    how = "seccomp filter on all threads"
    if rc != 0:
        err = ctypes.get_errno()
        if rc > 0:
            return GuardResult(False, f"seccomp TSYNC failed: thread {rc} could not be synchronised", already)
        if err != errno.ENOSYS:
            return GuardResult(False, f"seccomp(SET_MODE_FILTER) failed: {os.strerror(err)}", already)
        if libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.byref(prog), 0, 0) != 0:
            err = ctypes.get_errno()
            return GuardResult(False, f"prctl(PR_SET_SECCOMP) failed: {os.strerror(err)}", already)
        how = "seccomp filter on the calling thread (no seccomp(2) system call)"
    detail = f"io_uring_setup now fails with ENOSYS ({how})"
    if already:
        detail += (
            f"; installed too late: {already} io_uring instance(s) were already open,"
            " so create the event loop after calling block_io_uring()"
        )
    return GuardResult(True, detail, already)


def io_uring_usable() -> tuple[bool, str]:
    """Try ``io_uring_setup`` with one entry and say whether this process may use io_uring."""
    if os.uname().sysname != "Linux":
        return False, "not Linux"
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    params = ctypes.create_string_buffer(120)  # struct io_uring_params, zeroed
    fd = libc.syscall(ctypes.c_long(IO_URING_SETUP_NR), ctypes.c_uint(1), params)
    if fd < 0:
        err = ctypes.get_errno()
        return False, f"io_uring_setup failed: {errno.errorcode.get(err, str(err))} ({os.strerror(err)})"
    os.close(fd)
    return True, "io_uring_setup succeeded"

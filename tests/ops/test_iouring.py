"""The io_uring guard, proved with strace on a real uvloop TCP program.

uvloop 0.23 (libuv 1.52) submits EPOLL_CTL_ADD for TCP sockets through io_uring, so
an LD_PRELOAD interposer (Onload) never sees them. With ``block_io_uring()`` installed
before the loop exists, ``io_uring_setup`` fails and the registration is a plain
``epoll_ctl`` system call again.
"""

from __future__ import annotations

import re
import struct
import subprocess
import sys
from pathlib import Path

from gateway.ops.iouring import (
    AUDIT_ARCH_AARCH64,
    AUDIT_ARCH_I386,
    AUDIT_ARCH_X86_64,
    IO_URING_SETUP_NR,
    io_uring_filter_program,
)
from tests.ops.conftest import epoll_adds, io_uring_setup_results, run_traced

UVLOOP_TCP_PROGRAM = """
import asyncio, sys
import uvloop

if sys.argv[1] == "guard":
    from gateway.ops.iouring import block_io_uring
    result = block_io_uring()
    assert result.installed, result.detail
elif sys.argv[1] == "runtime":
    from gateway.ops.config import SpinConfig
    from gateway.ops.runtime import LoopImpl, OpsRuntime
    OpsRuntime.prepare(SpinConfig(), loop_impl=LoopImpl.UVLOOP, environ={"GATEWAY_IO_URING_GUARD": "always"})

async def main() -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(asyncio.Protocol, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    transport, _ = await loop.create_connection(asyncio.Protocol, "127.0.0.1", port)
    print("CLIENT_FD", transport.get_extra_info("socket").fileno(), flush=True)
    transport.write(b"x")
    await asyncio.sleep(0.05)
    transport.close()
    server.close()

uvloop.run(main())
"""


def _strace_uvloop(tmp_path: Path, mode: str) -> tuple[int, str]:
    program = tmp_path / "uvloop_tcp.py"
    program.write_text(UVLOOP_TCP_PROGRAM)
    trace = tmp_path / f"trace-{mode}.txt"
    result = run_traced([sys.executable, str(program), mode], "io_uring_setup,epoll_ctl", trace)
    match = re.search(r"CLIENT_FD (\d+)", result.stdout)
    assert match, result.stdout
    return int(match.group(1)), trace.read_text()


def test_uvloop_when_io_uring_allowed_then_tcp_socket_never_reaches_epoll_ctl(tmp_path: Path) -> None:
    fd, trace = _strace_uvloop(tmp_path, "plain")
    results = io_uring_setup_results(trace)
    assert any(r.split()[0].isdigit() for r in results), results  # a ring was created
    assert epoll_adds(trace, fd) == []  # the ADD went through io_uring: invisible to an interposer


def test_uvloop_when_io_uring_blocked_then_tcp_socket_is_added_with_epoll_ctl(tmp_path: Path) -> None:
    fd, trace = _strace_uvloop(tmp_path, "guard")
    results = io_uring_setup_results(trace)
    assert results, "libuv did not even try io_uring_setup"
    assert all(r.startswith("-1 ENOSYS") for r in results), results
    assert epoll_adds(trace, fd), trace


def test_runtime_when_guard_forced_by_launcher_variable_then_uvloop_uses_epoll_ctl(tmp_path: Path) -> None:
    fd, trace = _strace_uvloop(tmp_path, "runtime")
    assert all(r.startswith("-1 ENOSYS") for r in io_uring_setup_results(trace))
    assert epoll_adds(trace, fd)


GUARD_IN_CHILD = """
import threading, time
from gateway.ops.iouring import block_io_uring, io_uring_usable
before = io_uring_usable()
result = {}
started = threading.Event()
release = threading.Event()
def worker():
    started.set()
    release.wait(10)
    result["thread"] = io_uring_usable()
t = threading.Thread(target=worker)
t.start()
started.wait(10)
guard = block_io_uring()       # the thread already exists: TSYNC must cover it
release.set()
t.join(10)
print(before[0], guard.installed, io_uring_usable()[1], result["thread"][1], sep="|")
"""


def test_block_io_uring_when_installed_then_existing_threads_fail_with_enosys_too() -> None:
    result = subprocess.run(
        [sys.executable, "-c", GUARD_IN_CHILD], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    before, installed, main_thread, other_thread = result.stdout.strip().split("|")
    assert (before, installed) == ("True", "True")
    assert main_thread.startswith("io_uring_setup failed: ENOSYS")
    assert other_thread.startswith("io_uring_setup failed: ENOSYS")


def test_block_io_uring_when_ring_already_open_then_reports_installed_too_late() -> None:
    code = (
        "import uvloop\nloop = uvloop.new_event_loop()\n"
        "from gateway.ops.iouring import block_io_uring\nr = block_io_uring()\n"
        "print(r.installed, r.rings_already_open, 'too late' in r.detail)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    installed, rings, too_late = result.stdout.split()
    assert installed == "True" and int(rings) >= 1 and too_late == "True"


def _run_filter(arch: int, nr: int) -> int:
    """Evaluate the classic-BPF program on a seccomp_data (nr, arch) the way the kernel does."""
    code = io_uring_filter_program()
    insns = [struct.unpack("=HBBI", code[i : i + 8]) for i in range(0, len(code), 8)]
    data = {0: nr, 4: arch}
    acc, pc = 0, 0
    while True:
        op, jt, jf, k = insns[pc]
        pc += 1
        if op == 0x20:  # BPF_LD | BPF_W | BPF_ABS
            acc = data[k]
        elif op == 0x15:  # BPF_JMP | BPF_JEQ | BPF_K
            pc += jt if acc == k else jf
        elif op == 0x06:  # BPF_RET | BPF_K
            return int(k)
        else:
            raise AssertionError(f"unexpected opcode {op:#x}")


def test_filter_program_when_evaluated_then_only_io_uring_setup_gets_enosys() -> None:
    enosys, allow = 0x0005_0000 | 38, 0x7FFF_0000
    for arch in (AUDIT_ARCH_X86_64, AUDIT_ARCH_AARCH64, AUDIT_ARCH_I386):
        assert _run_filter(arch, IO_URING_SETUP_NR) == enosys
        assert _run_filter(arch, IO_URING_SETUP_NR + 1) == allow  # io_uring_enter is harmless without a ring
        assert _run_filter(arch, 0) == allow
    assert _run_filter(AUDIT_ARCH_X86_64, IO_URING_SETUP_NR | 0x4000_0000) == enosys  # x32 ABI
    assert _run_filter(0x8000_0016, IO_URING_SETUP_NR) == allow  # an architecture the filter does not know

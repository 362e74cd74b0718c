"""SIGHUP with its sender: the listener thread learns who sent it; the mask is restored afterwards."""

from __future__ import annotations

import asyncio
import os
import pwd
import signal
from pathlib import Path

from gateway.signals import SI_KERNEL, SighupListener, describe_sender


def test_describe_sender_when_process_still_runs_then_pid_name_uid_and_user(tmp_path: Path) -> None:
    (tmp_path / "4242").mkdir()
    (tmp_path / "4242" / "comm").write_text("kill\n")
    assert describe_sender(4242, 0, 0, tmp_path) == "pid 4242 (kill) uid 0 (root)"


def test_describe_sender_when_process_gone_or_user_unknown_then_numbers_only(tmp_path: Path) -> None:
    assert describe_sender(4243, 2_000_000_000, 0, tmp_path) == "pid 4243 uid 2000000000"


def test_describe_sender_when_kernel_sent_it_then_says_so(tmp_path: Path) -> None:
    assert describe_sender(0, 0, SI_KERNEL, tmp_path) == f"the kernel (si_code {SI_KERNEL})"


async def test_listener_when_sighup_sent_then_callback_on_the_loop_names_the_sender_and_mask_restored() -> None:
    before = signal.pthread_sigmask(signal.SIG_BLOCK, set())
    heard: list[str] = []
    got = asyncio.Event()

    def on_sighup(sender: str) -> None:
        heard.append(sender)
        got.set()

    listener = SighupListener(on_sighup)
    listener.block()
    assert signal.SIGHUP in signal.pthread_sigmask(signal.SIG_BLOCK, set())
    listener.start(asyncio.get_running_loop())
    thread = listener._thread
    assert thread is not None and thread.ident is not None
    # aimed at the listener: in this long-lived test process other threads (started by earlier tests,
    # SIGHUP not blocked) could take a process-wide signal; tests/e2e sends a real one to a gateway process
    signal.pthread_kill(thread.ident, signal.SIGHUP)
    await asyncio.wait_for(got.wait(), 5)
    listener.stop()
    name = Path(f"/proc/{os.getpid()}/comm").read_text().strip()
    assert heard == [f"pid {os.getpid()} ({name}) uid {os.getuid()} ({pwd.getpwuid(os.getuid()).pw_name})"]
    assert signal.pthread_sigmask(signal.SIG_BLOCK, set()) == before

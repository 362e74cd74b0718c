"""SIGHUP with its sender: which process (pid, uid, name) asked the gateway to reload its risk limits.

asyncio's ``add_signal_handler`` runs a callback without the kernel's ``siginfo``, so it cannot say
who sent a signal. ``SighupListener`` blocks SIGHUP in the thread that starts the gateway (and so
in every thread started after it) and waits for it in a small daemon thread with
``signal.sigwaitinfo``, which returns the sender's pid and uid; the thread describes the sender
(its name from ``/proc/<pid>/comm`` while it still runs) and hands the description to the event
loop with ``call_soon_threadsafe``.

A SIGHUP can still reach a thread that does not block it (one started before ``block``): the
process keeps asyncio's handler installed for that case, which reloads with an unknown sender.
Child processes started after ``block`` inherit the blocked mask (the gateway starts none).

``hold_startup_signals`` covers start-up, from the first line of ``gateway run`` (before its imports): SIGHUP
is blocked at once (a SIGHUP then waits, pending, for the listener, which reloads once the risk engine is
loaded), and SIGTERM/SIGINT are only noted, for ``gateway run`` to stop cleanly (exit 0) as soon as it can.
"""

from __future__ import annotations

import logging
import pwd
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # asyncio is not imported at run time: ``hold_startup_signals`` runs before the heavy imports
    import asyncio

log = logging.getLogger(__name__)

SI_KERNEL = 0x80
"""``si_code`` of a signal the kernel sent (a terminal hang-up), with no sender process."""

UNKNOWN_SENDER = "unknown sender (the signal reached a thread that does not block SIGHUP)"


STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
_stop_signals_at_startup: list[int] = []


def _note_stop(signum: int, frame: FrameType | None) -> None:
    _stop_signals_at_startup.append(signum)


HELD_COMMANDS = ("run", "launch")
"""The sub-commands whose start-up holds the signals: ``gateway run``, and ``gateway launch``, which execs it."""


def hold_startup_signals() -> None:
    """From the start of ``gateway run`` / ``launch``: block SIGHUP, note SIGTERM/SIGINT (stop once it can).

    SIGTERM/SIGINT are unblocked once noted: ``gateway launch`` execs ``gateway run`` with them blocked (a
    signal in that instant stays pending across the exec) and the run receives them here.
    """
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGHUP})
    for sig in STOP_SIGNALS:
        signal.signal(sig, _note_stop)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, set(STOP_SIGNALS))


def block_stop_signals() -> None:
    """Block SIGTERM/SIGINT (``gateway launch``, just before its exec: one arriving then reaches ``gateway run``)."""
    signal.pthread_sigmask(signal.SIG_BLOCK, set(STOP_SIGNALS))


def unblock_stop_signals() -> None:
    """Undo ``block_stop_signals`` (the exec was not made)."""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, set(STOP_SIGNALS))


def run_command(argv: list[str] | tuple[str, ...]) -> str | None:
    """Return the sub-command ``argv`` names (the first word that is not an option or ``--log-level``'s value)."""
    words = iter(argv)
    for word in words:
        if word == "--log-level":
            next(words, None)
        elif not word.startswith("-"):
            return word
    return None


def hold_if_gateway_run(orig_argv: list[str]) -> bool:
    """Call ``hold_startup_signals`` if this process is ``gateway run`` or ``gateway launch`` (``python -m gateway``).

    Called by ``gateway/__init__`` before its imports (``obs`` takes ~0.1 s), from ``sys.orig_argv``: the
    process's own command line, whatever imports the package.
    """
    if len(orig_argv) > 2 and orig_argv[1:3] == ["-m", "gateway"]:
        rest = orig_argv[3:]
    elif len(orig_argv) > 1 and Path(orig_argv[1]).name == "gateway":
        rest = orig_argv[2:]
    else:
        return False
    if run_command(rest) not in HELD_COMMANDS:
        return False
    hold_startup_signals()
    return True


def stop_signal_at_startup() -> str | None:
    """Return the name of the first SIGTERM/SIGINT received during start-up (before the loop's handlers), if any."""
    return signal.Signals(_stop_signals_at_startup[0]).name if _stop_signals_at_startup else None


def describe_sender(pid: int, uid: int, code: int, proc: Path = Path("/proc")) -> str:
    """Describe a signal's sender: ``pid 4242 (kill) uid 1001 (ops)``, or the kernel."""
    if code == SI_KERNEL or pid <= 0:
        return f"the kernel (si_code {code})"
    try:
        name = (proc / str(pid) / "comm").read_text().strip()
    except OSError:
        name = ""  # the sender has already exited (kill(1) usually has)
    try:
        user = pwd.getpwuid(uid).pw_name
    except KeyError:
        user = ""
    process = f"pid {pid} ({name})" if name else f"pid {pid}"
    person = f"uid {uid} ({user})" if user else f"uid {uid}"
    return f"{process} {person}"


class SighupListener:
    """Wait for SIGHUP in a daemon thread and call ``callback(sender)`` on the event loop."""

    def __init__(self, callback: Callable[[str], None], proc: Path = Path("/proc")) -> None:
        self._callback = callback
        self._proc = proc
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._previous_mask: set[signal.Signals | int] | None = None
        self._stopping = False

    def block(self) -> None:
        """Block SIGHUP in this thread; threads started afterwards inherit it. Call before starting any."""
        if self._previous_mask is None:
            self._previous_mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGHUP})

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Start the waiting thread (a SIGHUP that arrived since ``block`` is picked up at once)."""
        self.block()
        self._loop = loop
        self._stopping = False
        self._thread = threading.Thread(target=self._wait, name="sighup-listener", daemon=True)
        self._thread.start()

    def _wait(self) -> None:
        while True:
            info = signal.sigwaitinfo({signal.SIGHUP})
            if self._stopping:
                return
            sender = describe_sender(info.si_pid, info.si_uid, info.si_code, self._proc)
            log.info("SIGHUP from %s", sender)
            loop = self._loop
            if loop is None:
                return
            try:
                loop.call_soon_threadsafe(self._callback, sender)
            except RuntimeError:  # the loop is closed: the gateway is going away
                return

    def stop(self) -> None:
        """Stop the waiting thread and restore this thread's signal mask (call from the thread that blocked)."""
        thread, self._thread = self._thread, None
        if thread is not None and thread.ident is not None and thread.is_alive():
            self._stopping = True
            signal.pthread_kill(thread.ident, signal.SIGHUP)  # wakes its sigwaitinfo; ignored
            thread.join(timeout=5)
        if self._previous_mask is not None:
            signal.pthread_sigmask(signal.SIG_SETMASK, self._previous_mask)
            self._previous_mask = None

"""Standard output for commands whose output is piped: ``gateway status | head`` ends quietly."""

from __future__ import annotations

import argparse
import functools
import os
import sys
from collections.abc import Callable

EXIT_PIPE_CLOSED = 141
"""The reader of stdout went away (``| head``): the shell's code for a writer ended by SIGPIPE (128 + 13)."""


def write_stdout(text: str) -> bool:
    """Write ``text`` to stdout and flush; return False, without a traceback, if the reader has gone.

    A reader that stops early (``| head``, ``| grep -m1``) closes the pipe: the write fails with
    EPIPE (Python ignores SIGPIPE). Stdout is then pointed at /dev/null, so the interpreter's own
    flush at exit does not fail a second time ("Exception ignored ... BrokenPipeError").
    """
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        _stdout_to_devnull()
        return False
    return True


def _stdout_to_devnull() -> None:
    """Point stdout at /dev/null: the interpreter's flush at exit then has nowhere to fail."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def piped(command: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Wrap a command that prints with ``print``: a reader gone early ends it quietly (exit 141), no traceback."""

    @functools.wraps(command)
    def run(args: argparse.Namespace) -> int:
        try:
            code = command(args)
            sys.stdout.flush()
        except BrokenPipeError:
            _stdout_to_devnull()
            return EXIT_PIPE_CLOSED
        return code

    return run

"""Standard output for commands whose output is piped: ``gateway status | head`` ends quietly."""

from __future__ import annotations

import os
import sys


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
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return False
    return True

"""Helpers for the tests of a journal that cannot be written while venues talk (held54).

``journal_full``: the journal's descriptor pointed at /dev/full (every write fails ENOSPC, as on a full disk), then
back at its file, as tests/test_status_journal_failures.py does. ``run``: time passing over an OUCH or BOE
simulator link (``tests.ouch.harness.Link``, ``tests.boe.harness.Link``: a sans-IO simulator core, a fake clock) in
which the venue's bytes leave only by ``Engine.flush`` (journal first, then the venues, as the gateway's loop does
after every callback): not ``Link.pump``, which flushes the adapter itself, past the journal's hold.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

from gateway.engine import Engine
from gateway.journal import FileJournal


@contextlib.contextmanager
def journal_full(engine: Engine) -> Iterator[None]:
    """Make every journal write fail (a full disk) inside the block; the file is writable again after it."""
    journal = engine.journal
    assert isinstance(journal, FileJournal)
    journal.check_file = lambda: ("", False)  # type: ignore[method-assign]  # the swapped descriptor is the point
    saved = os.dup(journal._fd)
    full = os.open("/dev/full", os.O_WRONLY)
    os.dup2(full, journal._fd)
    os.close(full)
    try:
        yield
    finally:
        os.dup2(saved, journal._fd)
        os.close(saved)


def connect(link: Any, engine: Engine) -> None:
    """Open a connection as the connector does: the adapter sends its login itself, the rest leaves by the engine."""
    now = link.clock()
    link.connection = link.core.connect(now)
    link._close_requested = False
    link.venue.attach(link._write, link._close)
    link.venue.connection_made(now)
    engine.flush()
    run(link, engine, 0)


def run(link: Any, engine: Engine, ms: int, step_ms: int = 100) -> None:
    """Let ``ms`` pass in steps of ``step_ms``, both sides' timers running; move the bytes after each step."""
    for step in range(ms // step_ms + 1):
        if step:
            link.clock.advance_ms(step_ms)
            now = link.clock()
            link.venue.poll(now)
            engine.flush()
            assert link.connection is not None, "the session dropped"
            link.core.poll(link.connection, now)
        now = link.clock()
        while True:
            moved = False
            if link._to_server:
                data = bytes(link._to_server)
                link._to_server.clear()
                link.core.receive(link.connection, data, now)
                moved = True
            out, cut = link.core.output(link.connection, now)
            assert not cut, "the venue cut the session"
            if out:
                link.venue.data_received(bytes(out), now)
                engine.flush()
                moved = True
            if not moved:
                break

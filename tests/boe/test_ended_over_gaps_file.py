"""BOE: the file of the orders ended above a gap, bounded at load; what is not a regular file at a state path (boe59b).

rev59merge5 finding 2 (LOW): a valid ``<name>.boe-ended-over-gaps.json`` of more entries than the gateway ever keeps
(4,096; a file of another origin) was loaded whole, and each later write of the gaps rewrote it whole on the event
loop (230-265 ms for a million). Now the newest 4,096 are kept, the others left out with a WARNING.

rev59merge5 finding 3 (LOW): a directory at that path: the start ERROR lacked what follows ("the venue starts
without it") and what to do (it cannot be rewritten), and every later write of the gaps logged ``cannot write``.
Now the ERROR says both, and the write ERROR is said once until a write succeeds.

rev59merge5 (also on main): a FIFO at a BOE state file's path blocked the start for ever (``read_bytes`` waits for a
writer). Now a state file is opened without blocking and read only if it is a regular file: a FIFO is unreadable,
and the file's own rule applies (this one: ERROR, the venue starts; the gaps file: the venue does not start).

The sans-IO simulator (``Link``), on a fake clock.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path

import pytest

from model.venue_events import VenueState
from tests.boe.test_older_than_end import _cancels_sent, _ended_with_fill_in_gap, _fills
from venues.boe.adapter import MAX_ENDED_OVER_GAPS
from venues.boe.state import BoeStateError

ENDED = "cboe.boe-ended-over-gaps.json"


def test_ended_over_gaps_file_when_above_the_bound_then_the_newest_kept_and_said(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    link, _execution, _wrote = _ended_with_fill_in_gap(tmp_path)
    link.poll()
    path = tmp_path / ENDED
    doc = json.loads(path.read_bytes())
    [order_1] = doc["ended"]
    older = [[order_id, order_1[1] + 5] for order_id in range(1_000, 1_000 + MAX_ENDED_OVER_GAPS + 9)]
    doc["ended"] = [*older, order_1]  # oldest first, as the gateway writes it: order 1's end the newest
    path.write_text(json.dumps(doc))
    caplog.set_level(logging.WARNING)
    link.restart()
    ended = link.venue._ended_over_gaps
    assert len(ended) == MAX_ENDED_OVER_GAPS  # the old code: 4,106 (all of them)
    assert ended[1] == order_1[1] and 1_000 not in ended and 1_009 not in ended and 1_010 in ended
    assert f"lists {MAX_ENDED_OVER_GAPS + 10} orders that ended above a sequence gap" in caplog.text
    assert f"the newest {MAX_ENDED_OVER_GAPS} kept, the 10 oldest left out" in caplog.text
    wrote = len(link.wire)
    link.connect()  # Cboe replays the gap: order 1's stale Execution (LeavesQty 40) is still judged older
    assert link.venue.state is VenueState.UP
    assert _fills(link) == [(60, 1)]
    assert link.venue.status()["live_after_end"] == 0 and _cancels_sent(link, wrote) == 0


def test_ended_over_gaps_path_when_a_directory_then_the_errors_say_what_follows_and_the_write_error_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    link, _execution, _wrote = _ended_with_fill_in_gap(tmp_path)
    link.poll()
    path = tmp_path / ENDED
    path.unlink()
    path.mkdir()
    caplog.set_level(logging.INFO)
    link.restart()
    [start] = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert "the venue starts without it" in start  # the old code: "[Errno 21] Is a directory: PATH" alone
    assert "not a regular file (a directory)" in start
    assert "a directory at that path cannot be rewritten: remove it" in start
    caplog.clear()
    link.connect()  # fail closed: the stale Execution cancels the order at Cboe, as before boe59
    assert link.venue.state is VenueState.UP
    assert _fills(link) == [(60, 1)] and link.venue.status()["live_after_end"] == 1
    for _write in range(3):  # each write of the gaps tries the file again
        link.venue._save_gaps()
    errors = [r.getMessage() for r in caplog.records if "cannot write the orders that ended" in r.getMessage()]
    assert len(errors) == 1, errors  # the old code: one per write
    path.rmdir()
    link.venue._save_gaps()
    assert "are written to" in caplog.text and json.loads(path.read_bytes())["ended"] == []


def _restart_bounded(link: object, fifo: Path) -> BaseException | None:
    """Restart the link in a thread; return what it raised (None: nothing). Fails the test if it blocks on the FIFO."""
    outcome: list[BaseException | None] = []

    def run() -> None:
        try:
            link.restart()  # type: ignore[attr-defined]
        except BaseException as exc:  # handed to the test
            outcome.append(exc)
        else:
            outcome.append(None)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(10)
    if thread.is_alive():  # unblock the reader so that the test ends
        with open(fifo, "wb") as writer:
            writer.write(b"x")
        thread.join(10)
        pytest.fail(f"the start blocks on the FIFO at {fifo.name}")
    return outcome[0]


@pytest.mark.parametrize("name", [ENDED, "cboe.boe-gaps.json", "cboe.boe-owed-cancels.json", "cboe.boe-starts.json"])
def test_state_path_when_a_fifo_then_the_start_does_not_block(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, name: str
) -> None:
    link, _execution, _wrote = _ended_with_fill_in_gap(tmp_path)
    link.poll()
    path = tmp_path / name
    path.unlink(missing_ok=True)
    os.mkfifo(path)
    caplog.set_level(logging.ERROR)
    raised = _restart_bounded(link, path)
    if name == ENDED:  # the venue starts without it (fail closed: such a message cancels its order at Cboe)
        assert raised is None
        assert "not a regular file (a FIFO): which message ended an order" in caplog.text
        link.connect()
        assert link.venue.state is VenueState.UP and link.venue.status()["live_after_end"] == 1
        link.poll()  # the next write of the gaps replaces the FIFO with the file
        assert path.is_file() and json.loads(path.read_bytes())["ended"] == []
    else:  # the venue does not start, as for any unreadable one of these files
        assert isinstance(raised, BoeStateError) and "not a regular file (a FIFO)" in str(raised), raised


def test_a_symlink_to_dev_null_at_a_state_path_is_named_a_character_device(tmp_path: Path) -> None:
    """A link to ``/dev/null`` at a BOE state path is refused as "a character device", not "a device or socket"
    (rev59merge15 LOW)."""
    from venues.boe.state import _read_bytes

    path = tmp_path / "cboe.boe-numbering.json"
    path.symlink_to("/dev/null")
    with pytest.raises(OSError, match=r"not a regular file \(a character device\)"):
        _read_bytes(path)

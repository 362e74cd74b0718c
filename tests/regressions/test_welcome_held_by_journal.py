"""A Welcome the gateway holds while its journal cannot be written starts the strategy's silence clock when it is
written, not when it was queued (rev55ops).

A strategy connecting during a full-disk spell got its Welcome when the journal came back, and at once a fatal
``HEARTBEAT_TIMEOUT`` ("nothing received for 3014 ms"): the gateway had counted its silence from the held Welcome,
though the protocol says neither side sends heartbeats before the Welcome (docs/strategy-protocol.md 4.3). The SDK
with ``auto_reconnect`` raised it from ``connect`` and the strategy process exited.
"""

from __future__ import annotations

import os
from pathlib import Path

from gateway.protocol.messages import Error, Heartbeat, Welcome
from tests.harness import journaling_rig
from tests.journal_full import journal_full


def _tick(rig: object, ms: int) -> None:
    for _ in range(ms // 100):
        rig.clock.advance_ms(100)  # type: ignore[attr-defined]
        rig.engine.poll(rig.clock())  # type: ignore[attr-defined]
        rig.engine.flush()  # type: ignore[attr-defined]


def test_hello_during_journal_spell_then_welcome_later_and_silence_counted_from_it(tmp_path: Path) -> None:
    rig = journaling_rig(tmp_path / "gw.journal")
    other = rig.connect("S2", uid=os.getuid())
    rig.new_order(other, "A", account="ACC2")
    rig.venue.accept(1)
    rig.engine.flush()
    with journal_full(rig.engine):
        rig.venue.fill(1, 10, 1_000_000)  # a record the journal cannot take: nothing leaves meanwhile
        rig.engine.flush()
        link = rig.connect("S1", uid=os.getuid())
        assert link.session.has_output  # its Welcome waits
        _tick(rig, 5_000)  # the Welcome is held: the strategy, waiting for it, sends nothing
        assert not link.closed
        assert not [m for m in link.received() if isinstance(m, Error)]
    _tick(rig, 100)  # the journal takes the records: the Welcome goes out
    received = link.received()
    assert any(isinstance(m, Welcome) for m in received)
    assert not [m for m in received if isinstance(m, Error)], received
    assert not link.closed
    _tick(rig, 2_500)  # within 3 heartbeat intervals of the Welcome: still open
    assert not link.closed
    _tick(rig, 1_000)  # 3.5 s of silence after the Welcome: judged as always
    errors = [m for m in link.received() if isinstance(m, Error)]
    assert errors and errors[-1].code == "HEARTBEAT_TIMEOUT" and link.closed


def test_heartbeats_after_welcome_keep_the_session(tmp_path: Path) -> None:
    rig = journaling_rig(tmp_path / "gw.journal")
    link = rig.connect("S1", uid=os.getuid())
    assert any(isinstance(m, Welcome) for m in link.received())
    for _ in range(10):
        _tick(rig, 900)
        rig.send(link, Heartbeat())
    assert not link.closed

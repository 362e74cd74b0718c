"""Engine set-up shared by the loopback tests: a real ``Engine`` (``Rig``) over a ``GatewaySide``.

An order acknowledged by the simulator, a journaled engine killed like ``kill -9`` and restarted on the same
journal and message store, and a dialect that resets the numbers at every logon.
"""

from __future__ import annotations

import fcntl
from pathlib import Path

from gateway.journal import FileJournal, read_journal
from gateway.recovery import recover
from model.fsync import FsyncPolicy
from model.order import Order, OrderState
from simulators.fix.simulator import FixSimulator
from tests.harness import MemoryLink, Rig
from venues.fix.dialect import DIALECT_DIR

from .live import GatewaySide, wait_until


async def resting_order(rig: Rig, link: MemoryLink, qty: int = 100) -> Order:
    """Have strategy S1 send order "A" for ``qty`` MSFT (no reference price: it rests); return it acknowledged."""
    rig.new_order(link, "A", qty=qty, venue="FIXV", symbol="MSFT")
    order = rig.order("S1", "A")
    await wait_until(lambda: order.state is OrderState.LIVE, 15.0, "the acknowledgment")
    return order


def journaled_rig(side: GatewaySide, path: Path) -> Rig:
    """Return an engine over ``side``'s real FixVenue journaling to ``path`` (appending to what is there)."""
    return Rig(venues=[side.venue], journal=FileJournal(path, fsync=FsyncPolicy.NONE))  # type: ignore[list-item]


async def kill_gateway(side: GatewaySide, rig: Rig) -> None:
    """Stop ``side`` and ``rig`` like ``kill -9``: no Logout; the journal and the store stay as written.

    The killed process's lock on the journal goes with it, so a restarted engine can open the journal.
    """
    await side.kill()
    assert isinstance(rig.engine.journal, FileJournal)
    fcntl.flock(rig.engine.journal._fd, fcntl.LOCK_UN)


def restarted_gateway(sim: FixSimulator, store_dir: Path, path: Path) -> tuple[GatewaySide, Rig]:
    """Return a new (not yet started) side on ``store_dir`` and an engine that adopted what ``path`` recovers."""
    recovered = recover(read_journal(path))
    side = GatewaySide(sim, store_dir)
    rig = journaled_rig(side, path)
    rig.engine.adopt(recovered)
    return side, rig


def resetting_dialect(tmp_path: Path, dialect: str) -> str:
    """Return ``dialect`` as a file (in ``tmp_path``) that resets the numbers at every logon."""
    text = (DIALECT_DIR / f"{dialect}.yaml").read_text()
    if "reset_seq_num_on_logon: false" in text:
        text = text.replace("reset_seq_num_on_logon: false", "reset_seq_num_on_logon: true")
    else:
        assert "\nlogon:\n" in text
        text = text.replace("\nlogon:\n", "\nlogon:\n  reset_seq_num_on_logon: true\n", 1)
    path = tmp_path / f"{dialect}-reset.yaml"
    path.write_text(text)
    return str(path)


async def acknowledged_on_resetting(
    sim: FixSimulator, tmp_path: Path, dialect: str
) -> tuple[GatewaySide, Rig, MemoryLink]:
    """Start the engine on a resetting ``dialect`` and have one order of 100 acknowledged (it rests)."""
    side = GatewaySide(sim, tmp_path / "store", dialect=resetting_dialect(tmp_path, dialect))
    rig = Rig(venues=[side.venue])  # type: ignore[list-item]
    await side.start()
    link = rig.connect("S1")
    await resting_order(rig, link)
    rig.engine.flush()
    link.received()
    return side, rig, link


async def reset_after(sim: FixSimulator, side: GatewaySide) -> None:
    """Drop the link; wait for the next logon, which restarts both numbers (nothing of before is resent)."""
    sim.drop_connection()
    await wait_until(lambda: side.venue.state.value != "UP", 15.0, "the link to drop")
    sim.release_output()
    await side.wait_up()
    assert side.venue.session.next_sender_seq <= 3  # the numbers restarted

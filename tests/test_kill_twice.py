"""A second kill while the first kill's Cancel is in flight owes that order nothing more (rev59merge14, a regression of
walk59c): the live process and a restart agree, and a refused Replace brings no kill's Cancel. The release
reviewer's tests, on the rig."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.journal import JournalScan
from gateway.protocol.framing import encode_frame
from gateway.protocol.messages import Cancel
from gateway.recovery import recover
from model.order import OrderState
from tests.harness import Rig, journal_of_kind
from tests.test_kill_walk import RESTING, _cancels, _kill, _setup

pytestmark = pytest.mark.timeout(120)


def _restart(path: Path):
    journal = journal_of_kind("file", path)
    scan = JournalScan()
    recovered = recover(journal.records(scan), scan)
    journal.cut_torn_tail(scan)
    fresh = Rig(journal=journal)
    fresh.engine.adopt(recovered)
    return fresh, recovered


def test_kill_twice_own_cancel_refused_live_leaves_it_restart_cancels_it(tmp_path: Path) -> None:
    """The officer runs `gateway kill --account ACC1` twice (or an account kill then a firm-wide one). The first
    kill's own Cancel of X is in flight at the second kill: the second kill owes X again (cancel_all re-adds every
    open order), its walk passes X over (Cancel in flight). The venue refuses the first kill's Cancel. Live: X works
    on (own refusal is not followed). Restart: X owed, cancel_owed sends a Cancel at the start."""
    rig, _s1, _, ids, turns = _setup(tmp_path)
    _kill(rig, "ACC1")
    while turns:
        turns.pop(0)()
    victim = ids[-1]
    assert rig.engine.orders[victim].state is OrderState.PENDING_CANCEL
    _kill(rig, "ACC1")  # the same kill again
    while turns:
        turns.pop(0)()
    rig.venue.cancel_reject(victim)  # the venue refuses the gateway's own Cancel
    rig.engine.flush()
    live_state = rig.engine.orders[victim].state
    live_cancels = _cancels(rig).count(victim)
    assert victim not in rig.engine._kill_owed  # the first kill's Cancel was its one
    rig.engine.journal.close()
    fresh, recovered = _restart(tmp_path / "j")
    owed = victim in recovered.kill_owed
    sent = fresh.engine.cancel_owed(list(recovered.kill_owed.values()))
    assert (live_state is OrderState.LIVE) == (not owed), (
        f"live process leaves order {victim} {live_state.name} after {live_cancels} Cancel(s); "
        f"the restart owes it the kill's Cancel: {owed}, sends {sent}"
    )


def test_kill_twice_own_refused_then_strategy_cancel_refused_sends_another(tmp_path: Path) -> None:
    """Same, then the strategy Cancels X, refused: the gateway sends a second Cancel of its own ('once')."""
    rig, s1, _, ids, turns = _setup(tmp_path)
    _kill(rig, "ACC1")
    while turns:
        turns.pop(0)()
    victim = ids[-1]
    _kill(rig, "ACC1")
    while turns:
        turns.pop(0)()
    rig.venue.cancel_reject(victim)  # the kill's own refused
    rig.engine.flush()
    s1.defers_reads = False
    s1.req_seq += 1
    rig.engine.link_data(s1, encode_frame(Cancel(f"r{RESTING - 1}", req_seq=s1.req_seq)), rig.clock())
    rig.engine.flush()
    rig.venue.cancel_reject(victim)  # the strategy's refused
    rig.engine.flush()
    n = _cancels(rig).count(victim)
    assert n == 2, f"{n} Cancels of order {victim}: kill's own, strategy's, and another own"


def test_venue_down_kill_twice_then_up_own_refused_live_vs_restart(tmp_path: Path) -> None:
    """Venue not UP (minutes): kill ACC1 -> own Cancels held; then a firm-wide kill (escalation) -> all re-owed,
    its walk passes them over (held). Venue UP: the held Cancels go out once each; the venue refuses X's.
    Live: X works on. Restart: X owed and canceled at the start."""
    from model.venue_events import VenueState

    rig, _s1, _, ids, turns = _setup(tmp_path)
    rig.venue.set_state(VenueState.DISCONNECTED)
    rig.engine.flush()
    _kill(rig, "ACC1")
    while turns:
        turns.pop(0)()
    from gateway.journal import JTradingState

    rig.engine.journal.append(JTradingState("", "HALTED", "ops", "escalate", 2))
    rig.engine.cancel_all(None, walk=True)
    while turns:
        turns.pop(0)()
    rig.venue.set_state(VenueState.UP)
    rig.engine.flush()
    while turns:
        turns.pop(0)()
    victim = ids[-1]
    c = _cancels(rig)
    rig.venue.cancel_reject(victim)
    rig.engine.flush()
    live_state = rig.engine.orders[victim].state
    rig.engine.journal.close()
    fresh, recovered = _restart(tmp_path / "j")
    owed = victim in recovered.kill_owed
    sent = fresh.engine.cancel_owed(list(recovered.kill_owed.values()))
    assert len(c) == len(set(c)) == len(ids)
    assert (live_state is OrderState.LIVE) == (not owed), (
        f"live process leaves order {victim} {live_state.name}; "
        f"the restart owes it the kill's Cancel: {owed}, sends {sent}"
    )


def test_kill_twice_own_refused_resume_then_replace_refused_brings_an_own_cancel(tmp_path: Path, caplog) -> None:
    """Double kill, the kill's own Cancel of X refused (X works on, still owed); the officer resumes; the strategy
    Replaces X (a resumed account may); the venue refuses the Replace -> the gateway Cancels X 'for the kill',
    logging 'its strategy's Cancel was refused' (it was a Replace)."""
    import logging

    from gateway.journal import JTradingState

    rig, s1, _, ids, turns = _setup(tmp_path)
    victim = ids[-1]
    _kill(rig, "ACC1")
    while turns:
        turns.pop(0)()
    _kill(rig, "ACC1")
    while turns:
        turns.pop(0)()
    rig.venue.cancel_reject(victim)
    rig.engine.flush()
    rig.engine.journal.append(JTradingState("ACC1", "ACTIVE", "ops", "resumed", 3))
    rig.engine.kill_lifted("ACC1")
    s1.defers_reads = False
    from gateway.protocol.messages import Replace

    before = _cancels(rig).count(victim)
    s1.req_seq += 1
    rig.engine.link_data(s1, encode_frame(Replace(f"r{RESTING - 1}", 50, 1_000_000, req_seq=s1.req_seq)), rig.clock())
    rig.engine.flush()
    assert [c for c in rig.venue.commands if c[0] == "replace" and c[1] == victim]  # the Replace went out
    with caplog.at_level(logging.WARNING):
        rig.venue.cancel_reject(victim)  # the Replace refused
        rig.engine.flush()
    after = _cancels(rig).count(victim)
    assert not [r.getMessage() for r in caplog.records if "kill switch owes" in r.getMessage()]
    assert after == before, f"a refused Replace brought Cancel #{after} of the gateway's own on a resumed account"

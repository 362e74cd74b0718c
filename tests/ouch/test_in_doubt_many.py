"""Thousands of Enters a stuck venue never answers: the in-doubt bookkeeping stays linear (rev53diff MEDIUM 2).

``_in_doubt`` keeps each in-doubt Enter's packet (``_doubted``) to compare a late Accepted with, and prunes the map of
ended orders. It scanned the whole map for every new entry once it held 64: with 4,000 Enters unanswered at once (a
venue that takes orders and says nothing, heartbeats flowing) one sweep cost the loop 0.4-0.9 s, growing with the
square of the count. Now the map is scanned when it has doubled since the last scan, so each entry is scanned a
constant number of times on average; ended orders are still dropped at the next scan.

Real engine and journal over the OUCH simulator (fake clock), as tests/ouch/test_answer_timeout_followups.py.
"""

from __future__ import annotations

from pathlib import Path

from gateway.protocol.messages import Canceled, NewOrder, OrderAccepted, VenueStatus
from model.enums import Side
from simulators.ouch.exchange import ExchangeConfig
from tests.ouch.harness import PX, Link, gateway_over

RESTING = PX - 100
COUNT = 600


def _send_lost(link: Link, engine: object, rig: object, strat: object, prefix: str) -> None:
    """Send ``COUNT`` Enters the venue never gets."""
    for i in range(COUNT):
        rig.send(strat, NewOrder(f"{prefix}{i}", "ACC1", "nasdaq", "AAPL", Side.BUY, 1, RESTING))  # type: ignore[attr-defined]
    engine.flush()  # type: ignore[attr-defined]
    link.venue.flush()
    link._to_server.clear()


def _run_lost(link: Link, engine: object, ms: int) -> None:
    """Let ``ms`` pass, both sides' timers running (the venue ignores the Cancels of orders it never got)."""
    for _ in range(ms // 100):
        link.clock.advance_ms(100)
        link.venue.poll(link.clock())
        engine.flush()  # type: ignore[attr-defined]
        link.venue.flush()
        assert link.connection is not None
        link.core.poll(link.connection, link.clock())
        link.pump()
        engine.flush()  # type: ignore[attr-defined]


def _answers(strat: object) -> list[object]:
    return [m for m in strat.received() if not isinstance(m, VenueStatus)]  # type: ignore[attr-defined]


def test_many_enters_in_doubt_at_once_when_none_ended_then_the_map_is_scanned_only_on_doubling(tmp_path: Path) -> None:
    link = Link(tmp_path / "ouch", exchange=ExchangeConfig(reference_prices={"AAPL": PX}))
    engine, rig = gateway_over(link, tmp_path / "journal")
    link.connect()
    strat = rig.connect("S1")
    strat.received()
    venue = link.venue
    scans: list[int] = []  # the map's size at each scan, read off the threshold each scan sets
    threshold = venue._doubted_prune_at

    _send_lost(link, engine, rig, strat, "a")
    for _ in range(60):  # to the answer timeout (5 s) and its sweep
        _run_lost(link, engine, 100)
        if venue._doubted_prune_at != threshold:
            threshold = venue._doubted_prune_at
            scans.append(threshold)
    answers = _answers(strat)
    assert len(answers) == COUNT and all(isinstance(a, OrderAccepted) for a in answers)  # each taken as accepted
    assert len(venue._doubted) == COUNT
    # 600 entries, none ended: the old code scanned the map at each of the 537 entries from the 64th on (~190,000
    # entries read); now at 64, 128, 256, 512 (one sweep callback holds them all: the threshold read at the end)
    assert venue._doubted_prune_at == 1024

    _run_lost(link, engine, 6_000)  # their Cancels unanswered too: ended outcome unknown
    ended = _answers(strat)
    assert len(ended) == COUNT and all(isinstance(a, Canceled) and a.reason == "OUCH_OUTCOME_UNKNOWN" for a in ended)

    _send_lost(link, engine, rig, strat, "b")  # a second stuck batch: the next scan drops the ended first batch
    _run_lost(link, engine, 5_500)
    assert len(_answers(strat)) == COUNT
    assert len(venue._doubted) <= COUNT

"""The WARNING for a Hello refused ALREADY_CONNECTED is rate-limited per strategy (strat60).

rev60strat LOW 4: a client looping connect + Hello for a strategy whose old connection was still open wrote a
WARNING per attempt, 228 lines in one second. Now at most one line per strategy per 10 s, the next one saying how
many were suppressed, like the gateway's other per-peer warnings; each refusal still gets its ``Error``.
"""

from __future__ import annotations

import logging

import pytest

from gateway.protocol.messages import Error
from tests.harness import Rig

pytestmark = pytest.mark.timeout(30)

TEXT = "is already connected"


def _lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if TEXT in r.getMessage() and r.levelno == logging.WARNING]


def test_hellos_for_a_connected_strategy_in_a_loop_then_one_warning_per_10_s_with_the_count(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="gateway.engine")
    rig = Rig()
    rig.connect("S1")
    rig.connect("S2")
    for _ in range(200):
        refused = rig.connect("S1").received()
        assert isinstance(refused[0], Error) and refused[0].code == "ALREADY_CONNECTED"  # each answered
        rig.clock.advance_ms(5)  # 200 a second
    assert _lines(caplog) == ["refused Hello: strategy S1 is already connected"]  # before: 200 lines
    rig.connect("S2")  # another strategy's own line
    assert _lines(caplog)[-1] == "refused Hello: strategy S2 is already connected"
    rig.clock.advance_ms(9_000)  # 10 s after the first
    rig.connect("S1")
    assert _lines(caplog)[-1] == "refused Hello: strategy S1 is already connected (199 similar lines suppressed)"
    assert len(_lines(caplog)) == 3

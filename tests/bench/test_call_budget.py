"""The call budget of the hot path: Python calls per OUCH order round trip, counted, never timed.

``benchmarks.hotpath_calls`` runs the production pieces (``Engine``, ``StrategySession``,
``RiskEngine``, ``OuchVenue``, the journal as ``gateway run`` opens it) ping-pong in one process
under ``sys.setprofile`` and counts the gateway's own calls (Python functions of its packages,
and the C functions they call) over two run sizes: per order = the difference / the difference
of orders, so set-up, warm-up and one-off work cancel. The rig reads a clock that moves 1 us per
read, so nothing depends on how fast the machine runs the count (with the real clock a run that
outlasted the duplicate filter's window counted its evictions: ~4 calls more per order on a loaded
machine); what differs between run sizes is the histograms' byte carries, hundredths of a call.

A change that adds calls to the order or ack path fails here: lower ``BUDGET`` when a change
cuts calls (keep it at what the code reaches), raise it only with the reason in the commit.
"""

from __future__ import annotations

import os

import pytest

from benchmarks import hotpath_calls
from obs import native

BUDGET = 58
"""Calls per OUCH order round trip (order path + ack path, pure-Python modules) the code reaches (58.2 since stop 51;
68 until then)."""
COMPILED_BUDGET = 0
"""Calls per round trip the profiler still sees with the compiled modules: none since stop 44 (``model.order.fire``
and ``VenueSequence.admit``, the interpreted functions the compiled path called, are inline there). Calls between
compiled functions and from them to C are native and invisible to it, so this is not comparable with ``BUDGET``:
it guards that the compiled path stays compiled (a new interpreted call on it, or a build that fell back)."""
SLACK = 0.5
"""What the histograms' byte carries can add between run sizes: hundredths of a call."""


def test_calls_per_order_round_trip_when_counted_then_within_budget() -> None:
    result = hotpath_calls.count(200, 600)
    top = "\n".join(f"  {value:7.2f}  {name}" for name, value in result["functions"][:25])
    assert result["calls"] <= BUDGET + SLACK, (
        f"{result['calls']:.1f} calls per OUCH order round trip ({result['python_calls']:.1f} Python + "
        f"{result['c_calls']:.1f} C) exceed the budget of {BUDGET}: find the new calls with "
        f"`.venv/bin/python -m benchmarks.hotpath_calls`; the most called:\n{top}"
    )


def test_calls_per_order_when_counted_then_marginal_cancels_start_up() -> None:
    """Two different pairs of run sizes give the same per-order figure: nothing per-run leaks into it."""
    small = hotpath_calls.count(100, 300)
    large = hotpath_calls.count(200, 600)
    assert abs(small["calls"] - large["calls"]) <= SLACK
    assert small["python_calls"] > 0 and small["c_calls"] > 0


def test_compiled_calls_per_order_round_trip_when_counted_then_only_the_known_interpreted_ones() -> None:
    if os.environ.get(native.SWITCH) == "1" or not native.MANIFEST.exists():
        pytest.skip("pure-Python run (make unit-pure) or nothing built")
    result = hotpath_calls.count(200, 600, pure_python=False)
    top = "\n".join(f"  {value:7.2f}  {name}" for name, value in result["functions"][:25])
    assert result["calls"] <= COMPILED_BUDGET + SLACK, (
        f"{result['calls']:.1f} calls per OUCH order round trip visible to the profiler with the compiled "
        f"modules exceed {COMPILED_BUDGET}: is the native build current (`make native`), or does the compiled "
        f"path now call an interpreted function? The most called:\n{top}"
    )
    # the round trips ran (``hotpath_calls`` asserts every order was sent and acknowledged): nothing seen is the pass

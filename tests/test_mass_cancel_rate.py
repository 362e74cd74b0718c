"""A MassCancel's Cancels count in the cancel rate (``cancels_per_s``), but the throttle never refuses them (strat60).

rev60strat MEDIUM 1: a MassCancel of 1,350 orders sent every Cancel at once past a per-strategy limit of 1,000 a
second, and left the window untouched: single Cancels right after it passed too (1,205 cancels within a second
against a limit of 1,000). A MassCancel only reduces risk, so it is still carried out in full, never cut short; but
each Cancel it sends (or holds) now counts in the strategy's, account's and symbol's window, as a single Cancel
does, so the Cancels and Replaces after it are throttled as the limit says. The engine with the real risk engine
and a fake clock: what is refused, and from when it passes again.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gateway.engine import MASS_CANCEL_WALK_SLICE, Engine
from gateway.entitlements import Entitlements, StrategyEntitlement
from gateway.protocol.framing import encode_frame
from gateway.protocol.messages import (
    Cancel,
    CancelRejected,
    MassCancel,
    MassCancelAck,
    MassCancelRejected,
    NewOrder,
    Replace,
)
from model.enums import RejectSource, Side
from model.order import OrderState
from risk.engine import RiskEngine
from risk.model import TradingState
from risk.throttle import ONE_SECOND_NS
from tests.harness import MemoryLink, Rig, self_numbered_link
from tests.risk.support import WALL_NS, px, write_limits

pytestmark = pytest.mark.timeout(60)

WIDE = {
    "max_qty": 100_000,
    "max_notional": 100_000_000,
    "max_open_orders": 10_000,
    "max_open_notional": 1_000_000_000,
    "credit_limit": 1_000_000_000,
    "max_long_qty": 100_000_000,
    "max_net_qty": 100_000_000,
    "orders_per_s": {"per_strategy": 100_000, "per_account": 100_000, "per_symbol": 100_000},
}


def _rig(tmp_path: Path, cancels_per_s: dict[str, int]) -> tuple[Rig, RiskEngine]:
    """A rig whose engine asks the real risk engine (on the rig's clock); S1 and S2 both trade ACC1."""
    rig = Rig()
    rates = {"per_strategy": 100_000, "per_account": 100_000, "per_symbol": 100_000, **cancels_per_s}
    path = write_limits(tmp_path / "limits.yaml", {"defaults": {**WIDE, "cancels_per_s": rates}})
    risk = RiskEngine.load(path, rig.clock, tmp_path / "audit.jsonl", wall_clock=lambda: WALL_NS)
    for symbol in ("AAPL", "MSFT"):
        risk.set_reference_price(symbol, px("100.00"), rig.clock())
    entitled = {s: StrategyEntitlement(accounts=["ACC1", "ACC2"], uids=[1000]) for s in ("S1", "S2")}
    rig.engine = Engine(
        risk=risk,
        venues=rig.venues,
        entitlements=Entitlements(entitled, gateway_uid=1000),
        clock=rig.clock,
        gateway_id="test-gw",
    )
    return rig, risk


def _rest(rig: Rig, link: MemoryLink, names: list[str], **fields: Any) -> list[int]:
    """Place an order per name (one read) and have the venue accept each; return their order ids."""
    frames = []
    for name in names:
        link.req_seq += 1
        order = NewOrder(
            name,
            fields.get("account", "ACC1"),
            "V1",
            fields.get("symbol", "AAPL"),
            Side.BUY,
            100,
            1_000_000,
            req_seq=link.req_seq,
        )
        frames.append(encode_frame(order))
    rig.engine.link_data(link, b"".join(frames), rig.clock())
    ids = [rig.order(link.session.strategy_id, name).order_id for name in names]
    for order_id in ids:
        rig.venue.accept(order_id, 1_000_000)
    rig.engine.flush()
    link.received()
    return ids


def _send(rig: Rig, link: MemoryLink, message: Any) -> list[Any]:
    link.req_seq += 1
    rig.engine.link_data(link, encode_frame(message.__class__(**{**_fields(message), "req_seq": link.req_seq})), 0)
    rig.engine.flush()
    return link.received()


def _fields(message: Any) -> dict[str, Any]:
    return {name: getattr(message, name) for name in message.__struct_fields__}


def _codes(events: list[Any]) -> list[str]:
    return [e.code for e in events if isinstance(e, CancelRejected)]


def _cancels(rig: Rig) -> list[int]:
    return [c[1] for c in rig.venue.commands if c[0] == "cancel"]


def test_mass_cancel_past_the_strategy_rate_then_carried_out_in_full_and_single_cancels_after_it_throttled(
    tmp_path: Path,
) -> None:
    rig, _ = _rig(tmp_path, {"per_strategy": 5})
    s1 = self_numbered_link(rig, "S1")
    ids = _rest(rig, s1, [f"r{n}" for n in range(8)])
    (last,) = _rest(rig, s1, ["last"], symbol="MSFT")  # not matched by the MassCancel below
    assert _send(rig, s1, MassCancel(symbol="AAPL", request_id="M1")) == [MassCancelAck("M1", 8)]
    assert _cancels(rig) == ids  # never cut short by the throttle: all 8, past the limit of 5
    # its 8 Cancels used up the strategy's 5 a second: a single Cancel or Replace right after it is refused
    assert _codes(_send(rig, s1, Cancel("last"))) == ["CANCEL_RATE_STRATEGY"]  # before: passed
    assert _codes(_send(rig, s1, Replace("last", 200, 1_000_000))) == ["CANCEL_RATE_STRATEGY"]
    assert _cancels(rig) == ids
    rig.clock.advance(ONE_SECOND_NS - 1)
    assert _codes(_send(rig, s1, Cancel("last"))) == ["CANCEL_RATE_STRATEGY"]
    rig.clock.advance(1)  # a second after the MassCancel
    assert _send(rig, s1, Cancel("last")) == []
    assert _cancels(rig) == [*ids, last]


def test_mass_cancel_then_another_strategy_of_the_account_throttled_by_the_account_rate(tmp_path: Path) -> None:
    rig, _ = _rig(tmp_path, {"per_account": 3})
    s1 = self_numbered_link(rig, "S1")
    s2 = self_numbered_link(rig, "S2")
    ids = _rest(rig, s1, ["a", "b", "c"])
    (other,) = _rest(rig, s2, ["x"], symbol="MSFT")
    (elsewhere,) = _rest(rig, s2, ["y"], account="ACC2")
    assert _send(rig, s1, MassCancel(request_id="M1")) == [MassCancelAck("M1", 3)]
    assert _cancels(rig) == ids
    assert _codes(_send(rig, s2, Cancel("x"))) == ["CANCEL_RATE_ACCOUNT"]  # before: passed
    assert _send(rig, s2, Cancel("y")) == []  # another account has its own count
    assert _cancels(rig) == [*ids, elsewhere]
    rig.clock.advance(ONE_SECOND_NS)
    assert _send(rig, s2, Cancel("x")) == []
    assert _cancels(rig) == [*ids, elsewhere, other]


def test_mass_cancel_walked_a_slice_per_turn_then_every_cancel_of_every_slice_counted(tmp_path: Path) -> None:
    resting = MASS_CANCEL_WALK_SLICE + 10  # two slices
    rig, _ = _rig(tmp_path, {"per_strategy": resting + 2})
    s1 = self_numbered_link(rig, "S1")
    ids = _rest(rig, s1, [f"r{n}" for n in range(resting)])
    spare = _rest(rig, s1, ["p", "q", "z"], symbol="MSFT")
    s1.defers_reads = True
    turns: list[Callable[[], None]] = []
    rig.engine.replay_scheduler = lambda callback, delay: turns.append(callback)
    s1.req_seq += 1
    rig.engine.link_data(s1, encode_frame(MassCancel(symbol="AAPL", request_id="M1", req_seq=s1.req_seq)), 0)
    assert len(_cancels(rig)) == MASS_CANCEL_WALK_SLICE and turns  # walked: the rest on later turns
    while turns:
        turns.pop(0)()
    assert _cancels(rig) == ids and s1.received() == [MassCancelAck("M1", resting)]
    s1.defers_reads = False
    assert _send(rig, s1, Cancel("p")) == []  # the two left of the limit
    assert _send(rig, s1, Cancel("q")) == []
    assert _codes(_send(rig, s1, Cancel("z"))) == ["CANCEL_RATE_STRATEGY"]  # before: passed
    assert _cancels(rig) == [*ids, *spare[:2]]


def test_mass_cancel_while_halted_then_not_counted_as_a_single_cancel_is_not(tmp_path: Path) -> None:
    rig, risk = _rig(tmp_path, {"per_strategy": 2})
    s1 = self_numbered_link(rig, "S1")
    ids = _rest(rig, s1, ["a", "b", "c"])
    spare = _rest(rig, s1, ["x", "y"], symbol="MSFT")
    risk.halt(who="test")  # the throttle is not applied while HALTED, and nothing is counted
    assert _send(rig, s1, MassCancel(symbol="AAPL", request_id="M1")) == [MassCancelAck("M1", 3)]
    risk.set_trading_state(TradingState.ACTIVE, who="test")
    assert _send(rig, s1, Cancel("x")) == [] and _send(rig, s1, Cancel("y")) == []
    assert _cancels(rig) == [*ids, *spare]
    assert all(rig.engine.orders[i].state is OrderState.PENDING_CANCEL for i in [*ids, *spare])


# ---- a filtered MassCancel is checked as one Cancel (strat60b) ------------------------------------------------------
# rev60merge3 MEDIUM 1: a MassCancel filtered to one symbol is a single Cancel that was never throttled: 300
# MassCancels of one order each all passed a limit of 100 a second, and a re-quote loop (NewOrder, then a MassCancel
# of its symbol) held 1,899 cancels a second. The flatten (a MassCancel without filters) is still never refused.

FLATTEN = "A MassCancel without filters cancels every open order of yours and is never refused"


def _refused(events: list[Any], code: str) -> bool:
    (answer,) = events
    return (
        isinstance(answer, MassCancelRejected)
        and answer.code == code
        and "nothing canceled" in answer.text
        and answer.text.endswith(FLATTEN)
    )


def test_filtered_mass_cancel_while_the_strategy_window_is_full_then_refused_whole_and_the_flatten_still_goes(
    tmp_path: Path,
) -> None:
    rig, _ = _rig(tmp_path, {"per_strategy": 3})
    s1 = self_numbered_link(rig, "S1")
    ids = _rest(rig, s1, ["a", "b", "c", "d", "e"])
    spare = _rest(rig, s1, ["x"], symbol="MSFT")
    for name in ("a", "b", "c"):
        assert _send(rig, s1, Cancel(name)) == []
    assert _codes(_send(rig, s1, Cancel("d"))) == ["CANCEL_RATE_STRATEGY"]
    got = _send(rig, s1, MassCancel(symbol="AAPL", request_id="M1"))
    assert _refused(got, "CANCEL_RATE_STRATEGY"), got  # before: MassCancelAck("M1", 5), d and e canceled
    assert _send(rig, s1, MassCancel(account="ACC1", venue="V1", request_id="M2"))[0].code == "CANCEL_RATE_STRATEGY"
    assert _cancels(rig) == ids[:3]  # nothing of either canceled
    # one that has nothing to cancel is answered as before (no Cancel to throttle)
    assert _send(rig, s1, MassCancel(symbol="TSLA", request_id="M3")) == [MassCancelAck("M3", 0)]
    # the flatten: never refused
    assert _send(rig, s1, MassCancel(request_id="M4")) == [MassCancelAck("M4", 6)]
    assert _cancels(rig) == [*ids, *spare]


def test_requote_loop_of_new_order_and_one_order_mass_cancel_then_throttled_at_the_limit(tmp_path: Path) -> None:
    rig, _ = _rig(tmp_path, {"per_strategy": 5})
    s1 = self_numbered_link(rig, "S1")
    answers = []
    for n in range(8):
        _rest(rig, s1, [f"q{n}"])
        answers.append(_send(rig, s1, MassCancel(symbol="AAPL", request_id=f"M{n}")))
    assert [type(got[0]) for got in answers[:5]] == [MassCancelAck] * 5
    assert all(_refused(got, "CANCEL_RATE_STRATEGY") for got in answers[5:]), answers[5:]  # before: all 8 passed
    assert len(_cancels(rig)) == 5
    rig.clock.advance(ONE_SECOND_NS)  # a second later, room again: the 3 left in one
    assert _send(rig, s1, MassCancel(symbol="AAPL", request_id="N")) == [MassCancelAck("N", 8)]  # 5 canceling
    assert len(_cancels(rig)) == 8


def test_filtered_mass_cancel_while_another_strategy_filled_the_account_window_then_carried_out(
    tmp_path: Path,
) -> None:
    """rev60merge8 MEDIUM 2: only the strategy's own window refuses a filtered MassCancel; the account's and the
    symbol's, which other strategies fill too, do not (strat60b refused S1's pull here, nothing canceled)."""
    rig, _ = _rig(tmp_path, {"per_account": 2})
    s1 = self_numbered_link(rig, "S1")
    s2 = self_numbered_link(rig, "S2")
    mine = _rest(rig, s1, ["a", "b"])
    theirs = _rest(rig, s2, ["x", "y"])
    assert _send(rig, s2, Cancel("x")) == [] and _send(rig, s2, Cancel("y")) == []  # ACC1's 2 used up by S2
    assert _send(rig, s1, MassCancel(account="ACC1", request_id="M1")) == [MassCancelAck("M1", 2)]
    assert _cancels(rig) == [*theirs, *mine]


def test_venue_filtered_mass_cancel_with_a_symbol_window_full_then_carried_out_whole(tmp_path: Path) -> None:
    rig, _ = _rig(tmp_path, {"per_symbol": 2})
    s1 = self_numbered_link(rig, "S1")
    s2 = self_numbered_link(rig, "S2")
    theirs = _rest(rig, s2, ["x", "y"], account="ACC2")
    (aapl,) = _rest(rig, s1, ["a"])
    (msft,) = _rest(rig, s1, ["m"], symbol="MSFT")
    assert _send(rig, s2, Cancel("x")) == [] and _send(rig, s2, Cancel("y")) == []  # AAPL's 2, firm-wide
    assert _send(rig, s1, MassCancel(venue="V1", request_id="M1")) == [MassCancelAck("M1", 2)]
    assert _cancels(rig) == [*theirs, aapl, msft]


def test_filtered_mass_cancel_refused_then_counted_in_the_cancel_rejects(tmp_path: Path) -> None:
    """rev60merge8 LOW 3: a refused filtered MassCancel showed in no metric (`gateway_cancel_rejects_total`)."""
    rig, _ = _rig(tmp_path, {"per_strategy": 1})
    s1 = self_numbered_link(rig, "S1")
    _rest(rig, s1, ["a", "b"])
    assert _send(rig, s1, Cancel("a")) == []  # the strategy's window is full
    assert _refused(_send(rig, s1, MassCancel(symbol="AAPL", request_id="M1")), "CANCEL_RATE_STRATEGY")
    assert rig.engine.cancel_rejects[(RejectSource.RISK, "CANCEL_RATE_STRATEGY")] == 1


def test_filtered_mass_cancel_in_version_1_while_the_window_is_full_then_carried_out(tmp_path: Path) -> None:
    """rev60merge8 MEDIUM 1: version 1 has no MassCancel answer, so strat60b's refusal was silent (its orders left
    open, nothing logged or counted): a version-1 MassCancel is never refused; its Cancels are counted."""
    rig, _ = _rig(tmp_path, {"per_strategy": 1})
    s1 = rig.connect("S1", version=1)
    ids = _rest(rig, s1, ["a", "b"])
    rig.engine.link_data(s1, encode_frame(Cancel("a")), rig.clock())  # the strategy's window is full
    rig.engine.link_data(s1, encode_frame(MassCancel(symbol="AAPL")), rig.clock())
    rig.engine.flush()
    assert _cancels(rig) == ids  # strat60b: only "a" (the MassCancel refused, unanswered)


def test_filtered_mass_cancel_while_halted_or_reducing_then_never_refused(tmp_path: Path) -> None:
    rig, risk = _rig(tmp_path, {"per_strategy": 1})
    s1 = self_numbered_link(rig, "S1")
    ids = _rest(rig, s1, ["a", "b", "c"])
    assert _send(rig, s1, Cancel("a")) == []  # the window is full
    risk.halt(who="test")  # the throttle is not applied while HALTED (as for a single Cancel)
    assert _send(rig, s1, MassCancel(symbol="AAPL", request_id="M1")) == [MassCancelAck("M1", 3)]
    assert _cancels(rig) == ids

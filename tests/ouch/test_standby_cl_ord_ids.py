"""A standby host taking over an OUCH session never enters a ClOrdID the day's earlier traffic used (standby53).

OUCH 5.0's ClOrdID is the order's CAT identifier and the venue does not check it for uniqueness; the gateway's is
the decimal order id (``Z`` + base 36 past 14 digits). A standby host with neither the journal nor the state_dir
starts its order ids at 1, and the primary used 1..N: before standby53 its first orders went out as ClOrdIDs 1, 2...
again (rev53ops), under fresh UserRefNums the venue took. Now the ClOrdIDs of the earlier traffic's Accepted,
Replaced, Rejected (and Broken Trade) messages raise the engine's order ids before the venue goes UP, and the
floor is kept in the UserRefNum store's file for a restart the same day. A ClOrdID of another form (another firm's
gateway) cannot collide and raises nothing. Real engine and journal over the strict OUCH simulator (fake clock).
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from gateway.engine import Engine
from gateway.protocol.messages import NewOrder, OrderAccepted, OrderRejected
from model.enums import Side
from simulators.ouch.exchange import ExchangeConfig
from simulators.ouch.simulator import SimulatorConfig
from tests.harness import Rig, ScriptedVenue
from tests.ouch.harness import DAY, PX, Link, gateway_over
from tests.ouch.test_standby_restart import _restart, _run
from venues.base import VenueAdapter
from venues.ouch.adapter import _cl_ord_id, _order_id_of
from venues.ouch.codec import encode_message
from venues.ouch.messages import EnterOrder
from venues.ouch.refstore import UserRefNumStore

RESTING = PX - 100
PRIMARY = 5


def _entered(link: Link) -> list[str]:
    """Return the ClOrdIDs of every Enter Order the venue received today, in order (whoever sent it)."""
    return [r.cl_ord_id.strip() for r in link.core.exchange.records if r.type == "O"]


def _primary(tmp_path: Path, orders: int = PRIMARY) -> Link:
    """The primary trades ``orders`` orders (ClOrdIDs 1..orders, one rejected), then is gone with its disk."""
    exchange = ExchangeConfig(reference_prices={"AAPL": PX}, strict_user_ref_num=True, max_order_qty=1_000)
    first = Link(tmp_path / "a" / "ouch", sim=SimulatorConfig(exchange=exchange))
    engine, rig = gateway_over(first, tmp_path / "a" / "journal")
    first.connect()
    strat = rig.connect("S1")
    for n in range(orders):
        qty = 5_000 if n == orders - 1 else 100 + n  # the last one is rejected by the venue (Rejected J)
        rig.send(strat, NewOrder(f"o{n}", "ACC1", "nasdaq", "AAPL", Side.BUY, qty, RESTING - n))
        engine.flush()
        first.pump()
        engine.flush()
    first.disconnect()
    return first


class _NarrowVenue(ScriptedVenue):
    """Another venue whose order references carry order ids up to 999 only (as a BOE ``cl_ord_id_prefix`` does)."""

    def max_order_id(self) -> int:
        return 999


def _standby(first: Link, tmp_path: Path, other: VenueAdapter | None = None) -> tuple[Link, Engine, Rig]:
    second = Link(tmp_path / "b" / "ouch", core=first.core, clock=first.clock)
    engine2, rig2 = gateway_over(second, tmp_path / "b" / "journal")
    if other is not None:
        engine2.add_venue(other)
    second.connect()
    engine2.flush()
    _run(second, engine2, 3)
    assert second.venue.state.value == "UP"
    return second, engine2, rig2


def _trade(link: Link, engine: Engine, rig: Rig, names: list[str]) -> list[str]:
    strat = rig.connect("S1")
    for name in names:
        rig.send(strat, NewOrder(name, "ACC1", "nasdaq", "AAPL", Side.BUY, 50, RESTING))
        engine.flush()
        link.pump()
        engine.flush()
    return [m.cl_ord_id for m in strat.received() if isinstance(m, OrderAccepted)]


def test_a_standby_host_taking_over_when_the_primary_used_clordids_then_its_orders_use_new_ones(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    first = _primary(tmp_path)
    primary = _entered(first)
    assert primary == [str(n) for n in range(1, PRIMARY + 1)]
    assert any(r.outcome.startswith("rejected") for r in first.core.exchange.records)  # a Rejected J in the replay
    with caplog.at_level(logging.WARNING, logger="venues.ouch.adapter"):
        second, engine2, rig2 = _standby(first, tmp_path)
    assert engine2.next_order_id == PRIMARY + 1  # before standby53: 1
    assert _trade(second, engine2, rig2, ["n1", "n2"]) == ["n1", "n2"]

    entered = _entered(first)
    assert entered[PRIMARY:] == [str(PRIMARY + 1), str(PRIMARY + 2)]  # old: "1", "2" again
    assert len(set(entered)) == len(entered)
    assert first.core.exchange.violations == []
    assert f"ClOrdIDs of this gateway's form up to {PRIMARY} ({PRIMARY} of them)" in caplog.text
    assert second.store.order_ids == PRIMARY  # on file: a restart the same day keeps it


def test_a_standby_host_restarted_before_sending_when_the_earlier_traffic_is_not_replayed_then_ids_stay_above(
    tmp_path: Path,
) -> None:
    first = _primary(tmp_path)
    second, _engine2, _rig2 = _standby(first, tmp_path)
    second.disconnect()  # stopped before it sent anything: its journal holds nothing, its ids would start at 1

    third, engine3, rig3 = _restart(first, tmp_path, "j2")
    assert third.venue.order_id_floor() == PRIMARY  # the core starts new ids above it (``gateway run``: app)
    engine3.next_order_id = max(engine3.next_order_id, third.venue.order_id_floor() + 1)
    third.connect()
    engine3.flush()
    _run(third, engine3, 3)
    assert third.venue.status()["earlier_traffic"] == 0  # logged in after the earlier traffic: nothing re-read
    assert _trade(third, engine3, rig3, ["n1"]) == ["n1"]
    entered = _entered(first)
    assert entered[PRIMARY:] == [str(PRIMARY + 1)]
    assert first.core.exchange.violations == []


def test_a_standby_host_when_the_earlier_clordids_are_another_firms_then_ids_start_at_1(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Letters, leading zeros or spaces: no ClOrdID of that form is the gateway's; its ids are not raised."""
    exchange = ExchangeConfig(reference_prices={"AAPL": PX}, strict_user_ref_num=True)
    first = Link(tmp_path / "a" / "ouch", sim=SimulatorConfig(exchange=exchange))
    venue = first.core.exchange
    for urn, cl_ord_id in enumerate(["ACME-1", "0000000000002", " 3", "Z1", "x4"], start=1):
        enter = EnterOrder(urn, "B", 100, "AAPL", RESTING, "0", "Y", "A", "N", "N", cl_ord_id)
        venue.on_message(encode_message(enter))
    assert venue.next_user_ref_num() == 6
    with caplog.at_level(logging.WARNING, logger="venues.ouch.adapter"):
        second, engine2, rig2 = _standby(first, tmp_path)
    assert second.venue.status()["earlier_traffic"] == 5
    assert engine2.next_order_id == 1
    assert _trade(second, engine2, rig2, ["n1"]) == ["n1"]
    assert _entered(first)[-1] == "1"
    assert "5 ClOrdIDs are not in this gateway's form" in caplog.text
    assert second.store.order_ids == 0


@pytest.mark.parametrize("narrow", [False, True])
def test_a_standby_host_when_an_earlier_clordid_is_past_another_venues_room_then_ids_start_above_the_rest(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, narrow: bool
) -> None:
    """A 14-digit decimal ClOrdID (another firm's date-and-counter format, say) among the primary's 1..5.

    Alone on OUCH the ids start above it; with a venue whose references carry ids up to 999 only, ids past 999
    would leave that venue refusing every order (and could not reach the 14-digit one without that): above 5.
    """
    first = _primary(tmp_path)
    foreign = 20_261_206_000_123
    enter = EnterOrder(PRIMARY + 1, "B", 100, "AAPL", RESTING, "0", "Y", "A", "N", "N", str(foreign))
    first.core.exchange.on_message(encode_message(enter))
    with caplog.at_level(logging.WARNING, logger="venues.ouch.adapter"):
        second, engine2, rig2 = _standby(first, tmp_path, _NarrowVenue("BOE") if narrow else None)
    floor = PRIMARY if narrow else foreign
    assert engine2.next_order_id == floor + 1
    assert second.store.order_ids == floor
    assert f"up to {foreign} ({PRIMARY + 1} of them): new order ids start above {floor}" in caplog.text
    assert ("past another venue's room" in caplog.text) is narrow
    assert _trade(second, engine2, rig2, ["n1"]) == ["n1"]
    assert _entered(first)[-1] == str(floor + 1)


def test_order_id_of_when_a_clordid_is_the_gateways_form_then_its_id_else_0() -> None:
    for order_id in (1, 42, 10**14 - 1, 10**14, 36**13 - 1):
        assert _order_id_of(_cl_ord_id(order_id)) == order_id
    for other in (b"0", b"007", b" 7", b"+7", b"-7", b"1_0", b"Z0001", b"Zab", b"ZZ", b"ACME-1", b"", b"Z"):
        assert _order_id_of(other.ljust(14)) == 0, other


def test_store_order_ids_when_floored_then_kept_the_same_day_and_across_sessions_not_the_next_day(
    tmp_path: Path,
) -> None:
    store = UserRefNumStore(tmp_path, "v", today=lambda: DAY, block=1_000)
    store.wait_limit = 30.0
    store.bind("S1")
    store.ensure_above(60)
    assert store.floor(61, 4_194_310)
    assert UserRefNumStore(tmp_path, "v", today=lambda: DAY, block=1_000).order_ids == 4_194_310
    store.bind("S2")  # a session change the same day: ClOrdIDs are unique through the day
    assert UserRefNumStore(tmp_path, "v", today=lambda: DAY, block=1_000).order_ids == 4_194_310
    assert UserRefNumStore(tmp_path, "v", today=lambda: "20991231", block=1_000).order_ids == 0


def test_a_standby_host_when_a_strategy_sends_before_the_takeover_is_up_then_refused_and_nothing_entered(
    tmp_path: Path,
) -> None:
    """Orders before the venue is UP (reading the replay, asking NextUserRefNum) are refused VENUE_UNAVAILABLE."""
    exchange = ExchangeConfig(reference_prices={"AAPL": PX}, strict_user_ref_num=True)
    sim = SimulatorConfig(exchange=exchange, heartbeat_after_replay=False)  # the replay ends at a later heartbeat
    first = Link(tmp_path / "a" / "ouch", sim=sim)
    engine, rig = gateway_over(first, tmp_path / "a" / "journal")
    first.connect()
    _run(first, engine, 2)
    assert _trade(first, engine, rig, [f"o{n}" for n in range(PRIMARY)]) == [f"o{n}" for n in range(PRIMARY)]
    first.disconnect()
    second = Link(tmp_path / "b" / "ouch", core=first.core, clock=first.clock)
    engine2, rig2 = gateway_over(second, tmp_path / "b" / "journal")
    now = second.clock()
    second.connection = second.core.connect(now)  # Link.connect without its settling: no heartbeat yet
    second.venue.attach(second._write, second._close)
    second.venue.connection_made(now)
    second.pump()
    engine2.flush()
    assert second.venue.state.value == "LOGGING_IN"
    strat = rig2.connect("S1")
    rig2.send(strat, NewOrder("early", "ACC1", "nasdaq", "AAPL", Side.BUY, 50, RESTING))
    engine2.flush()
    second.pump()
    refused = [m for m in strat.received() if isinstance(m, OrderRejected)]
    assert [(m.cl_ord_id, m.code) for m in refused] == [("early", "VENUE_UNAVAILABLE")]
    _run(second, engine2, 3)  # the heartbeat ends the replay, the Account Query is answered: UP
    assert second.venue.state.value == "UP"
    assert engine2.next_order_id == PRIMARY + 1  # the refused order's id 1 and the primary's 1..5 are behind it
    rig2.send(strat, NewOrder("n1", "ACC1", "nasdaq", "AAPL", Side.BUY, 50, RESTING))
    engine2.flush()
    second.pump()
    engine2.flush()
    assert [m.cl_ord_id for m in strat.received() if isinstance(m, OrderAccepted)] == ["n1"]
    assert _entered(first) == [str(n) for n in range(1, PRIMARY + 2)]
    assert first.core.exchange.violations == []

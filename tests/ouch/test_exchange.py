"""Exchange core: OUCH 5.0 order semantics, configurable fills and rejects, the inbound record."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from model.clock import FakeClock
from simulators.ouch.exchange import Exchange, ExchangeConfig, read_records
from venues.ouch.codec import decode_outbound, encode_message
from venues.ouch.errors import DecodeError
from venues.ouch.messages import (
    AccountQuery,
    AccountQueryResponse,
    BrokenTrade,
    CancelOrder,
    CancelReject,
    DisableOrderEntry,
    DisableOrderEntryResponse,
    EnableOrderEntry,
    EnableOrderEntryResponse,
    EnterOrder,
    MassCancel,
    MassCancelResponse,
    ModifyOrder,
    OrderAccepted,
    OrderCanceled,
    OrderExecuted,
    OrderModified,
    OrderRejected,
    OrderReplaced,
    OutboundMessage,
    ReplaceOrder,
)
from venues.ouch.options import Options

PX = 1_000_000  # $100.00
TS = 34_200_000_000_000


class Venue:
    """An exchange whose output is decoded back into messages."""

    def __init__(self, config: ExchangeConfig | None = None, **kwargs: Any) -> None:
        self.out: list[OutboundMessage] = []
        self.clock = FakeClock()
        self.exchange = Exchange(
            config or ExchangeConfig(reference_prices={"AAPL": PX}),
            self._emit,
            clock=self.clock,
            timestamp=lambda: TS,
            **kwargs,
        )

    def _emit(self, data: bytes) -> None:
        decoded = decode_outbound(data)
        assert not isinstance(decoded, DecodeError), decoded
        self.out.append(decoded)

    def send(self, message: Any) -> list[OutboundMessage]:
        start = len(self.out)
        self.exchange.on_message(encode_message(message))
        return self.out[start:]


def enter(
    urn: int,
    *,
    qty: int = 100,
    price: int = PX - 100,
    side: str = "B",
    symbol: str = "AAPL",
    tif: str = "0",
    **opts: Any,
) -> EnterOrder:
    return EnterOrder(urn, side, qty, symbol, price, tif, "Y", "A", "N", "N", f"C{urn}", Options(**opts))


def replace(orig: int, urn: int, qty: int, price: int = PX - 200, **opts: Any) -> ReplaceOrder:
    return ReplaceOrder(orig, urn, qty, price, "0", "Y", "N", f"R{urn}", Options(**opts))


def test_enter_when_not_marketable_then_accepted_live_and_resting() -> None:
    venue = Venue()
    (accepted,) = venue.send(enter(1))
    assert isinstance(accepted, OrderAccepted)
    assert (accepted.user_ref_num, accepted.quantity, accepted.price, accepted.order_state) == (
        1,
        100,
        PX - 100,
        "L",
    )
    assert accepted.timestamp == TS
    assert accepted.cl_ord_id == "C1"
    assert list(venue.exchange.orders) == [1]
    assert venue.exchange.records[-1].outcome == "accepted"


def test_enter_when_buy_at_or_through_reference_then_executed_at_reference_removing_liquidity() -> None:
    venue = Venue()
    accepted, executed = venue.send(enter(1, qty=300, price=PX + 5000))
    assert isinstance(accepted, OrderAccepted)
    assert isinstance(executed, OrderExecuted)
    assert (executed.user_ref_num, executed.quantity, executed.price, executed.liquidity_flag) == (
        1,
        300,
        PX,
        "R",
    )
    assert venue.exchange.orders == {}


def test_enter_when_sell_at_reference_then_executed() -> None:
    venue = Venue()
    out = venue.send(enter(1, side="S", price=PX))
    assert isinstance(out[1], OrderExecuted)


def test_enter_when_user_ref_num_not_above_last_then_silently_ignored() -> None:
    venue = Venue()
    venue.send(enter(5))
    assert venue.send(enter(5)) == []
    assert venue.send(enter(3)) == []
    assert [r.outcome for r in venue.exchange.records] == [
        "accepted",
        "ignored:user-ref-num-not-increasing",
        "ignored:user-ref-num-not-increasing",
    ]


def test_strict_mode_when_a_user_ref_num_is_reused_or_lower_then_each_recorded_as_a_violation() -> None:
    venue = Venue(ExchangeConfig(reference_prices={"AAPL": PX}, strict_user_ref_num=True))
    venue.send(enter(5))
    assert venue.send(enter(5)) == []
    assert venue.send(enter(3)) == []
    assert len(venue.send(enter(6))) == 1
    assert [r.outcome for r in venue.exchange.records] == [
        "accepted",
        "violation:user-ref-num-not-increasing",
        "violation:user-ref-num-not-increasing",
        "accepted",
    ]
    assert [(r.type, r.user_ref_num) for r in venue.exchange.violations] == [("O", 5), ("O", 3)]


def test_enter_when_rejected_then_number_is_consumed() -> None:
    venue = Venue(ExchangeConfig(reject_symbols=frozenset({"BAD"})))
    (rejected,) = venue.send(enter(1, symbol="BAD"))
    assert isinstance(rejected, OrderRejected)
    assert (rejected.user_ref_num, rejected.reason, rejected.cl_ord_id) == (1, 0x17, "C1")
    assert venue.send(enter(1)) == []
    assert venue.exchange.records[0].outcome == "rejected:0x0017"


def test_enter_when_details_break_a_rule_then_rejected_with_the_ouch_code() -> None:
    venue = Venue(ExchangeConfig(reference_prices={"AAPL": PX}, max_order_qty=1000, price_band=0.1))
    codes = []
    for urn, message in enumerate(
        [
            enter(0, qty=1001),
            enter(0, price=PX * 12 // 10),
            enter(0, price=0),
            enter(0, qty=0),
            enter(0, qty=10**6),
        ],
        start=1,
    ):
        (rejected,) = venue.send(EnterOrder(urn, *[getattr(message, f) for f in EnterOrder.__struct_fields__[1:]]))
        assert isinstance(rejected, OrderRejected)
        codes.append(rejected.reason)
    assert codes == [0x1E, 0x06, 0x1D, 0x13, 0x13]


def test_enter_when_ioc_not_marketable_then_accepted_dead_and_nothing_rests() -> None:
    venue = Venue()
    (accepted,) = venue.send(enter(1, tif="3"))
    assert isinstance(accepted, OrderAccepted)
    assert accepted.order_state == "D"
    assert venue.exchange.orders == {}


def test_enter_when_ioc_partially_filled_then_remainder_canceled_with_reason_i() -> None:
    venue = Venue(ExchangeConfig(reference_prices={"AAPL": PX}, partial_fills=True, seed=3))
    accepted, executed, canceled = venue.send(enter(1, qty=1000, price=PX, tif="3"))
    assert isinstance(accepted, OrderAccepted)
    assert accepted.order_state == "L"
    assert isinstance(executed, OrderExecuted)
    assert isinstance(canceled, OrderCanceled)
    assert 0 < executed.quantity < 1000
    assert (canceled.quantity, canceled.reason) == (1000 - executed.quantity, "I")


def test_fill_ratio_when_same_seed_then_same_fills_and_zero_never_fills() -> None:
    def fills(ratio: float, seed: int) -> list[bool]:
        venue = Venue(ExchangeConfig(reference_prices={"AAPL": PX}, fill_ratio=ratio, seed=seed))
        return [len(venue.send(enter(i, price=PX))) == 2 for i in range(1, 41)]

    assert fills(0.5, 7) == fills(0.5, 7)
    assert 5 < sum(fills(0.5, 7)) < 35
    assert not any(fills(0.0, 7))
    assert all(fills(1.0, 7))


def test_replace_when_chain_had_executions_then_quantity_counts_the_whole_chain() -> None:
    venue = Venue()
    venue.send(enter(1, qty=500))
    assert venue.exchange.execute(1, 100)
    (replaced,) = venue.send(replace(1, 2, 500))
    assert isinstance(replaced, OrderReplaced)
    assert (replaced.orig_user_ref_num, replaced.user_ref_num, replaced.quantity) == (1, 2, 400)
    assert replaced.order_reference_number != venue.out[0].order_reference_number  # type: ignore[union-attr]
    assert replaced.cl_ord_id == "R2"
    assert list(venue.exchange.orders) == [2]
    assert venue.send(CancelOrder(1, 0)) == []


def test_replace_when_new_number_already_used_then_silently_ignored() -> None:
    venue = Venue()
    venue.send(enter(1))
    venue.send(enter(2))
    assert venue.send(replace(1, 2, 200)) == []
    assert venue.exchange.records[-1].outcome == "ignored:user-ref-num-not-increasing"
    assert venue.exchange.orders[1].open == 100


def test_replace_when_original_not_live_then_ignored_and_number_not_consumed() -> None:
    venue = Venue()
    assert venue.send(replace(1, 2, 200)) == []
    assert venue.exchange.records[-1].outcome == "ignored:original-not-live"
    (accepted,) = venue.send(enter(2))
    assert isinstance(accepted, OrderAccepted)


def test_replace_when_details_invalid_then_original_canceled_and_number_not_consumed() -> None:
    venue = Venue(ExchangeConfig(reference_prices={"AAPL": PX}, max_order_qty=1000))
    venue.send(enter(1, qty=300))
    (canceled,) = venue.send(replace(1, 2, 5000))
    assert isinstance(canceled, OrderCanceled)
    assert (canceled.user_ref_num, canceled.quantity, canceled.reason) == (1, 300, "U")
    assert venue.exchange.orders == {}
    assert venue.exchange.records[-1].outcome == "invalid:0x001E:original-canceled"
    assert isinstance(venue.send(enter(2))[0], OrderAccepted)


def test_replace_when_original_cannot_be_replaced_then_rejected_consuming_the_number() -> None:
    venue = Venue(ExchangeConfig(reject_replace_symbols=frozenset({"AAPL"})))
    venue.send(enter(1))
    (rejected,) = venue.send(replace(1, 2, 200))
    assert isinstance(rejected, OrderRejected)
    assert (rejected.user_ref_num, rejected.reason) == (2, 0x15)
    assert list(venue.exchange.orders) == [1]
    assert venue.send(enter(2)) == []


def test_replace_when_new_price_marketable_then_replaced_then_executed() -> None:
    venue = Venue()
    venue.send(enter(1, qty=200))
    replaced, executed = venue.send(replace(1, 2, 200, price=PX))
    assert isinstance(replaced, OrderReplaced)
    assert isinstance(executed, OrderExecuted)
    assert executed.user_ref_num == 2


def test_cancel_when_quantity_zero_then_everything_canceled_and_repeat_ignored() -> None:
    venue = Venue()
    venue.send(enter(1, qty=500))
    (canceled,) = venue.send(CancelOrder(1, 0))
    assert isinstance(canceled, OrderCanceled)
    assert (canceled.quantity, canceled.reason) == (500, "U")
    assert venue.send(CancelOrder(1, 0)) == []
    assert venue.exchange.records[-1].outcome == "ignored:order-not-live"


def test_cancel_when_quantity_is_a_smaller_size_then_partial_cancel_keeps_the_rest() -> None:
    venue = Venue()
    venue.send(enter(1, qty=500))
    (canceled,) = venue.send(CancelOrder(1, 300))
    assert isinstance(canceled, OrderCanceled)
    assert canceled.quantity == 200
    assert venue.exchange.orders[1].open == 300
    assert venue.send(CancelOrder(1, 400)) == []


def test_cancel_when_symbol_configured_to_refuse_then_cancel_reject() -> None:
    venue = Venue(ExchangeConfig(cancel_reject_symbols=frozenset({"AAPL"})))
    venue.send(enter(1))
    (reject,) = venue.send(CancelOrder(1, 0))
    assert isinstance(reject, CancelReject)
    assert list(venue.exchange.orders) == [1]


def test_mass_cancel_when_firm_and_symbol_given_then_matching_orders_canceled_then_response() -> None:
    venue = Venue()
    venue.send(enter(1))
    venue.send(enter(2, symbol="MSFT"))
    venue.send(enter(3, firm="OTHR"))
    out = venue.send(MassCancel(4, "SIMU", "AAPL"))
    assert [type(m) for m in out] == [OrderCanceled, MassCancelResponse]
    assert out[0].user_ref_num == 1  # type: ignore[union-attr]
    assert sorted(venue.exchange.orders) == [2, 3]
    assert venue.exchange.records[-1].outcome == "mass-canceled:1"


def test_account_query_when_asked_then_next_user_ref_num() -> None:
    venue = Venue()
    venue.send(enter(41))
    (response,) = venue.send(AccountQuery())
    assert isinstance(response, AccountQueryResponse)
    assert response.next_user_ref_num == 42


def test_disable_and_enable_when_requested_then_entry_blocked_then_allowed() -> None:
    venue = Venue()
    assert isinstance(venue.send(DisableOrderEntry(1, "SIMU"))[0], DisableOrderEntryResponse)
    (rejected,) = venue.send(enter(2))
    assert isinstance(rejected, OrderRejected)
    assert rejected.reason == 0x02
    assert isinstance(venue.send(EnableOrderEntry(3, "SIMU"))[0], EnableOrderEntryResponse)
    assert isinstance(venue.send(enter(4))[0], OrderAccepted)


def test_modify_when_sell_becomes_short_and_size_reduced_then_modified() -> None:
    venue = Venue()
    venue.send(enter(1, side="S", qty=500, price=PX + 100))
    (modified,) = venue.send(ModifyOrder(1, "T", 200))
    assert isinstance(modified, OrderModified)
    assert (modified.side, modified.quantity) == ("T", 200)
    assert venue.send(ModifyOrder(1, "B", 100)) == []


def test_user_ref_idx_when_channels_differ_then_numbers_are_independent_and_echoed() -> None:
    venue = Venue(ExchangeConfig(reject_symbols=frozenset({"BAD"})))
    assert isinstance(venue.send(enter(1))[0], OrderAccepted)
    assert isinstance(venue.send(enter(1, user_ref_idx=2))[0], OrderAccepted)
    (rejected,) = venue.send(enter(2, symbol="BAD", user_ref_idx=2))
    assert isinstance(rejected, OrderRejected)
    assert rejected.options.user_ref_idx == 2
    (canceled,) = venue.send(CancelOrder(1, 0, Options(user_ref_idx=2)))
    assert isinstance(canceled, OrderCanceled)
    assert canceled.options.user_ref_idx == 2
    assert list(venue.exchange.orders) == [1]


def test_on_message_when_malformed_then_counted_recorded_and_no_reply() -> None:
    venue = Venue()
    venue.exchange.on_message(b"O\x00\x00")
    venue.exchange.on_message(b"")
    assert venue.out == []
    assert venue.exchange.malformed == 2
    assert venue.exchange.records[0].outcome.startswith("malformed:truncated")


def test_numbers_when_many_orders_then_order_reference_and_match_numbers_unique() -> None:
    venue = Venue()
    for urn in range(1, 101):
        venue.send(enter(urn, price=PX if urn % 2 else PX - 1))
    refs = [m.order_reference_number for m in venue.out if isinstance(m, OrderAccepted)]
    matches = [m.match_number for m in venue.out if isinstance(m, OrderExecuted)]
    assert len(set(refs)) == len(refs) == 100
    assert len(set(matches)) == len(matches) == 50


def test_set_reference_price_when_resting_order_becomes_marketable_then_executed_adding_liquidity() -> None:
    venue = Venue()
    venue.send(enter(1, price=PX - 100))
    venue.exchange.set_reference_price("AAPL", PX - 100)
    executed = venue.out[-1]
    assert isinstance(executed, OrderExecuted)
    assert (executed.price, executed.liquidity_flag) == (PX - 100, "A")


def test_break_trade_when_match_known_then_broken_trade_sent() -> None:
    venue = Venue()
    venue.send(enter(1, price=PX))
    match = venue.out[-1].match_number  # type: ignore[union-attr]
    assert venue.exchange.break_trade(match)
    broken = venue.out[-1]
    assert isinstance(broken, BrokenTrade)
    assert (broken.user_ref_num, broken.match_number, broken.cl_ord_id) == (1, match, "C1")
    assert not venue.exchange.break_trade(1)


def test_record_path_when_set_then_every_inbound_message_appended_as_json_line(tmp_path: Path) -> None:
    path = tmp_path / "record.jsonl"
    venue = Venue(ExchangeConfig(reference_prices={"AAPL": PX}), record_path=path)
    venue.send(enter(1, qty=300))
    venue.send(enter(1))
    venue.send(replace(1, 2, 400))
    venue.send(CancelOrder(2, 0))
    venue.exchange.close()
    records = read_records(path)
    assert [(r.type, r.user_ref_num, r.outcome) for r in records] == [
        ("O", 1, "accepted"),
        ("O", 1, "ignored:user-ref-num-not-increasing"),
        ("U", 2, "replaced"),
        ("X", 2, "canceled"),
    ]
    assert (records[0].cl_ord_id, records[0].symbol, records[0].side, records[0].qty, records[0].price) == (
        "C1",
        "AAPL",
        "B",
        300,
        PX - 100,
    )
    assert records[2].orig_user_ref_num == 1

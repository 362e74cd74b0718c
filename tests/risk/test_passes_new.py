"""The hot path's ``passes_new``: never True for a request one of the checks it stands for would refuse.

``RiskEngine.check_and_commit_new`` runs ``passes_new`` and, when it says False, the whole chain, which
decides and words the answer; so the only way it could change an answer is by passing a request the
chain refuses. Random requests and limits rows here (the engine-level property, the hot path against
``explain``, is in test_properties.py).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from model.enums import Side
from risk.checks import (
    HOT_PATH_AFTER,
    NEW,
    NEW_ORDER_CHAIN,
    PASSES_NEW_COVERS,
    LimitsRow,
    RiskRequest,
    check_exposure,
    check_price,
    check_shape,
    check_short_sale,
    check_state,
    new_order_chain_problem,
    passes_new,
)
from risk.duplicates import DuplicateFilter
from risk.exposure import AccountState, PositionState
from risk.resolve import EffectiveLimits

_small = st.integers(0, 40)
_signed = st.integers(-40, 40)


def _mostly(usual: st.SearchStrategy[int], rare: st.SearchStrategy[int]) -> st.SearchStrategy[int]:
    """``usual`` nine times in ten, ``rare`` otherwise."""
    return st.integers(0, 9).flatmap(lambda k: usual if k < 9 else rare)


_limit = _mostly(st.just(10**6), st.integers(0, 40))
"""A limit: tight (near the request's figures) or out of the way, so that every check is sometimes the one."""


@st.composite
def _limits(draw: st.DrawFn) -> EffectiveLimits:
    fields: dict[str, Any] = {name: draw(_limit) for name in EffectiveLimits.__struct_fields__}
    for flag in ("allow_market_orders", "allow_short_sales", "allow_short_exempt", "allow_missing_reference"):
        fields[flag] = draw(st.booleans())
    fields["trading_state"] = draw(_mostly(st.just(0), st.integers(1, 2)))
    fields["restriction"] = draw(_mostly(st.just(0), st.integers(1, 2)))
    fields["tick_size"] = draw(st.sampled_from([1, 1, 2, 5]))
    fields["lot_size"] = draw(st.sampled_from([1, 1, 2, 5]))
    fields["max_notional"] = draw(_mostly(st.just(10**9), st.integers(0, 2000)))
    fields["max_open_notional"] = draw(_mostly(st.just(10**9), st.integers(0, 2000)))
    fields["credit_limit"] = draw(_mostly(st.just(10**9), st.integers(0, 3000)))
    fields["collar_pct"] = draw(_mostly(st.just(0), st.sampled_from([1_000_000, 10_000_000, 50_000_000])))
    fields["collar_ticks"] = draw(_mostly(st.just(0), st.sampled_from([1, 5, 20])))
    return msgspec.convert(fields, EffectiveLimits)


@st.composite
def _requests(draw: st.DrawFn) -> RiskRequest:
    r = RiskRequest(({}, {}, {}), ({}, {}, {}), DuplicateFilter())
    r.kind = NEW
    r.limits = limits = draw(_limits())
    r.state = max(limits.trading_state, draw(_mostly(st.just(0), st.integers(1, 2))))
    r.side = side = draw(st.sampled_from(list(Side)))
    r.is_buy = side == Side.BUY
    r.is_market = draw(st.sampled_from([False, False, False, True]))
    r.qty = qty = draw(_mostly(st.integers(1, 40), st.integers(-5, 0)))
    r.price = 0 if r.is_market else draw(_mostly(st.integers(1, 60), st.integers(-5, 0)))
    r.reference = draw(_mostly(st.integers(1, 60), st.integers(-2, 0)))
    r.value_price = (r.reference if r.reference > 0 else 0) if r.is_market else r.price
    r.leaves = r.add_qty = qty - draw(st.sampled_from([0, 0, 0, 1, 3]))
    r.old_leaves = 0
    r.add_notional = r.leaves * r.value_price
    account = AccountState()
    account.open_orders = draw(_small)
    account.open_notional = draw(st.integers(0, 2000))
    account.traded_notional = draw(st.integers(0, 2000))
    position = PositionState()
    position.position = draw(_signed)
    position.open_buy_qty = draw(_small)
    position.open_sell_qty = draw(_small)
    r.account_state = account
    r.position = position
    r.symbol, r.account, r.strategy = "AAPL", "ACC1", "S1"
    return r


@settings(max_examples=3000, deadline=None)
@given(request=_requests())
def test_passes_new_when_true_then_every_check_it_stands_for_passes(request: RiskRequest) -> None:
    if passes_new(request):
        for check in PASSES_NEW_COVERS:  # a check listed there without its condition in passes_new fails here
            assert check(request, None) is None, check.__name__


@settings(max_examples=300, deadline=None)
@given(request=_requests())
def test_passes_new_when_an_ordinary_order_then_true_often_enough_to_be_the_hot_path(request: RiskRequest) -> None:
    """Not a property of correctness: the fast path must actually be taken for plain limit orders."""
    request.state = 0
    request.limits = msgspec.structs.replace(
        request.limits, restriction=0, tick_size=1, lot_size=1, max_qty=10**6, max_notional=10**9, collar_pct=0,
        collar_ticks=0, max_open_orders=10**6, max_open_notional=10**9, credit_limit=10**12, max_long_qty=10**6,
        max_short_qty=10**6, max_net_qty=10**6, allow_missing_reference=True,
    )  # fmt: skip
    request.is_market = False
    request.side = Side.BUY
    request.is_buy = True
    request.qty = request.leaves = request.add_qty = 5
    request.price = request.value_price = 7
    request.add_notional = 35
    assert passes_new(request)


def test_chain_when_fast_path_covers_the_first_five_then_duplicate_and_rate_follow() -> None:
    assert NEW_ORDER_CHAIN[:5] == (check_state, check_shape, check_price, check_short_sale, check_exposure)
    assert NEW_ORDER_CHAIN == PASSES_NEW_COVERS + HOT_PATH_AFTER
    assert new_order_chain_problem(NEW_ORDER_CHAIN) is None


_NEW_CHECK = """

def check_new_limit(r: RiskRequest, out: Verdicts | None) -> Denial | None:
    return Denial("NEW_LIMIT", "refused by the new check")

"""


@pytest.mark.parametrize("where", ["between exposure and duplicate", "last", "first"])
def test_checks_module_when_a_check_is_added_to_the_chain_only_then_import_fails(tmp_path: Path, where: str) -> None:
    """A check in NEW_ORDER_CHAIN that passes_new does not repeat would be skipped on the hot path: no import."""
    source = (Path(__file__).resolve().parents[2] / "risk" / "checks.py").read_text()  # the source, compiled or not
    chain = "NEW_ORDER_CHAIN: Final[tuple[Check, ...]] = (\n"
    start = source.index(chain) + len(chain)
    end = source.index(")\n", start)
    names = source[start:end].split()
    index = {"between exposure and duplicate": 5, "last": len(names), "first": 0}[where]
    names.insert(index, "check_new_limit,")
    edited = source[: source.index(chain)] + _NEW_CHECK + chain + "".join(f"    {name}\n" for name in names)
    edited += source[end:]
    path = tmp_path / "edited_checks.py"
    path.write_text(edited)
    spec = importlib.util.spec_from_file_location("edited_checks", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["edited_checks"] = module  # msgspec and dataclass-like machinery look the module up by name
    try:
        with pytest.raises(RuntimeError, match="passes_new") as raised:
            spec.loader.exec_module(module)
    finally:
        del sys.modules["edited_checks"]
    assert "check_new_limit" in str(raised.value) and "LimitsRow" in str(raised.value)


@settings(max_examples=50, deadline=None)
@given(limits=_limits())
def test_limits_row_when_built_then_every_field_is_the_limits_own(limits: EffectiveLimits) -> None:
    row = LimitsRow(limits)
    assert row.limits is limits
    copied = [name for name in EffectiveLimits.__struct_fields__ if hasattr(row, name)]
    assert len(copied) == 20  # every field passes_new and the rate windows read (not the cancel rates, ...)
    for name in copied:
        assert getattr(row, name) == getattr(limits, name), name


@settings(max_examples=50, deadline=None)
@given(request=_requests(), other=_limits())
def test_passes_new_when_limits_replaced_without_row_then_row_follows_the_new_limits(
    request: RiskRequest, other: EffectiveLimits
) -> None:
    passes_new(request)
    request.limits = other
    passes_new(request)
    assert request.row.limits is other

"""Shared helpers for risk tests: a small limits file with round numbers, orders, and a fake venue flow."""

from __future__ import annotations

import copy
import itertools
import os
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from model.clock import FakeClock
from model.denials import Denial
from model.enums import PRICE_SCALE, OrderType, Side, TimeInForce
from model.order import Order, apply_ack, apply_canceled, apply_fill, mark_sent, new_order_leaves, refuse
from risk.engine import RiskEngine

WALL_NS = 1_749_823_200_000_000_000
"""2025-06-13T14:00:00Z: the wall clock every test engine sees."""

BASE_LIMITS: dict[str, Any] = {
    "version": 1,
    "defaults": {
        "max_qty": 1000,
        "max_notional": 50000,
        "collar_pct": 5,
        "max_open_orders": 3,
        "max_open_notional": 120000,
        "credit_limit": 300000,
        "max_long_qty": 2000,
        "max_short_qty": 1500,
        "max_net_qty": 1800,
        "orders_per_s": {"per_strategy": 100, "per_account": 100, "per_symbol": 100},
        "cancels_per_s": {"per_strategy": 100, "per_account": 100, "per_symbol": 100},
        "duplicate_window_ms": 0,
        "allow_short_sales": True,
        "tick_size": 0.01,
        "lot_size": 1,
    },
    "reference_prices": {"max_age_s": 60},
    "accounts": {"ACC1": {}, "ACC2": {}},
}


def px(value: str | int | float) -> int:
    """Convert a price written in dollars to fixed-point."""
    return int(Decimal(str(value)) * PRICE_SCALE)


def merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """Deep-merge ``overrides`` into a copy of ``base`` (a None value deletes the key)."""
    out = copy.deepcopy(base)
    for key, value in overrides.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def write_limits(path: Path, overrides: dict[str, Any] | None = None) -> Path:
    """Write the base limits with ``overrides`` merged in as YAML to ``path``."""
    path.write_text(yaml.safe_dump(merge(BASE_LIMITS, overrides or {}), sort_keys=False))
    return path


def replace_file(path: Path, text: str) -> Path:
    """Replace ``path`` the way the file watch applies: write a copy beside it, then rename it over (``mv``)."""
    copy_path = path.with_name(path.name + ".new")
    copy_path.write_text(text)
    written_before(copy_path)
    os.replace(copy_path, path)
    return path


def written_before(path: Path) -> None:
    """Date ``path``'s last write a second back, as a copy written before its ``mv`` (no waiting).

    The watch takes a new file for a replacement only when its change time (moved on by the rename) is
    later than its modification time; a write and a rename within one clock tick leave them equal.
    """
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns - 1_000_000_000))


def replace_limits(path: Path, overrides: dict[str, Any] | None = None) -> Path:
    """``write_limits``, but as a replacement (a new inode at ``path``), as the file watch needs."""
    return replace_file(path, yaml.safe_dump(merge(BASE_LIMITS, overrides or {}), sort_keys=False))


def make_engine(
    tmp_path: Path, overrides: dict[str, Any] | None = None, reference: str | None = "100.00"
) -> tuple[RiskEngine, FakeClock]:
    """Build an engine over the base limits; AAPL (and MSFT) have a fresh reference unless told not to."""
    clock = FakeClock()
    path = write_limits(tmp_path / "limits.yaml", overrides)
    engine = RiskEngine.load(path, clock, tmp_path / "audit.jsonl", wall_clock=lambda: WALL_NS)
    if reference is not None:
        engine.set_reference_price("AAPL", px(reference), clock())
        engine.set_reference_price("MSFT", px(reference), clock())
    return engine, clock


_ids = itertools.count(1)


def order(
    side: Side = Side.BUY,
    qty: int = 100,
    price: str | int | float = "100.00",
    *,
    account: str = "ACC1",
    symbol: str = "AAPL",
    strategy: str = "S1",
    ord_type: OrderType = OrderType.LIMIT,
) -> Order:
    """Build a new order as the core would (PENDING_NEW, leaves = qty)."""
    order_id = next(_ids)
    made = Order(
        order_id,
        strategy,
        f"C{order_id}",
        account,
        "SIM",
        symbol,
        side,
        qty,
        0 if ord_type == OrderType.MARKET else px(price),
        TimeInForce.DAY,
        ord_type,
    )
    new_order_leaves(made)
    return made


def submit(engine: RiskEngine, new: Order, clock: FakeClock) -> Denial | None:
    """Do what the core does with a new order: check it and, if allowed, send it and count it open."""
    denial = engine.check_and_commit_new(new, clock())
    if denial is None:
        engine.on_order_opened(new)
        mark_sent(new, str(new.order_id))
        apply_ack(new, f"V{new.order_id}")
    else:
        refuse(new)
    return denial


def fill(engine: RiskEngine, target: Order, qty: int, price: str | int | float | None = None) -> None:
    """Apply an execution as the core does: order first, then risk."""
    fill_price = target.price if price is None else px(price)
    assert apply_fill(target, qty, fill_price)
    engine.on_execution(target, qty, fill_price)


def cancel(engine: RiskEngine, target: Order) -> None:
    """Cancel everything open on ``target`` as the venue would report it."""
    prev_leaves, prev_price = target.leaves_qty, target.price
    apply_canceled(target, 0)
    engine.on_open_changed(target, prev_leaves, prev_price)


def code(denial: Denial | None) -> str | None:
    """Return the denial's code (None if allowed)."""
    return None if denial is None else denial.code

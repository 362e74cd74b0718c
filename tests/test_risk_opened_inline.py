"""The engine's order path counts an order's open exposure once: risk's ``on_opened`` first test, inline.

``Engine._on_new_order`` asks the ``RiskEngine`` (``check_new``, which counts the order it lets through), sends
the order, then tells risk it is open. When ``check_new`` counted this order last, as it stands, the engine ends
there as ``RiskEngine.on_opened`` would (``opened_id`` reset, nothing recounted) without the call; otherwise it
calls it. Either way the exposure is the orders' own, counted once, and the shortcut is used up.
"""

from __future__ import annotations

from pathlib import Path

from benchmarks.bench_hotpath import Rig
from benchmarks.harness.plan import ACCOUNT, QTY, SYMBOL, price_of, side_of


def test_new_orders_when_sent_then_counted_once_and_the_shortcut_used_up(tmp_path: Path) -> None:
    rig = Rig(tmp_path / "rig")
    try:
        engine, risk = rig.engine, rig.risk
        sent = range(1, 7)
        for i in sent:
            engine.link_data(rig.link, rig.frames(i, 1), rig.clock())  # type: ignore[arg-type]
            assert risk._book.opened_id == -1  # as on_opened leaves it
        buys = sum(QTY for i in sent if side_of(i) == "B")
        sells = len(sent) * QTY - buys
        position = risk.position(ACCOUNT, SYMBOL)
        assert (position.open_buy_qty, position.open_sell_qty) == (buys, sells)
        exposure = risk.exposure(ACCOUNT)
        assert exposure.open_orders == len(sent)
        assert exposure.open_notional == sum(QTY * price_of(i) for i in sent)
    finally:
        rig.close()

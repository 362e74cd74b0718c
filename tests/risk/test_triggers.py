"""Each recipe in triggers.py makes the engine refuse with exactly its code; nothing refuses earlier."""

from __future__ import annotations

from pathlib import Path

import pytest

from model.enums import OrderType, Side
from risk import codes
from tests.risk.support import code, make_engine, order, submit
from tests.risk.triggers import RECIPES, Recipe

_SIDES = {"B": Side.BUY, "S": Side.SELL, "T": Side.SELL_SHORT, "E": Side.SELL_SHORT_EXEMPT}


def test_recipes_when_listed_then_every_code_but_internal_error_has_one() -> None:
    assert set(RECIPES) == set(codes.REASONS) - {codes.INTERNAL_ERROR}


@pytest.mark.parametrize("expected", sorted(RECIPES))
def test_recipe_when_applied_then_refused_with_its_code(tmp_path: Path, expected: str) -> None:
    recipe: Recipe = RECIPES[expected]
    for name, content in recipe.files.items():
        (tmp_path / name).write_text(content)
    reference = None if recipe.files else "100.00"
    engine, clock = make_engine(tmp_path, recipe.overrides, reference=reference)
    fields = recipe.order
    made = [
        order(
            _SIDES[fields["side"]],
            qty=fields["qty"],
            price=fields["price"],
            account=fields.get("account", "ACC1"),
            symbol=fields.get("symbol", "AAPL"),
            ord_type=OrderType.MARKET if fields.get("type") == "MARKET" else OrderType.LIMIT,
        )
        for _ in range(recipe.repeat)
    ]
    if recipe.cancel:
        assert submit(engine, made[0], clock) is None
        assert code(engine.check_cancel(made[0], clock())) == expected
        return
    results = [code(submit(engine, o, clock)) for o in made]
    assert results == [None] * (recipe.repeat - 1) + [expected]

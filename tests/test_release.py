"""The limits a reload replaced are freed a slice per loop iteration, never inside the switch (``gateway.release``).

Freeing a 30,000-account limits file in one go cost the loop 60-170 ms (docs/performance.md 9b). The releaser
takes a retired graph apart a bounded slice per step, and never empties anything another object still holds.
"""

from __future__ import annotations

import asyncio
import gc
import sys
import weakref
from pathlib import Path
from typing import Any

import msgspec

from gateway.app import GatewayProcess
from gateway.release import SMALL, Releaser
from tests.e2e.support import e2e_limits, gateway_config, short_tmp
from tests.regressions.test_risk_reload_off_loop import _replace


class _Leaf:
    """One account's worth of limits: a small object a weak reference tells freed."""

    __slots__ = ("__weakref__", "fields")

    def __init__(self, i: int) -> None:
        self.fields = {"max_qty": i, "max_notional": str(i)}


class _Doc(msgspec.Struct):
    accounts: dict[str, object]
    symbols: list[object]
    name: str = "limits"


class _File:
    def __init__(self, doc: _Doc) -> None:
        self.document = doc
        self.display = {"accounts": {name: {"line": n} for n, name in enumerate(doc.accounts)}}


def _pending(releaser: Releaser) -> bool:
    return releaser.pending


def test_releaser_when_a_large_graph_is_held_then_each_step_frees_a_bounded_slice_and_all_in_the_end() -> None:
    leaves = [_Leaf(i) for i in range(12_000)]
    alive = [weakref.ref(leaf) for leaf in leaves]
    doc = _Doc({f"C{i:05d}": leaf for i, leaf in enumerate(leaves[:8_000])}, [(leaf,) for leaf in leaves[8_000:]])
    releaser = Releaser()
    releaser.hold((_File(doc), {"rows": {}}))
    del leaves, doc
    gc.disable()  # (nothing here is in a cycle: freeing is by reference counts alone)
    try:
        freed: list[int] = []
        before = len(alive)
        while releaser.step(500):
            now = sum(ref() is not None for ref in alive)
            freed.append(before - now)
            before = now
        freed.append(before)
    finally:
        gc.enable()
    assert all(ref() is None for ref in alive)
    assert max(freed) <= 500 + SMALL, freed  # a step frees about its units, never the whole graph
    assert len([n for n in freed if n]) >= 12_000 // (500 + SMALL), freed


def test_releaser_when_parts_are_still_held_elsewhere_then_they_are_left_whole() -> None:
    shared_dict = {f"S{i}": [i] for i in range(1_000)}  # e.g. the reference prices a reload kept
    shared_list = [str(i) for i in range(1_000)]
    shared_struct = _Doc({f"A{i}": i for i in range(100)}, [shared_list])
    graph = {"kept": shared_dict, "list": shared_list, "doc": shared_struct, "own": {i: [i] for i in range(1_000)}}
    releaser = Releaser()
    releaser.hold(graph)
    del graph
    while releaser.step(100):
        pass
    assert shared_dict == {f"S{i}": [i] for i in range(1_000)}
    assert shared_list == [str(i) for i in range(1_000)]
    assert shared_struct.accounts == {f"A{i}": i for i in range(100)} and shared_struct.symbols == [shared_list]


async def test_reload_when_the_limits_are_replaced_then_the_old_ones_are_not_freed_in_the_switch_but_after() -> None:
    workdir = short_tmp()
    config = gateway_config(workdir, 1, Path())
    limits = e2e_limits(workdir, config.strategies)
    rows = "".join(f"  C{i:05d}: {{}}\n" for i in range(3_000))  # accounts no strategy of this gateway trades
    _replace(limits, limits.read_text().replace("\naccounts:\n", "\naccounts:\n" + rows, 1))
    process = GatewayProcess(gateway_config(workdir, 1, limits))
    process.build()
    assert process.risk is not None
    in_force = process.risk._file  # type: ignore[attr-defined]
    old = weakref.ref(in_force)
    del in_force
    _replace(limits, limits.read_text().replace("max_qty: 100\n", "max_qty: 101\n", 1))
    risk = process.risk
    at_switch: list[tuple[int, bool, int]] = []

    class _Switch:  # the switch noted (reload55: the reload's task ends after the copies are kept, later)
        def switch(self, step: Any) -> Any:
            outcome = risk.switch(step)  # type: ignore[attr-defined]
            at_switch.append((sys.getallocatedblocks(), _pending(process.releaser), process.releaser.steps))
            return outcome

        def __getattr__(self, name: str) -> Any:
            return getattr(risk, name)

    process.risk = _Switch()
    try:
        result = await process.reload_risk_soon("gateway risk reload", "officer")
    finally:
        process.risk = risk
    ((switched, pending_then, steps),) = at_switch  # the old code freed the old limits in the switch
    assert result.ok, result
    assert process.risk._file is not old()  # type: ignore[attr-defined]  # the new limits are in force
    releaser = process.releaser
    assert pending_then  # the old limits were being taken apart after the switch
    for _ in range(10_000):
        if not _pending(releaser):
            break
        await asyncio.sleep(0)
    assert old() is None and not _pending(releaser)
    freed_after = switched - sys.getallocatedblocks()
    assert freed_after > 3_000, freed_after  # old: ~0 (3,000 accounts' limits and display rows freed earlier)
    assert releaser.steps - steps >= 3  # in several loop iterations, not one

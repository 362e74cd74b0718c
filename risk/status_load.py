"""What ``gateway status`` shows of one limits file, built a slice at a time (stop 54, reload54).

The per-load part of the risk status (``RiskEngine.status_wire``: the account names sorted, the states the file
sets, the nested scopes' counts, and the names' MessagePack bytes the status snapshot embeds) grows with the
file's accounts: at 30,000 accounts building it in one go cost the event loop 8-16 ms compiled. ``LoadStatus``
builds the same parts in steps of about ``units`` items each: the gateway runs one step per loop iteration over
the limits a reload has read, before they are put in force (``GatewayProcess._stage_status``), so that the
switch finds them ready; ``finish`` runs every step at once (a start, a reload without a loop), the one builder
either way, so the documents are the same.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from itertools import islice, pairwise
from typing import Any, Final

import msgspec

from risk.limitsfile import LimitsFile
from risk.model import TradingState

SLICE_ITEMS: Final = 1_000
"""Items (accounts, scopes, names) a step takes at most: ~0.3-0.5 ms of the loop compiled (2,000: young
collections in a step made some 1.7 ms)."""

ENCODE_SLICE: Final = 8
"""Names encoded per step: this many times ``units`` (30,000 names encode in ~0.15 ms)."""

NESTED_KINDS: Final = ("strategy", "symbol", "account_strategy", "account_symbol")
"""The scope kinds whose states the file sets and the status counts (``SCOPE_KINDS[2:]``)."""

_encode: Final = msgspec.msgpack.Encoder(enc_hook=str).encode  # as the status snapshot encodes (gateway.snapshot)


def array_header(count: int) -> bytes:
    """The MessagePack header of an array of ``count`` items (fixarray, array 16, array 32)."""
    if count < 16:
        return bytes((0x90 | count,))
    if count < 0x10000:
        return b"\xdc" + count.to_bytes(2, "big")
    return b"\xdd" + count.to_bytes(4, "big")


def _not_active(scopes: dict[str, Any], out: dict[str, str], counts: dict[tuple[str, int], int], kind: str) -> None:
    for name, limits in scopes.items():
        state = limits.trading_state
        if state not in (None, "ACTIVE"):
            out[name] = state
            counts[kind, int(TradingState[state])] += 1


class LoadStatus:
    """Build the per-load status parts of ``file`` in steps (``step``) or at once (``finish``)."""

    def __init__(self, file: LimitsFile, units: int = SLICE_ITEMS) -> None:
        self.file = file
        self.units = max(units, 1)
        self.steps = 0
        """Steps run so far (one per loop iteration when the gateway stages it)."""
        self.parts: dict[str, Any] | None = None
        """When done: ``trading_state``, ``configured``, ``warnings``, ``account_names``, ``account_set``,
        ``default_state``, ``scope_states``, ``scope_counts`` (what ``RiskEngine.status_wire`` shows) and
        ``account_names_msgpack`` (the names' encoded array)."""
        self._steps = self._build()

    @property
    def done(self) -> bool:
        """True once every part is built."""
        return self.parts is not None

    def step(self) -> bool:
        """Build about ``units`` items more; return True while something is left."""
        if self.parts is not None:
            return False
        self.steps += 1
        try:
            next(self._steps)
        except StopIteration:
            return False
        return True

    def finish(self) -> dict[str, Any]:
        """Build what is left at once; return the parts."""
        while self.step():
            pass
        assert self.parts is not None
        return self.parts

    def _build(self) -> Iterator[None]:
        """The steps: the strategies and symbols, the accounts a slice at a time, the names merged, encoded."""
        units = self.units
        document = self.file.document
        counts = dict.fromkeys(((kind, state) for kind in NESTED_KINDS for state in (1, 2)), 0)
        strategies_not_active: dict[str, str] = {}
        symbols_not_active: dict[str, str] = {}
        for scopes, out, kind in (
            (document.strategies, strategies_not_active, "strategy"),
            (document.symbols, symbols_not_active, "symbol"),
        ):
            items = iter(scopes.items())
            while True:
                chunk = dict(islice(items, units))
                if not chunk:
                    break
                _not_active(chunk, out, counts, kind)
                yield
        scope_states: dict[str, int] = {}
        account_set: set[str] = set()
        runs: list[list[str]] = []
        accounts = iter(document.accounts.items())
        while True:
            taken = 0
            run: list[str] = []
            for name, scope in accounts:
                run.append(name)
                state = scope.trading_state
                if state is not None:
                    scope_states[name] = int(TradingState[state])
                for limits in scope.strategies.values():
                    state = limits.trading_state
                    if state not in (None, "ACTIVE"):
                        counts["account_strategy", int(TradingState[state])] += 1
                for limits in scope.symbols.values():
                    state = limits.trading_state
                    if state not in (None, "ACTIVE"):
                        counts["account_symbol", int(TradingState[state])] += 1
                taken += 1 + len(scope.strategies) + len(scope.symbols)
                if taken >= units:
                    break
            if not run:
                break
            run.sort()
            account_set.update(run)
            runs.append(run)
            yield
        names: list[str] = []
        if all(a[-1] < b[0] for a, b in pairwise(runs)):
            for run in runs:  # a file in order (or in ordered blocks): the runs follow each other
                names.extend(run)
        else:
            merged = heapq.merge(*runs)
            while True:
                before = len(names)
                names.extend(islice(merged, units))
                if len(names) == before:
                    break
                yield
        runs.clear()
        yield
        encoded = [array_header(len(names))]  # a MessagePack array is its header and its items' bytes, joined
        step = units * ENCODE_SLICE
        for at in range(0, len(names), step):
            part = names[at : at + step]
            encoded.append(_encode(part)[len(array_header(len(part))) :])
            yield
        self.parts = {
            "trading_state": {
                "strategies_not_active": strategies_not_active,
                "symbols_not_active": symbols_not_active,
            },
            "configured": {
                "accounts": len(document.accounts),
                "strategies": len(document.strategies),
                "symbols": len(document.symbols),
                "restricted": len(document.restricted.no_trade) + len(document.restricted.sell_only),
            },
            "warnings": list(self.file.summary),
            "account_names": names,
            "account_set": account_set,
            "default_state": int(TradingState[document.defaults.trading_state or "ACTIVE"]),
            "scope_states": scope_states,
            "scope_counts": [(kind, state, count) for (kind, state), count in counts.items()],
            "account_names_msgpack": b"".join(encoded),
        }

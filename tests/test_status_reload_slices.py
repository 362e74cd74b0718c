"""reload54: a reload builds the new limits' status part a slice per loop iteration, before the switch.

What ``gateway status`` shows of a limits file (``RiskEngine.status_wire``: the account names sorted, the states
the file sets, the nested scopes' counts) grows with its accounts; at 30,000 it was built after each reload's
switch in one loop callback (8-16 ms compiled), every order arriving meanwhile waiting. Now the gateway stages it
(``risk.status_load.LoadStatus``) over the limits the worker thread read, one step per loop iteration, while the
limits in force stay; requests meanwhile get the old part whole, from the switch on the new one. The documents are
the ones the single-callback build gave (the reference below is that code).
"""

from __future__ import annotations

import asyncio
import random
from pathlib import Path
from typing import Any

import msgspec
import pytest

from gateway.admin import fetch_status
from gateway.app import GatewayProcess
from gateway.snapshot import STATUS
from risk.engine import RiskEngine
from risk.limitsfile import LimitsFile, read_limits
from risk.model import TradingState
from risk.status_load import LoadStatus, array_header
from tests.e2e.support import e2e_limits, running_gateway, short_tmp
from tests.regressions.test_risk_reload_off_loop import _replace

STATES = {7: "REDUCING", 11: "HALTED", 12: "ACTIVE"}


def _rows(accounts: int, shuffle: bool, salt: int) -> str:
    """``accounts`` idle accounts (``C00000``...), some with a file state or nested states, in order or not."""
    rows = []
    for i in range(accounts):
        body = "{}"
        if i % 97 in STATES:
            body = f"{{trading_state: {STATES[i % 97]}}}"
        elif i % 101 == salt:
            body = "{strategies: {S1: {trading_state: HALTED}}, symbols: {AAPL: {trading_state: REDUCING}}}"
        rows.append(f"  C{i:05d}: {body}\n")
    if shuffle:
        random.Random(salt).shuffle(rows)
    return "".join(rows)


def _limits(workdir: Path, accounts: int, shuffle: bool) -> Path:
    directory = workdir / "risk"
    directory.mkdir()
    limits = e2e_limits(directory)
    base = limits.read_text()
    limits.write_text(base.replace("\naccounts:\n", "\naccounts:\n" + _rows(accounts, shuffle, 1), 1))
    (workdir / "base.yaml").write_text(base)
    return limits


def _reference(file: LimitsFile) -> dict[str, Any]:
    """The per-load parts as ``RiskEngine._static_status``/``status_wire`` built them in one go (stop 53)."""
    document = file.document
    nested = [
        *(("strategy", v) for v in document.strategies.values()),
        *(("symbol", v) for v in document.symbols.values()),
        *(("account_strategy", v) for a in document.accounts.values() for v in a.strategies.values()),
        *(("account_symbol", v) for a in document.accounts.values() for v in a.symbols.values()),
    ]
    kinds = ("strategy", "symbol", "account_strategy", "account_symbol")
    counts = dict.fromkeys(((kind, state) for kind in kinds for state in (1, 2)), 0)
    for kind, limits in nested:
        if limits.trading_state not in (None, "ACTIVE"):
            counts[kind, int(TradingState[limits.trading_state])] += 1
    return {
        "trading_state": {
            "strategies_not_active": {
                k: v.trading_state for k, v in document.strategies.items() if v.trading_state not in (None, "ACTIVE")
            },
            "symbols_not_active": {
                k: v.trading_state for k, v in document.symbols.items() if v.trading_state not in (None, "ACTIVE")
            },
        },
        "configured": {
            "accounts": len(document.accounts),
            "strategies": len(document.strategies),
            "symbols": len(document.symbols),
            "restricted": len(document.restricted.no_trade) + len(document.restricted.sell_only),
        },
        "warnings": list(file.summary),
        "account_names": sorted(document.accounts),
        "default_state": int(TradingState[document.defaults.trading_state or "ACTIVE"]),
        "scope_states": {
            name: int(TradingState[scope.trading_state])
            for name, scope in document.accounts.items()
            if scope.trading_state is not None
        },
        "scope_counts": [(kind, state, count) for (kind, state), count in counts.items()],
    }


def _risk(process: GatewayProcess) -> RiskEngine:
    risk = process.risk
    assert isinstance(risk, RiskEngine)
    return risk


def _slow_wire(process: GatewayProcess) -> Any:
    """The risk per-load part as a ``status`` snapshot sends it (the slow part's bytes, decoded)."""
    writer = process._snapshot
    assert writer is not None and process.engine is not None
    _at, parts = writer.write_spliced(bytearray(), 0, STATUS)
    slow = parts[len(process.engine.latency.lows) + 1]
    return msgspec.msgpack.decode(slow)[7]


class _Risk:
    """The risk engine with ``stage_status`` and ``finish_reload`` wrapped (the gateway calls them on the loop)."""

    def __init__(self, risk: RiskEngine, stage_status: Any, finish_reload: Any) -> None:
        self._risk = risk
        self.stage_status = stage_status
        self.finish_reload = finish_reload
        self.prepare_switch = finish_reload  # the gateway's switch begins here (reload55)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._risk, name)


class _Traced:
    """A ``LoadStatus`` whose third step first takes a status snapshot (a request in the middle of the staging)."""

    def __init__(self, builder: LoadStatus, meanwhile: Any) -> None:
        self.builder = builder
        self.meanwhile = meanwhile

    def step(self) -> bool:
        if self.builder.steps == 3:
            self.meanwhile()
        return self.builder.step()


def _sha_and_names(process: GatewayProcess) -> tuple[str, int]:
    wire = _slow_wire(process)
    return wire["fixed"]["sha256"], len(wire["account_names"])


def _as_wire(value: Any) -> Any:
    return msgspec.msgpack.decode(msgspec.msgpack.encode(value))


@pytest.mark.parametrize("shuffle", [False, True])
async def test_reload_when_the_file_lists_thousands_of_accounts_then_the_status_part_is_built_in_slices_and_the_same(
    shuffle: bool,
) -> None:
    workdir = short_tmp()
    limits = _limits(workdir, 3000, shuffle)
    async with running_gateway(workdir, limits) as (process, _sim):
        risk = _risk(process)
        old = risk.status_wire()
        assert old["account_names"] == _reference(risk._file)["account_names"]
        process.status_slices = 300
        staged: list[LoadStatus] = []
        seen_meanwhile: list[tuple[str, int]] = []
        switched: list[Any] = []
        stage, finish = risk.stage_status, risk.prepare_switch

        def stage_status(pending: Any, units: int) -> Any:
            builder = stage(pending, units)
            assert builder is not None
            staged.append(builder)
            return _Traced(builder, lambda: seen_meanwhile.append(_sha_and_names(process)))

        def finish_reload(pending: Any) -> Any:
            assert pending.status is staged[0] and staged[0].done  # built before the switch
            switched.append(pending)
            return finish(pending)

        process.risk = _Risk(risk, stage_status, finish_reload)  # a compiled engine takes no patching
        base = (workdir / "base.yaml").read_text()
        _replace(limits, base.replace("\naccounts:\n", "\naccounts:\n" + _rows(4000, shuffle, 2), 1))
        try:
            result = await asyncio.wait_for(process.reload_risk_soon("test", "reload54"), 60)
        finally:
            process.risk = risk
        assert result.ok, result
        await asyncio.sleep(0.05)  # the post-switch preparation (one callback, now only assembling)

        assert len(switched) == 1
        assert len(staged) == 1 and staged[0].steps > 10  # one slice per loop iteration, not one callback
        assert seen_meanwhile == [(old["fixed"]["sha256"], len(old["account_names"]))]
        wire = risk.status_wire()
        assert wire["account_names"] is staged[0].parts["account_names"]  # type: ignore[index]
        assert wire["fixed"]["sha256"] == result.sha256 and len(wire["account_names"]) > 4000
        expected = _reference(risk._file)
        assert {key: wire[key] for key in expected} == expected
        sent = _slow_wire(process)
        assert sent == _as_wire(wire)  # the names sent pre-encoded: the same bytes as the list's
        status = await asyncio.to_thread(fetch_status, process.config.path(process.config.admin_socket))
        in_process = risk.status()
        assert status["risk"]["accounts"] == _as_wire(in_process["accounts"])
        assert status["risk"]["sha256"] == result.sha256


@pytest.mark.parametrize("units", [1, 7, 300, 100_000])
def test_load_status_when_built_in_any_slice_size_then_the_parts_of_the_one_go_build(units: int) -> None:
    workdir = short_tmp()
    limits = _limits(workdir, 500, shuffle=True)
    file = read_limits(limits)
    builder = LoadStatus(file, units)
    parts = builder.finish()
    expected = _reference(file)
    assert {key: parts[key] for key in expected} == expected
    assert parts["account_set"] == set(expected["account_names"])
    assert parts["account_names_msgpack"] == msgspec.msgpack.encode(expected["account_names"])
    assert builder.steps >= (500 // units if units < 500 else 1)


def test_read_limits_when_thousands_of_accounts_then_converted_in_slices_and_the_same(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """One ``msgspec.convert`` of a 30,000-account document held the GIL 35 ms: the loop waited while a reload's
    worker thread read the file. Now the accounts are converted ``CONVERT_SLICE`` at a time; the document equal."""
    from risk import loader

    workdir = short_tmp()
    limits = _limits(workdir, 3 * loader.CONVERT_SLICE, shuffle=True)
    calls: list[object] = []
    convert = msgspec.convert

    def counted(data: Any, type: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(type)
        return convert(data, type, *args, **kwargs)

    monkeypatch.setattr(msgspec, "convert", counted)
    file = read_limits(limits)
    sliced = [t for t in calls if "AccountLimits" in str(t)]
    assert len(sliced) >= 3  # before: the whole document in one call
    monkeypatch.setattr(loader, "CONVERT_SLICE", 10**9)
    assert read_limits(limits).document == file.document


@pytest.mark.parametrize("count", [0, 1, 15, 16, 65535, 65536, 70000])
def test_array_header_when_any_count_then_msgspec_s(count: int) -> None:
    encoded = msgspec.msgpack.encode([""] * count)
    header = array_header(count)
    assert encoded == header + b"\xa0" * count

"""Every reject code a configured venue's adapter can give is a series at 0 from the start (``gateway metrics``).

A fresh gateway with an OUCH, a FIX and a BOE venue: its exposition, from the loop's own snapshot and from the
admin socket's binary snapshot (what ``gateway metrics`` and the exporter read), parses with prometheus_client's
parser and holds every code of the three protocols at 0. The lists in ``gateway.exporter.VENUE_REJECTS`` are
checked against the adapters' code, both ways.
"""

from __future__ import annotations

import ast
import asyncio
import socket
from pathlib import Path

from msgspec.structs import replace
from prometheus_client.parser import text_string_to_metric_families

from gateway.admin import fetch_metrics
from gateway.app import GatewayProcess
from gateway.exporter import GATEWAY_ORDER_REJECT_CODES, VENUE_REJECTS, precreated_rejects, render
from gateway.metrics import MetricsSnapshot
from tests.e2e.support import e2e_limits, gateway_config, short_tmp
from venues.boe.adapter import STRATEGY_REASONS, UNKNOWN_REASON
from venues.fix.adapter import _CXL_REJ_REASONS, _ORD_REJ_REASONS
from venues.ouch.messages import REJECT_REASONS

ROOT = Path(__file__).resolve().parents[1]
_REJECTS = {"Refused": 0, "VenueRejected": 2, "VenueCancelRejected": 2}
"""Constructors of what reaches a strategy as OrderRejected / CancelRejected, and the position of their code."""
TABLES = {
    "ouch": {f"0x{code:04X}" for code in REJECT_REASONS},
    "fix": set(_ORD_REJ_REASONS.values()) | set(_CXL_REJ_REASONS.values()) | {"VENUE"},
    "boe": set(STRATEGY_REASONS.values()) | {UNKNOWN_REASON},
}
"""The reason tables each adapter maps the venue's reject reasons through."""


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _adapter_reject_codes(protocol: str) -> tuple[set[str], set[str]]:
    """Return (codes the adapter passes as a reject's code, every code-like string constant in it)."""
    tree = ast.parse((ROOT / "venues" / protocol / "adapter.py").read_text())
    names = {
        node.targets[0].id: node.value.value
        for node in tree.body
        if isinstance(node, ast.Assign)
        and isinstance(node.targets[0], ast.Name)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
    } | {
        node.target.id: node.value.value
        for node in tree.body
        if isinstance(node, ast.AnnAssign)
        and isinstance(node.target, ast.Name)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
    }
    passed: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _REJECTS:
            index = _REJECTS[node.func.id]
            arg = node.args[index] if len(node.args) > index else None
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                passed.add(arg.value)
            elif isinstance(arg, ast.Name) and arg.id in names:
                passed.add(names[arg.id])
    constants = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)}
    return passed, constants


def test_venue_reject_lists_when_compared_with_the_adapters_then_the_same_codes() -> None:
    for protocol, families in VENUE_REJECTS.items():
        listed = {code for rows in families.values() for _source, code in rows}
        passed, constants = _adapter_reject_codes(protocol)
        assert len(passed) > 5, (protocol, passed)
        # every code the adapter gives a reject (bar the venue's numbered families) is pre-created
        assert {c for c in passed if not c.endswith("_")} | TABLES[protocol] <= listed, protocol
        # and nothing pre-created is a code the adapter cannot give
        assert listed <= constants | TABLES[protocol], (protocol, listed - constants - TABLES[protocol])


async def test_metrics_when_a_fresh_gateway_has_ouch_fix_and_boe_venues_then_every_venue_code_is_a_series_at_0() -> (
    None
):
    workdir = short_tmp()
    port = _closed_port()  # nothing listens: the venues stay down, which changes nothing here
    config = gateway_config(workdir, port, e2e_limits(workdir))
    venues = [
        *config.venues,
        {
            "protocol": "fix",
            "name": "EQX",
            "host": "127.0.0.1",
            "port": port,
            "dialect": "equities-fix42",
            "store_dir": str(workdir / "fix"),
        },
        {
            "protocol": "boe",
            "name": "CBOE",
            "host": "127.0.0.1",
            "port": port,
            "session_sub_id": "0001",
            "username": "USER",
            "password": "PASS",
            "state_dir": str(workdir / "boe"),
        },
    ]
    process = GatewayProcess(replace(config, venues=venues))
    await process.start()
    try:
        admin = process.config.path(process.config.admin_socket)
        from_socket = await asyncio.to_thread(fetch_metrics, admin, 5.0)
        snapshots: list[MetricsSnapshot] = [process.metrics(), from_socket]
    finally:
        await process.stop()
    for snapshot in snapshots:
        assert snapshot.venue_protocols == ["boe", "fix", "ouch"]
        families = {f.name: f for f in text_string_to_metric_families(render(snapshot).decode())}
        for family in ("order_rejects", "cancel_rejects"):
            series = {
                (s.labels["source"], s.labels["code"]): s.value
                for s in families[f"gateway_{family}"].samples
                if s.name.endswith("_total")
            }
            expected = precreated_rejects(family, ("ouch", "fix", "boe"))
            assert set(series) == set(expected)  # old: only the gateway's own and the risk codes
            assert set(series.values()) == {0.0}
            for protocol in ("ouch", "fix", "boe"):
                assert set(VENUE_REJECTS[protocol][family]) <= set(series)
        orders = {code for source, code in precreated_rejects("order_rejects", ("ouch", "fix", "boe"))}
        assert {"0x0017", "OUCH_END_OF_DAY", "UNKNOWN_SYMBOL", "WOULD_WASH", *GATEWAY_ORDER_REJECT_CODES} <= orders


def test_precreated_rejects_when_no_venue_protocol_then_only_the_gateway_and_risk_codes() -> None:
    assert precreated_rejects("order_rejects", []) == precreated_rejects("order_rejects", ["unknown"])
    assert len(precreated_rejects("order_rejects", ["ouch"])) > len(precreated_rejects("order_rejects", []))


def test_ops_guide_when_it_counts_the_venue_series_then_the_counts_are_the_exporters() -> None:
    guide = (ROOT / "docs" / "ops-guide.md").read_text()
    every = tuple(VENUE_REJECTS)
    for family, row in (
        ("order_rejects", "`gateway_order_rejects_total"),
        ("cancel_rejects", "`gateway_cancel_rejects_total"),
    ):
        text = next(line for line in guide.splitlines() if line.startswith(f"| {row}"))
        base = len(precreated_rejects(family, ()))
        for protocol, name in (("ouch", "OUCH"), ("fix", "FIX"), ("boe", "BOE")):
            assert f"{name} {len(precreated_rejects(family, (protocol,))) - base}" in text, (family, protocol)
        assert f"{len(precreated_rejects(family, every)) - base} with all three" in text, family


def _adapter_reject_sources(protocol: str) -> set[tuple[str, str]]:
    """Return the (source, code) pairs the adapter gives: ``Refused``'s ``source`` (VENUE unless it says), VENUE
    for a ``VenueRejected`` / ``VenueCancelRejected`` (the core reports those as the venue's)."""
    tree = ast.parse((ROOT / "venues" / protocol / "adapter.py").read_text())
    names: dict[str, str] = {}
    for statement in tree.body:
        target = (
            statement.targets[0]
            if isinstance(statement, ast.Assign)
            else statement.target
            if isinstance(statement, ast.AnnAssign)
            else None
        )
        value = getattr(statement, "value", None)
        if isinstance(target, ast.Name) and isinstance(value, ast.Constant) and isinstance(value.value, str):
            names[target.id] = value.value
    pairs: set[tuple[str, str]] = set()
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _REJECTS):
            continue
        index = _REJECTS[node.func.id]
        arg = node.args[index] if len(node.args) > index else None
        code = arg.value if isinstance(arg, ast.Constant) else names.get(arg.id) if isinstance(arg, ast.Name) else None
        if not isinstance(code, str):
            continue
        source = "VENUE"
        if node.func.id == "Refused":
            given = (
                node.args[2]
                if len(node.args) > 2
                else next((k.value for k in node.keywords if k.arg == "source"), None)
            )
            if isinstance(given, ast.Attribute):  # RejectSource.GATEWAY
                source = given.attr
            elif isinstance(given, ast.Name) and "GATEWAY" in given.id:  # a module constant naming it
                source = "GATEWAY"
        pairs.add((source, code))
    return pairs


def test_ouch_reject_sources_when_compared_with_the_adapter_and_the_protocol_doc_then_true_and_consistent() -> None:
    """rev50ouch item 6: each OUCH code's pre-created source is the one the adapter gives (who is at fault), and the
    codes of strategy-protocol 8.2 (source GATEWAY) are GATEWAY rows, not VENUE ones."""
    given = _adapter_reject_sources("ouch")
    rows = {row for family in VENUE_REJECTS["ouch"].values() for row in family}
    named = {(source, code) for source, code in rows if not code.startswith("0x") and code != "I"}
    given = {(source, code) for source, code in given if code != "I"}  # the Cancel Reject's letter: the venue's
    assert named == given, (sorted(named - given), sorted(given - named))
    assert ("GATEWAY", "OUCH_UNKNOWN_ORDER") in given  # never sent: refused here, as BOE_UNKNOWN_ORDER
    doc = (ROOT / "docs" / "strategy-protocol.md").read_text()
    section = doc[doc.index("### 8.2 Source GATEWAY") : doc.index("### 8.3")]
    gateway_codes = {line.split("`")[1] for line in section.splitlines() if line.startswith("| `OUCH_")}
    assert gateway_codes == {code for source, code in given if source == "GATEWAY"}

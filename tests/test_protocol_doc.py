"""docs/strategy-protocol.md lists every code a strategy can receive, and nothing else.

The codes are collected from the code itself (the gateway core, the session, the transport,
both venue adapters, the risk codes module) and compared with the doc's section 8 and the
venue pages it points to, in both directions, so a new code cannot ship undocumented and a
stale one (like the old ``UNSUPPORTED_*``) cannot stay in the doc.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from gateway.exporter import GATEWAY_CANCEL_REJECT_CODES, GATEWAY_ORDER_REJECT_CODES
from gateway.strategy_session import ReqSeqCheck, StrategySessionState
from risk import codes as risk_codes
from venues.ouch.messages import CANCEL_REASONS, REJECT_REASONS

ROOT = Path(__file__).resolve().parents[1]
DOC = (ROOT / "docs" / "strategy-protocol.md").read_text()
CODE = re.compile(r"^[A-Z][A-Z0-9_]{2,}$")
TICKED = re.compile(r"`([A-Za-z0-9_<>.]+)`")
_VENUE_EVENTS = {
    "Refused": 0,
    "VenueRejected": 2,
    "VenueCancelRejected": 2,
    "VenueCanceled": 3,
    "VenueAccepted": 5,
    "VenueReplaced": 5,
}
"""Venue event constructors (and the adapters' refusals, ``model.send_result.Refused``) and the position
of their code argument (Accepted / Replaced: ``canceled_reason``, the reason of the cancel they carry)."""


def _section(title: str, text: str = DOC) -> str:
    """Return ``text`` from the heading ``title`` to the next heading of the same or a higher level."""
    start = text.index(title)
    level = title.split(" ", 1)[0]
    ends = [text.find(f"\n{'#' * n} ", start + 1) for n in range(2, len(level) + 1)]
    ends = [e for e in ends if e >= 0]
    return text[start : min(ends) if ends else len(text)]


def _constants(path: str) -> set[str]:
    """Every code-like string constant in a module (gateway modules: codes are their only such strings)."""
    tree = ast.parse((ROOT / path).read_text())
    strings = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)}
    return {s for s in strings if CODE.match(s)}


def _venue_codes(path: str) -> set[str]:
    """Codes a venue adapter puts in its events: constructor arguments and its reason tables' values."""
    tree = ast.parse((ROOT / path).read_text())
    names = {  # module-level text constants (``_ACCEPTED_MISMATCH: Final = "OUCH_ACCEPTED_MISMATCH"``)
        target.id: node.value.value
        for node in tree.body
        if isinstance(node, ast.Assign | ast.AnnAssign)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
        for target in ([node.target] if isinstance(node, ast.AnnAssign) else node.targets)
        if isinstance(target, ast.Name)
    }
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _VENUE_EVENTS:
            args = node.args
            index = _VENUE_EVENTS[node.func.id]
            if len(args) > index:
                arg = args[index]
                if isinstance(arg, ast.IfExp):  # "DEAD" if dead else ""
                    arg = arg.body
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    if arg.value:
                        found.add(arg.value)
                elif isinstance(arg, ast.Name) and arg.id in names:
                    found.add(names[arg.id])
                elif isinstance(arg, ast.Call):  # _ORD_REJ_REASONS.get(reason, "VENUE")
                    found |= {a.value for a in arg.args if isinstance(a, ast.Constant) and isinstance(a.value, str)}
        if isinstance(node, ast.Assign | ast.AnnAssign) and isinstance(node.value, ast.Dict):
            target = node.targets[0] if isinstance(node, ast.Assign) else node.target
            if isinstance(target, ast.Name) and target.id.endswith(("_REASONS", "_TYPES")):
                found |= {
                    v.value for v in node.value.values if isinstance(v, ast.Constant) and isinstance(v.value, str)
                }
        left = node.left if isinstance(node, ast.BinOp) else None
        if isinstance(left, ast.Constant) and isinstance(left.value, str) and left.value.endswith("_REJECT_"):
            found.add(left.value + "<n>")
    return found


def _gateway_codes() -> set[str]:
    states = {s.value for s in StrategySessionState} | {c.value for c in ReqSeqCheck}
    return (
        _constants("gateway/engine.py")
        | _constants("gateway/venue_apply.py")  # what a venue event produces, shared with recovery
        | _constants("gateway/strategy_session.py")
        | _constants("gateway/server.py")
    ) - states


def _doc_table_codes(section: str) -> set[str]:
    """The ticked codes in the first column of every table row of ``section``."""
    out: set[str] = set()
    for line in section.splitlines():
        if line.startswith("| `"):
            first = line.split("|")[1]
            out |= set(TICKED.findall(first))
    return out


def test_gateway_codes_when_collected_from_the_code_then_each_is_in_the_doc_tables() -> None:
    codes = _gateway_codes()
    assert {"DUPLICATE_CL_ORD_ID", "TOO_MANY_ERRORS", "SLOW_CONSUMER", "FRAME_TIMEOUT", "NOTHING_LEFT"} <= codes
    documented = _doc_table_codes(_section("## 8. Codes"))
    assert codes - documented == set()


ADAPTERS = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "venues").glob("*/adapter.py"))
"""Every venue adapter: what it puts in its events reaches strategies."""


def test_venue_codes_when_collected_from_every_adapter_then_each_is_in_the_doc_and_the_venue_page() -> None:
    section = _section("## 8. Codes")
    assert {"venues/ouch/adapter.py", "venues/fix/adapter.py"} <= set(ADAPTERS)
    for path in ADAPTERS:
        page = (ROOT / "docs" / "venues" / f"{Path(path).parent.name}.md").read_text()
        codes = _venue_codes(path)
        assert len(codes) > 5, (path, codes)
        in_doc = set(TICKED.findall(section))
        in_page = set(TICKED.findall(_section("## Codes a strategy sees", page)))
        assert codes - in_doc == set(), path
        assert codes - in_page == set(), path


def test_ouch_reason_tables_when_compared_with_the_venue_page_then_every_code_and_letter_listed() -> None:
    page = _section("## Codes a strategy sees", (ROOT / "docs" / "venues" / "ouch.md").read_text())
    rows = dict(re.findall(r"^\| `([^`]+)` \| (.+?) \|$", page, flags=re.MULTILINE))
    for code, name in REJECT_REASONS.items():
        assert rows.get(f"0x{code:04X}") == name
    for letter, meaning in CANCEL_REASONS.items():
        assert rows.get(letter) == meaning
    letters = _section("### 8.5 Canceled reasons", DOC).split("\n")[4]
    assert set(TICKED.findall(letters)) == set(CANCEL_REASONS)


def test_risk_codes_when_listed_then_every_one_in_the_doc_and_in_the_officers_guide() -> None:
    doc = set(TICKED.findall(_section("### 8.3 Source RISK", _section("## 8. Codes"))))
    guide = set(
        TICKED.findall(
            _section("## 7. Every check and reason code", (ROOT / "docs" / "risk-officer-guide.md").read_text())
        )
    )
    assert set(risk_codes.REASONS) == {c for c in doc if CODE.match(c)}
    assert set(risk_codes.REASONS) <= guide


def test_doc_codes_when_read_back_then_every_one_exists_in_the_code() -> None:
    known = _gateway_codes() | set(risk_codes.REASONS) | set(CANCEL_REASONS)
    for path in ADAPTERS:
        known |= _venue_codes(path)
    section = _section("## 8. Codes")
    listed = {c for c in _doc_table_codes(section) if CODE.match(c) or c.endswith("<n>")}
    assert listed - known == set()
    assert "UNSUPPORTED_*" not in DOC and "UNSUPPORTED_SYMBOL" not in DOC


def test_codes_when_sent_then_ascii_and_at_most_32_bytes() -> None:
    codes = _gateway_codes() | set(risk_codes.REASONS) | {f"0x{c:04X}" for c in REJECT_REASONS}
    for path in ADAPTERS:
        codes |= _venue_codes(path)
    for code in codes:
        assert code.isascii() and 0 < len(code.replace("<n>", "99")) <= 32, code


def test_precreated_gateway_reject_series_when_compared_with_section_8_1_then_the_same_codes() -> None:
    """The exporter's 0-valued reject series (``gateway.exporter.PRECREATED_REJECTS``) are 8.1's codes, by message."""
    rows = [line.split("|") for line in _section("### 8.1 Source GATEWAY").splitlines() if line.startswith("| `")]
    by_message = {
        message: {
            code
            for cells in rows
            if message in {m.strip() for m in cells[2].split(",")}
            for code in TICKED.findall(cells[1])
        }
        for message in ("OrderRejected", "CancelRejected")
    }
    assert set(GATEWAY_ORDER_REJECT_CODES) == by_message["OrderRejected"]
    assert set(GATEWAY_CANCEL_REJECT_CODES) == by_message["CancelRejected"]

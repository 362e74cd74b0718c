"""The import structure of the project: which layer may import which, and no cycles.

Layers (docs/architecture.md, "Packages"), each importing only from those before it::

    model, obs               core types (stdlib + msgspec only); log throttling (stdlib only)
    risk, venues             pre-trade risk; venue codecs, sessions and adapters (never each other)
    simulators               venue simulators (venues, model and obs only)
    gateway                  the process: engine, journal, sockets, CLI
    benchmarks               the ``gateway bench`` harness and benchmark scripts

The runtime packages (model, obs, risk, venues, gateway) never import simulators or benchmarks,
except the commands that run them (``gateway.commands``), inside the command function.

Every ``import`` statement counts, wherever it is: at module level, under
``if TYPE_CHECKING:`` and inside functions. A type-only or lazy import that closes a cycle
still ties two modules together, so cycles are checked over all three kinds. The implicit
import of a package's ``__init__`` when a submodule is imported is not counted.
"""

from __future__ import annotations

import ast
import functools
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("model", "obs", "risk", "venues", "simulators", "gateway", "benchmarks")
RUNTIME = frozenset({"model", "obs", "risk", "venues", "gateway"})
"""What ``gateway run`` is made of."""
TOOLS = frozenset({"simulators", "benchmarks"})
"""Beside the runtime packages: imported lazily, by the commands that run them only."""

LAYERS: dict[str, frozenset[str]] = {
    "model": frozenset({"model"}),
    "obs": frozenset({"obs"}),
    "risk": frozenset({"model", "obs", "risk"}),
    "venues": frozenset({"model", "obs", "venues"}),
    "simulators": frozenset({"model", "obs", "venues", "simulators"}),
    "gateway": frozenset({"model", "obs", "risk", "venues", "gateway"}),
    "benchmarks": frozenset(PACKAGES),
}
"""Top-level packages each package may import from, by any kind of import (``gateway.commands``: see below)."""


@dataclass(frozen=True)
class Import:
    """One project module importing another."""

    source: str
    target: str
    kind: str
    """``module`` (runs at import time), ``type`` (under ``if TYPE_CHECKING:``) or ``lazy`` (in a function)."""
    line: int

    def __str__(self) -> str:
        return f"{self.source}:{self.line} imports {self.target} ({self.kind})"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@functools.cache
def _modules() -> dict[str, Path]:
    return {_module_name(p): p for package in PACKAGES for p in sorted((ROOT / package).rglob("*.py"))}


def _resolve(name: str) -> str | None:
    """Return the project module ``name`` refers to (the longest known prefix), or None."""
    modules = _modules()
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in modules:
            return candidate
    return None


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports_of(module: str, path: Path) -> list[Import]:
    found: list[Import] = []
    is_package = path.name == "__init__.py"

    def names(node: ast.Import | ast.ImportFrom) -> list[str]:
        if isinstance(node, ast.Import):
            return [alias.name for alias in node.names]
        base = node.module or ""
        if node.level:
            package = module.split(".") if is_package else module.split(".")[:-1]
            package = package[: len(package) - node.level + 1]
            base = ".".join([*package, base] if base else package)
        return [f"{base}.{alias.name}" for alias in node.names]

    def visit(body: list[ast.stmt], kind: str) -> None:
        for node in body:
            if isinstance(node, ast.Import | ast.ImportFrom):
                for name in names(node):
                    target = _resolve(name)
                    if target is not None and target != module:
                        found.append(Import(module, target, kind, node.lineno))
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                visit(node.body, "lazy")
            elif isinstance(node, ast.If):
                visit(node.body, "type" if _is_type_checking(node.test) and kind == "module" else kind)
                visit(node.orelse, kind)
            else:
                for field in ("body", "orelse", "finalbody", "handlers"):
                    for child in getattr(node, field, ()):
                        visit(child.body if isinstance(child, ast.ExceptHandler) else [child], kind)

    visit(ast.parse(path.read_text(), str(path)).body, "module")
    return found


@functools.cache
def _all_imports() -> tuple[Import, ...]:
    return tuple(imp for module, path in _modules().items() for imp in _imports_of(module, path))


def _top(module: str) -> str:
    return module.partition(".")[0]


def test_modules_when_parsed_then_every_package_is_found() -> None:
    assert {_top(m) for m in _modules()} == set(PACKAGES)
    assert "model.order" in _modules() and "gateway.engine" in _modules()


def _command_running_a_tool(imp: Import) -> bool:
    return imp.source.startswith("gateway.commands.") and imp.kind == "lazy" and _top(imp.target) in TOOLS


def test_imports_when_checked_against_layers_then_each_package_imports_only_layers_below() -> None:
    wrong = [
        str(i)
        for i in _all_imports()
        if _top(i.target) not in LAYERS[_top(i.source)] and not _command_running_a_tool(i)
    ]
    assert wrong == []


def test_runtime_packages_when_parsed_then_import_simulators_and_benchmarks_only_inside_commands() -> None:
    imports = [i for i in _all_imports() if _top(i.source) in RUNTIME and _top(i.target) in TOOLS]
    assert [str(i) for i in imports if not _command_running_a_tool(i)] == []
    assert {i.source for i in imports} == {"gateway.commands.bench", "gateway.commands.demo"}


def test_gateway_cli_when_parser_built_then_no_simulator_or_benchmark_module_loaded() -> None:
    code = (
        "import sys, gateway.app, gateway.cli; gateway.cli.build_parser(); "
        "print(sorted(m for m in sys.modules if m.partition('.')[0] in {'simulators', 'benchmarks'}))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert result.stdout.strip() == "[]"


def test_gateway_process_when_built_then_no_prometheus_client_or_exporter_loaded() -> None:
    """``gateway run`` runs no HTTP server or exporter thread: it does not even import them."""
    code = (
        "import sys, gateway.app, gateway.cli, gateway.commands.run; gateway.cli.build_parser(); "
        "print(sorted(m for m in sys.modules if m.startswith(('prometheus_client', 'gateway.exporter', 'http.'))))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert result.stdout.strip() == "[]"


def test_model_when_parsed_then_imports_nothing_of_the_project() -> None:
    assert [str(i) for i in _all_imports() if _top(i.source) == "model" and _top(i.target) != "model"] == []


def _third_party(package: str) -> set[str]:
    """Return the top-level names ``package`` imports that are neither the standard library nor the project."""
    names: set[str] = set()
    for module, path in _modules().items():
        if _top(module) != package:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names.update(_top(alias.name) for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.add(_top(node.module))
    return names - set(sys.stdlib_module_names) - set(PACKAGES)


def test_model_and_obs_when_parsed_then_depend_on_msgspec_and_stdlib_only() -> None:
    assert _third_party("model") == {"msgspec"}
    assert _third_party("obs") == set()


def test_risk_and_venues_when_parsed_then_import_nothing_from_gateway() -> None:
    wrong = [str(i) for i in _all_imports() if _top(i.source) in {"risk", "venues"} and _top(i.target) == "gateway"]
    assert wrong == []


def test_journal_when_parsed_then_imports_no_venue_module() -> None:
    assert [str(i) for i in _all_imports() if i.source == "gateway.journal" and _top(i.target) == "venues"] == []


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Return the strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for succ in sorted(edges.get(node, ())):
            if succ not in index:
                connect(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            connect(node)
    return found


def test_cycles_when_given_a_cycle_then_found() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_imports_when_every_kind_counts_then_no_module_cycle() -> None:
    edges: dict[str, set[str]] = {m: set() for m in _modules()}
    for imp in _all_imports():
        edges[imp.source].add(imp.target)
    assert _cycles(edges) == []

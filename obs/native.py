"""Select the mypyc-compiled hot modules or the pure-Python ones, at import time.

``make venv`` compiles the modules named in ``MODULES`` with mypyc (``build_native.py``) into
``build/native/`` beside the packages: one shared library (``gateway_native__mypyc``) and one small
extension module per compiled module, in a tree that mirrors the packages. Each package that holds
a compiled module calls ``native_path`` in its ``__init__`` (``model`` holds none: it may import nothing
of the project, ``tests/test_structure.py``); that puts the package's directory of
``build/native/`` in front of its ``__path__``, so ``import risk.checks`` finds the ``.so`` before
the ``.py``. Nothing else changes: same names, same imports.

The pure-Python modules are used instead when

* ``GATEWAY_PURE_PYTHON=1`` is set (no rebuild needed: the switch is read at import);
* nothing is built (a fresh clone before ``make venv``, an install without the build tree);
* the build is stale: the manifest written by the build holds a hash of every runtime source file,
  and any difference (an edit not yet rebuilt) falls back to pure Python as a whole rather than
  running compiled code older than its source.

``describe()`` says which path is active and why: ``gateway run`` logs it once at start-up and
``gateway status`` shows it. This module imports nothing of the project and is never compiled.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import sys
from pathlib import Path
from typing import Final

MODULES: Final = (
    "obs.histogram",
    "risk.checks",
    "risk.duplicates",
    "risk.reference",
    "risk.throttle",
    "venues.ouch.codec",
    "gateway.venue_apply",
    "gateway.protocol.framing",
    "gateway.latency",
    "gateway.strategy_session",
    "gateway.engine",
    "venues.ouch.refcount",
    "venues.ouch.adapter",
    "venues.ouch.soup_client",
    "risk.engine",
    "risk.status_load",
    "risk.exposure_rows",
    "risk.exposure",
    "gateway.journal_mmap",
    "gateway.journal_scan",
    "gateway.strategy_state",
    "venues.fix.fields",
    "venues.fix.codec",
    "venues.fix.templates",
    "venues.fix.session.timers",
    "venues.fix.session.resend",
    "venues.fix.session.session",
    "venues.fix.store.file",
    "venues.fix.adapter",
)
"""The modules ``make venv`` compiles (keep each one mypyc-compilable: ``tests/test_native.py``)."""

EXTENSIONS: Final = {
    "gateway._stagecount": "gateway/_stagecount.c",
    "gateway._journalpack": "gateway/_journalpack.c",
    "venues.ouch._compare": "venues/ouch/_compare.c",
    "venues.ouch._enter": "venues/ouch/_enter.c",
    "venues.ouch._accepted": "venues/ouch/_accepted.c",
}
"""Small C extension modules built with the compiled ones (module -> its C source; the same switch and hash).
A module that imports one falls back to its pure-Python code when it is absent (pure Python, or not built)."""

SWITCH: Final = "GATEWAY_PURE_PYTHON"
"""Set to ``1`` to run the pure-Python modules although compiled ones are built."""
ROOT: Final = Path(__file__).resolve().parent.parent
"""The checkout: the packages and ``build/native/`` live here."""
BUILD: Final = ROOT / "build" / "native"
"""Where ``build_native.py`` puts the compiled modules."""
MANIFEST: Final = BUILD / "manifest.json"
"""Written last by the build: the modules compiled and the hash of every runtime source file."""
GROUP: Final = "gateway_native"
"""mypyc's group name: the shared library is ``gateway_native__mypyc``."""
PACKAGES: Final = ("model", "obs", "risk", "venues", "gateway")
"""The runtime packages whose sources the manifest's hash covers."""

_state: dict[str, object] = {}


_SOURCES: Final = ("*.py", "*.pyi", "*.c")
"""What ``source_hash`` covers: the modules, their stubs and the C extensions' sources."""


def source_hash(root: Path = ROOT) -> str:
    """Hash every ``.py``, ``.pyi`` and ``.c`` file of the runtime packages (paths and contents), in a stable order."""
    digest = hashlib.sha256()
    for package in PACKAGES:
        found = {path for pattern in _SOURCES for path in (root / package).rglob(pattern)}
        for path in sorted(found):
            digest.update(str(path.relative_to(root)).encode())
            digest.update(b"\0")
            digest.update(path.read_bytes())
            digest.update(b"\0")
    return digest.hexdigest()


def _decide() -> tuple[bool, str]:
    """Return (use compiled modules, why) once per process."""
    if os.environ.get(SWITCH, "") not in ("", "0"):
        return False, f"{SWITCH}={os.environ[SWITCH]}"
    try:
        manifest = json.loads(MANIFEST.read_text())
    except (OSError, ValueError):
        return False, "not built (make venv builds it)"
    if manifest.get("modules") != list(MODULES) or manifest.get("python") != sys.implementation.cache_tag:
        return False, "built for another module list or Python (make venv rebuilds it)"
    if manifest.get("sources") != source_hash():
        return False, "stale: sources changed since the build (make venv rebuilds it)"
    lib = next(BUILD.glob(f"{GROUP}__mypyc.*.so"), None)
    if lib is None:
        return False, "not built (make venv builds it)"
    name = f"{GROUP}__mypyc"
    spec = importlib.util.spec_from_file_location(name, lib)
    if spec is None or spec.loader is None:
        return False, f"cannot load {lib.name}"
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sys.modules[name] = module  # the modules' shims import the shared library by this name
    return True, f"{len(MODULES)} modules compiled"


def active() -> bool:
    """Return whether this process uses the compiled modules (decided on first call)."""
    if "on" not in _state:
        on, why = _decide()
        _state["on"], _state["why"] = on, why
    return bool(_state["on"])


def reset() -> None:
    """Forget the decision (``build_native.py --check`` decides again without the switch)."""
    _state.clear()


def native_path(package: str, path: list[str]) -> list[str]:
    """Return ``path`` with the package's compiled-module directory in front when compiled modules are on."""
    if not any(module.rpartition(".")[0] == package for module in (*MODULES, *EXTENSIONS)) or not active():
        return path
    return [str(BUILD.joinpath(*package.split("."))), *path]


def compiled_modules() -> list[str]:
    """Return the compiled modules this process actually imported (their ``__file__`` is an extension)."""
    found = []
    for name in MODULES:
        module = sys.modules.get(name)
        if module is not None and str(getattr(module, "__file__", "")).endswith(".so"):
            found.append(name)
    return found


def loaded_text(loaded: list[str], compiled: int) -> str:
    """Say how many of the ``compiled`` modules this process has loaded so far, and which.

    A module is loaded when the gateway first imports it: a FIX venue's modules only with a FIX venue
    configured, so a gateway with OUCH alone loads fewer than ``make venv`` compiled.
    """
    return f"{len(loaded)} of the {compiled} compiled modules loaded: {', '.join(loaded)}"


def hot_path_status() -> dict[str, object]:
    """Return ``gateway status``'s ``hot_path``: ``describe`` with ``modules`` the compiled ones loaded so far, of
    ``modules_compiled`` (0 on pure Python)."""
    state = describe()
    return {**state, "modules": compiled_modules(), "modules_compiled": len(MODULES) if state["modules"] else 0}


def describe() -> dict[str, object]:
    """Say which path is active: ``{"path": "compiled" | "pure Python", "why": ..., "modules": [...]}``."""
    on = active()
    return {
        "path": "compiled" if on else "pure Python",
        "why": str(_state["why"]),
        "modules": list(MODULES) if on else [],
    }

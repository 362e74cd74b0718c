"""The mypyc-compiled hot modules and the switch back to pure Python (``obs.native``, ``build_native.py``)."""

from __future__ import annotations

import importlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import msgspec
import pytest

from gateway.commands.admin import format_status
from obs import native

ROOT = Path(__file__).resolve().parent.parent

_PROBE = """
import importlib, json
from obs import native
files = {name: importlib.import_module(name).__file__ for name in native.MODULES}
print(json.dumps({"files": files, "state": native.describe(), "compiled": native.compiled_modules()}))
"""


def _probe(pure: str | None) -> dict[str, object]:
    env = {k: v for k, v in os.environ.items() if k != native.SWITCH}
    if pure is not None:
        env[native.SWITCH] = pure
    out = subprocess.run([sys.executable, "-c", _PROBE], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    result: dict[str, object] = json.loads(out.stdout)
    return result


def _built() -> None:
    env = {k: v for k, v in os.environ.items() if k != native.SWITCH}
    state = subprocess.run(
        [sys.executable, str(ROOT / "build_native.py"), "--check"], env=env, capture_output=True, text=True, check=False
    )
    if not native.MANIFEST.exists():
        pytest.skip("the compiled modules are not built (make venv builds them)")
    assert state.returncode == 0, f"{state.stdout.strip()}: run make venv (or make native)"


def test_switch_when_off_then_every_module_is_the_compiled_extension() -> None:
    _built()
    result = _probe(None)
    files = result["files"]
    assert isinstance(files, dict)
    assert all(str(path).endswith(".so") for path in files.values()), files
    assert result["compiled"] == list(native.MODULES)
    assert result["state"] == {
        "path": "compiled",
        "why": f"{len(native.MODULES)} modules compiled",
        "modules": list(native.MODULES),
    }


def test_switch_when_on_then_every_module_is_the_python_source() -> None:
    _built()
    result = _probe("1")
    files = result["files"]
    assert isinstance(files, dict)
    assert all(str(path).endswith(".py") for path in files.values()), files
    assert result["compiled"] == []
    assert result["state"] == {"path": "pure Python", "why": f"{native.SWITCH}=1", "modules": []}


@pytest.mark.parametrize("name", native.MODULES)
def test_compiled_module_when_imported_then_defines_no_msgspec_struct(name: str) -> None:
    """mypyc drops a Struct's class keywords (frozen, gc=False, tag, ...): Structs live in interpreted siblings."""
    module = importlib.import_module(name)
    structs = [
        obj.__name__
        for obj in vars(module).values()
        if isinstance(obj, type) and issubclass(obj, msgspec.Struct) and obj.__module__ == name
    ]
    assert structs == [], f"{name} defines msgspec Structs {structs}: move them to an interpreted module"


def test_source_hash_when_a_source_changes_then_differs(tmp_path: Path) -> None:
    for package in native.PACKAGES:
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("")
    before = native.source_hash(tmp_path)
    assert native.source_hash(tmp_path) == before
    (tmp_path / "risk" / "checks.py").write_text("X = 1\n")
    assert native.source_hash(tmp_path) != before


def test_stale_build_when_imported_then_pure_python(tmp_path: Path) -> None:
    """A build older than its sources is never used: the whole process falls back to pure Python."""
    _built()
    tree = tmp_path / "tree"
    for package in native.PACKAGES:
        shutil.copytree(ROOT / package, tree / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(native.BUILD, tree / "build" / "native")
    env = {k: v for k, v in os.environ.items() if k != native.SWITCH}
    env["PYTHONPATH"] = str(tree)
    probe = (
        "import risk.checks, json; from obs import native; print(json.dumps([risk.checks.__file__, native.describe()]))"
    )
    fresh = json.loads(
        subprocess.run([sys.executable, "-c", probe], cwd=tree, env=env, capture_output=True, check=True).stdout
    )
    assert fresh[0].endswith(".so")
    with (tree / "risk" / "checks.py").open("a") as f:
        f.write("\n# an edit not rebuilt\n")
    stale = json.loads(
        subprocess.run([sys.executable, "-c", probe], cwd=tree, env=env, capture_output=True, check=True).stdout
    )
    assert stale[0].endswith(".py")
    assert stale[1]["path"] == "pure Python" and stale[1]["why"].startswith("stale")


def test_status_when_rendered_then_names_the_hot_path() -> None:
    compiled = {
        "path": "compiled",
        "why": "3 modules compiled",
        "modules": ["risk.checks", "obs.histogram"],
        "modules_compiled": 3,
    }
    pure = {"path": "pure Python", "why": "GATEWAY_PURE_PYTHON=1", "modules": [], "modules_compiled": 0}
    # rev46ops: "compiled (2 modules: ...)" beside --json's why "3 modules": the list holds the loaded ones only
    assert "hot path: compiled (2 of the 3 compiled modules loaded: risk.checks, obs.histogram)" in format_status(
        {"hot_path": compiled}
    )
    assert "hot path: pure Python (GATEWAY_PURE_PYTHON=1)" in format_status({"hot_path": pure})


def test_status_when_a_gateway_runs_compiled_then_text_and_json_count_the_same_modules() -> None:
    _built()
    probe = (
        "import json, gateway.app\n"
        "from obs import native\n"
        "from gateway.commands.admin import format_status\n"
        "hot = native.hot_path_status()\n"
        "print(json.dumps([hot, format_status({'hot_path': hot})]))"
    )
    env = {k: v for k, v in os.environ.items() if k != native.SWITCH}
    result = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True)
    hot, text = json.loads(result.stdout)
    assert hot["why"] == f"{len(native.MODULES)} modules compiled"
    loaded = hot["modules"]
    assert 0 < len(loaded) < len(native.MODULES)  # the FIX venue's modules: not imported without a FIX venue
    assert f"hot path: compiled ({len(loaded)} of the {len(native.MODULES)} compiled modules loaded: " in text


def _tree_with_build(tmp_path: Path) -> Path:
    """Copy the runtime packages, the build, build_native.py and the Makefile (a checkout whose build is current)."""
    tree = tmp_path / "tree"
    for package in native.PACKAGES:
        shutil.copytree(ROOT / package, tree / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(native.BUILD, tree / "build" / "native")
    for name in ("build_native.py", "Makefile"):
        shutil.copy2(ROOT / name, tree / name)
    os.utime(tree / "build" / "native" / "manifest.json")  # newer than build_native.py, as after a build
    return tree


def _make_native(tree: Path) -> str:
    """Run ``make native`` in ``tree`` with the real interpreter and a stand-in for the build; return its output."""
    env = {k: v for k, v in os.environ.items() if k not in (native.SWITCH, "MAKEFLAGS", "MAKELEVEL")}
    overrides = ["STAMP=", f"BIN={Path(sys.executable).parent}", "NATIVE_BUILD=echo WOULD-REBUILD"]
    done = subprocess.run(
        ["make", "--no-print-directory", "native", *overrides],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout + done.stderr


@pytest.mark.parametrize("change", ["renamed", "deleted", "manifest hash differs"])
def test_make_native_when_sources_differ_from_the_manifest_then_rebuilds(tmp_path: Path, change: str) -> None:
    """``make`` decides by the manifest's source hash, as obs.native does: a rename keeps every file's date."""
    _built()
    if shutil.which("make") is None:
        pytest.skip("no make")
    tree = _tree_with_build(tmp_path)
    current = _make_native(tree)
    assert "WOULD-REBUILD" not in current and "compiled" in current, current
    spinner = tree / "gateway" / "ops" / "spinner.py"
    if change == "renamed":
        spinner.rename(spinner.with_name("spinner_old.py"))  # the file keeps its date
    elif change == "deleted":
        spinner.unlink()
    else:
        manifest = tree / "build" / "native" / "manifest.json"
        data = json.loads(manifest.read_text())
        data["sources"] = "0" * 64
        manifest.write_text(json.dumps(data))
    stale = _make_native(tree)
    assert "WOULD-REBUILD" in stale and "stale" in stale, stale

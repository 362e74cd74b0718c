"""Compile the hot modules named in ``obs.native.MODULES`` with mypyc into ``build/native/``, with ``EXTENSIONS``.

Run by ``make venv`` (``.venv/bin/python build_native.py``); uses the locked mypy (which ships mypyc)
and setuptools, and gcc. The sources stay where they are: the compiled modules go to a separate tree
that ``obs.native`` puts in front of each package's ``__path__`` (see there for the switch). The
manifest is written last, so an interrupted build is never used. ``--check`` only says whether the
build is current (exit 1 if not), by the same test ``obs.native`` makes at import (the manifest's module
list, interpreter and source hash, and the shared library loading): ``make native`` runs it and rebuilds
when it fails, so a deleted or renamed source (which no file date shows) is rebuilt too.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))

from obs import native  # noqa: E402 - after the checkout is on sys.path

_IMPORT_CHECK = """
import importlib
from obs import native
for name in (*native.MODULES, *native.EXTENSIONS):
    module = importlib.import_module(name)
    assert module.__file__.endswith(".so"), (name, module.__file__, native.describe())
"""
"""Run after the build, in a fresh interpreter: every module and C extension imports, and from the compiled tree."""


def build(jobs: int) -> None:
    """Compile ``native.MODULES`` into ``native.BUILD`` and write the manifest."""
    from mypyc.build import mypycify  # noqa: PLC0415 - the locked mypy's compiler; here, so --check stays quick
    from setuptools import Extension, setup  # noqa: PLC0415

    started = time.monotonic()
    source_hash = native.source_hash()
    shutil.rmtree(native.BUILD, ignore_errors=True)
    temp = ROOT / "build" / "native-tmp"
    paths = [str(Path(*name.split("."))) + ".py" for name in native.MODULES]
    os.chdir(ROOT)
    extensions = mypycify(paths, opt_level="3", group_name=native.GROUP, target_dir=str(temp / "c"))
    extensions += [Extension(name, [source]) for name, source in native.EXTENSIONS.items()]
    setup(
        name="gateway-native",
        ext_modules=extensions,
        script_args=[
            "--quiet",
            "build_ext",
            "--build-lib",
            str(native.BUILD),
            "--build-temp",
            str(temp / "o"),
            "--parallel",
            str(jobs),
        ],
    )
    manifest = {
        "modules": list(native.MODULES),
        "python": sys.implementation.cache_tag,
        "sources": source_hash,
        "seconds": round(time.monotonic() - started, 1),
    }
    native.MANIFEST.write_text(json.dumps(manifest, indent=1) + "\n")
    check = subprocess.run(
        [sys.executable, "-c", _IMPORT_CHECK], cwd=ROOT, env={**os.environ, native.SWITCH: ""}, check=False
    )
    if check.returncode != 0:  # fail loudly: make venv must not leave a build that silently runs pure Python
        native.MANIFEST.unlink()
        raise SystemExit(f"build_native: the compiled modules do not import (exit {check.returncode})")
    print(f"build_native: {len(native.MODULES)} modules compiled in {manifest['seconds']} s -> {native.BUILD}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="exit 1 unless the build matches the sources")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    if args.check:
        os.environ.pop(native.SWITCH, None)
        native.reset()
        state = native.describe()
        print(f"build_native: {state['path']} ({state['why']})")
        return 0 if state["path"] == "compiled" else 1
    build(args.jobs)
    return 0


if __name__ == "__main__":
    sys.exit(main())

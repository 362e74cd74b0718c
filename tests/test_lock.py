"""The committed lock agrees with pyproject.toml, and this environment has exactly the locked versions.

``make lock`` rewrites ``requirements/lock.txt`` from ``pyproject.toml`` (every extra) and
``requirements/*.in``; these tests fail when someone edits one side and not the other, so a
dependency change cannot land without its lock. ``make test-latest`` runs the suite against the
newest releases on purpose and sets ``GATEWAY_UNLOCKED=1``, which skips only the installed-versions check.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import tomllib
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements" / "lock.txt"
BOOTSTRAP = ROOT / "requirements" / "bootstrap.txt"
INPUTS = (ROOT / "requirements" / "bootstrap.in", ROOT / "requirements" / "dev.in")
PROJECT = "order-gateway"

_PIN = re.compile(
    r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>[^\s;\\]+)\s*(?:;\s*(?P<marker>[^\\]+?))?\s*\\?$"
)


def read_pins(path: Path) -> dict[str, tuple[str, list[str]]]:
    """Return {canonical name: (version, hashes)} for the pins of a lock file that apply here."""
    pins: dict[str, tuple[str, list[str]]] = {}
    current: str | None = None
    for line in path.read_text().splitlines():
        match = _PIN.match(line)
        if match:
            marker = match["marker"]
            applies = marker is None or Marker(marker).evaluate()
            current = canonicalize_name(match["name"]) if applies else None
            if current is not None:
                assert current not in pins, f"{path.name}: {current} pinned twice"
                pins[current] = (match["version"], [])
        elif current is not None and "--hash=" in line:
            pins[current][1].append(line.split("--hash=", 1)[1].rstrip(" \\"))
    return pins


def project_requirements() -> list[Requirement]:
    """Return pyproject.toml's build requirements, dependencies, every extra's and the requirements/*.in tools."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    project = pyproject["project"]
    lines = list(pyproject["build-system"]["requires"]) + list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        lines += extra
    for path in INPUTS:
        lines += [line.split("#")[0].strip() for line in path.read_text().splitlines() if line.split("#")[0].strip()]
    return [Requirement(line) for line in lines]


def _applies(requirement: Requirement, extras: set[str]) -> bool:
    if requirement.marker is None:
        return True
    return any(requirement.marker.evaluate({"extra": extra}) for extra in extras or {""})


def test_lock_when_read_then_every_pin_has_hashes() -> None:
    pins = read_pins(LOCK)
    assert len(pins) > 20
    assert all(hashes for _, hashes in pins.values()), [name for name, (_, h) in pins.items() if not h]


def test_lock_when_compared_with_pyproject_then_every_requirement_is_pinned_within_its_range() -> None:
    pins = read_pins(LOCK)
    problems = []
    for requirement in project_requirements():
        if not _applies(requirement, {""}):
            continue
        name = canonicalize_name(requirement.name)
        if name not in pins:
            problems.append(f"{requirement} is not in the lock")
        elif not requirement.specifier.contains(pins[name][0], prereleases=True):
            problems.append(f"{requirement} but the lock pins {pins[name][0]}")
    assert not problems, "pyproject.toml and requirements/lock.txt disagree (run `make lock`): " + "; ".join(problems)


def test_lock_when_compared_with_pyproject_then_it_holds_nothing_that_nothing_requires() -> None:
    """Walk the locked packages' own requirements from pyproject.toml's: every pin must be reached."""
    pins = read_pins(LOCK)
    reached: set[str] = set()
    walked: set[tuple[str, frozenset[str]]] = set()
    pending = [(r, {""}) for r in project_requirements()]
    while pending:
        requirement, extras = pending.pop()
        name = canonicalize_name(requirement.name)
        wanted = set(requirement.extras)
        if not _applies(requirement, extras) or name not in pins or (name, frozenset(wanted)) in walked:
            continue
        walked.add((name, frozenset(wanted)))
        reached.add(name)
        try:
            needs = importlib.metadata.requires(requirement.name) or []
        except importlib.metadata.PackageNotFoundError:
            continue  # not installed here: the installed-versions test names it
        pending += [(Requirement(line), wanted) for line in needs]
    unreached = sorted(set(pins) - reached)
    assert not unreached, f"the lock pins packages nothing requires any more (run `make lock`): {unreached}"


def test_bootstrap_when_compared_with_lock_then_pins_and_hashes_agree() -> None:
    lock = read_pins(LOCK)
    for name, (version, hashes) in read_pins(BOOTSTRAP).items():
        assert lock.get(name, ("missing", []))[0] == version, f"{name}: bootstrap {version}, lock {lock.get(name)}"
        assert set(hashes) <= set(lock[name][1]), f"{name}: bootstrap and lock hashes differ"


@pytest.mark.skipif(bool(os.environ.get("GATEWAY_UNLOCKED")), reason="make test-latest runs the newest releases")
def test_environment_when_installed_by_make_then_has_exactly_the_locked_versions() -> None:
    wrong = []
    for name, (version, _) in read_pins(LOCK).items():
        try:
            installed = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            installed = "not installed"
        if installed != version:
            wrong.append(f"{name} {installed} (lock {version})")
    assert not wrong, "this environment was not installed from the lock (make clean && make test): " + ", ".join(wrong)


def test_project_when_installed_then_it_is_this_checkout() -> None:
    assert (
        importlib.metadata.version(PROJECT)
        == tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    )

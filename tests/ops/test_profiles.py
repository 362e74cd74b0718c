"""The gateway's Onload profiles: valid shell, every setting explained, built on an Onload base profile."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from gateway.ops.onload import DEFAULT_PROFILE, gateway_profile_dir

PROFILE_DIR = gateway_profile_dir()
PROFILES = sorted(PROFILE_DIR.glob("*.opf"))
BASES = {"latency", "latency-best", "throughput"}

# Sources a profile the way onload does: onload_set sets a variable only if it is unset;
# onload_import is recorded instead of followed (the base profiles belong to Onload).
SOURCE_LIKE_ONLOAD = r"""
onload_set() { eval "cur=\${$1-}"; if [ -z "$cur" ]; then export "$1=$2"; fi; }
onload_import() { echo "IMPORT $1"; }
log() { :; }
. "$1"
env | grep '^EF_' | sort
"""


def _source(profile: Path, env: dict[str, str] | None = None) -> tuple[dict[str, str], list[str]]:
    result = subprocess.run(
        ["/bin/sh", "-c", SOURCE_LIKE_ONLOAD, "sh", str(profile)],
        capture_output=True,
        text=True,
        timeout=30,
        env={"PATH": "/usr/bin:/bin", **(env or {})},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    settings, imports = {}, []
    for line in result.stdout.splitlines():
        if line.startswith("IMPORT "):
            imports.append(line.split()[1])
        else:
            name, _, value = line.partition("=")
            settings[name] = value
    return settings, imports


def test_profiles_when_listed_then_default_strict_and_each_base_are_there() -> None:
    names = {p.stem for p in PROFILES}
    assert {DEFAULT_PROFILE, "gateway-strict", "gateway-latency-best", "gateway-throughput"} <= names


@pytest.mark.parametrize("profile", PROFILES, ids=lambda p: p.name)
def test_profile_when_sourced_then_names_the_stack_and_imports_one_onload_base(profile: Path) -> None:
    settings, imports = _source(profile)
    assert len(imports) == 1 and imports[0] in BASES
    assert settings["EF_NAME"] == "gateway"  # at most 8 characters, shown in the start-up log
    assert all(name.startswith("EF_") for name in settings)


@pytest.mark.parametrize("profile", PROFILES, ids=lambda p: p.name)
def test_profile_when_read_then_every_setting_block_starts_with_a_comment(profile: Path) -> None:
    block_has_comment = False
    for number, line in enumerate(profile.read_text().splitlines(), 1):
        stripped = line.strip()
        if not stripped:
            block_has_comment = False
        elif stripped.startswith("#"):
            block_has_comment = True
        elif stripped.startswith(("onload_set", "onload_import")):
            assert block_has_comment, f"{profile.name}:{number}: '{stripped}' has no comment saying why"


@pytest.mark.parametrize("profile", PROFILES, ids=lambda p: p.name)
def test_profile_when_imported_base_comes_last_then_gateway_settings_win(profile: Path) -> None:
    statements = [
        line.strip()
        for line in profile.read_text().splitlines()
        if line.strip().startswith(("onload_set", "onload_import"))
    ]
    assert statements[-1].startswith("onload_import")  # onload_set never overwrites: ours must come first


def test_strict_profile_when_sourced_then_ef_no_fail_is_zero() -> None:
    settings, imports = _source(PROFILE_DIR / "gateway-strict.opf")
    assert settings["EF_NO_FAIL"] == "0"
    assert imports == ["latency"]
    latency, _ = _source(PROFILE_DIR / f"{DEFAULT_PROFILE}.opf")
    assert {k: v for k, v in settings.items() if k != "EF_NO_FAIL"} == latency


def test_default_profile_when_environment_sets_a_value_then_environment_wins() -> None:
    settings, _ = _source(PROFILE_DIR / f"{DEFAULT_PROFILE}.opf", {"EF_MAX_PACKETS": "65536"})
    assert settings["EF_MAX_PACKETS"] == "65536"


def test_throughput_profile_when_sourced_then_sets_what_the_fragment_divides_by_and_sizes_it_down() -> None:
    settings, imports = _source(PROFILE_DIR / "gateway-throughput.opf")
    assert imports == ["throughput"]
    assert settings["EF_CLUSTER_SIZE"] == "1"
    assert int(settings["EF_MAX_PACKETS"]) <= 65536
    assert settings["EF_TCP_SHARED_LOCAL_PORTS_NO_FALLBACK"] == "0"

"""The gateway's Onload profiles: valid shell, every setting explained, built on an Onload base profile."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from gateway.ops.onload import DEFAULT_PROFILE, gateway_profile_dir
from gateway.ops.onload_env import resolve_profile
from tests.ops.conftest import ONLOAD_BASE_PROFILES

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


# ------------------------------------------------------------ resolved through onload_import, as onload does

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "ops-guide.md"
HOST_ONLOAD_PROFILES = Path("/usr/libexec/onload/profiles")


def _resolved(profile: Path, bases: Path) -> dict[str, str]:
    resolution = resolve_profile(str(profile), [str(bases)])
    assert resolution.error is None and resolution.missing == (), resolution
    return resolution.values


def _guide_table() -> tuple[list[str], dict[str, list[str]]]:
    """Return the profiles (columns) and ``{variable: [value per profile]}`` of the guide's resolved table."""
    lines = GUIDE.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("#### What each profile resolves to"))
    header = next(i for i in range(start, len(lines)) if lines[i].startswith("| Variable |"))
    profiles = [cell.strip().strip("`") for cell in lines[header].strip("|").split("|")[1:]]
    rows: dict[str, list[str]] = {}
    for line in lines[header + 2 :]:
        if not line.startswith("|"):
            break
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        rows[cells[0].strip("`")] = [cell.split()[0].strip("`") for cell in cells[1:]]
    return profiles, rows


@pytest.mark.parametrize("profile", PROFILES, ids=lambda p: p.name)
def test_profile_when_resolved_with_its_imports_then_single_threaded_user_level_epoll(profile: Path) -> None:
    for bases in (ONLOAD_BASE_PROFILES, HOST_ONLOAD_PROFILES):
        if not bases.is_dir():
            continue  # the host's own Onload profiles, when this host has Onload
        values = _resolved(profile, bases)
        assert values["EF_UL_EPOLL"] == "1", bases  # the guide: mode 1 in every gateway profile
        assert values["EF_EPOLL_MT_SAFE"] == "1", bases
        assert values["EF_NAME"] == "gateway"


def test_guide_table_when_compared_with_every_resolved_profile_then_every_cell_matches() -> None:
    profiles, rows = _guide_table()
    assert sorted(profiles) == sorted(p.stem for p in PROFILES)
    for column, name in enumerate(profiles):
        values = _resolved(PROFILE_DIR / f"{name}.opf", ONLOAD_BASE_PROFILES)
        for variable, cells in rows.items():
            expected = None if cells[column] == "-" else cells[column]
            assert values.get(variable) == expected, f"{name}: {variable}"
        assert set(values) <= set(rows), f"{name} sets {sorted(set(values) - set(rows))}, missing from the guide"


def test_force_profiles_when_used_then_the_imported_base_would_override_the_gateway_settings() -> None:
    # why `gateway launch` never passes --force-profiles (docs/ops-guide.md, section 2)
    forced = resolve_profile(str(PROFILE_DIR / "gateway-throughput.opf"), [str(ONLOAD_BASE_PROFILES)], force=True)
    assert forced.values["EF_UL_EPOLL"] == "3"
    assert int(forced.values["EF_MAX_PACKETS"]) > 5_000_000

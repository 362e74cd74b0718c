"""The ``EF_*`` variables an Onload stack will run with, and where each one comes from.

``onload`` builds the stack's configuration from environment variables: a profile is a shell
fragment whose ``onload_set VAR VALUE`` sets ``VAR`` only if it is still empty (unless
``onload --force-profiles``), and whose ``onload_import NAME`` sources another profile. So a
stale ``EF_*`` left in the caller's environment silently wins over the profile.

``resolve_profile`` sources a profile the way ``onload`` does (same precedence, same search
path for imports: ``~/.openonload/profiles`` then ``/usr/libexec/onload/profiles``,
``.opf-fragment`` files only for nested imports, then the name as a path) and records which
file set each variable. ``plan_onload_environment`` decides, for the launcher, which inherited
``EF_*`` to drop and what the stack ends up with; the launcher hands that plan to the gateway
(``GATEWAY_ONLOAD_ENV``) and ``observe_onload_environment`` compares it with what the gateway
process actually received.

The launcher drops every inherited ``EF_*`` unless told to keep them, and never passes
``--force-profiles``: with it every ``onload_set`` overwrites, so the imported base profile,
which comes last, would override the gateway's own settings (``gateway-throughput`` would be
back to ``EF_UL_EPOLL=3`` and 5.7 million packet buffers) as well as ``--strict-acceleration``'s
``EF_NO_FAIL=0`` wherever a profile sets it.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Mapping, Sequence

import msgspec

from gateway.ops.acceleration import ONLOAD_ENV_ENV
from gateway.ops.host import HostView
from gateway.ops.onload import ONLOAD_PROFILE_DIRS

PROFILE = "profile"
ENVIRONMENT = "environment"
LAUNCHER = "launcher"
UNPLANNED = "unplanned"
MISSING = "missing"

_SHIM = r"""
_gw_force="$1"; _gw_top="$2"; _gw_dirs="$3"
shift 3
_gw_file=
_gw_toplevel=true
log() { :; }
err() { :; }
onload_set() {
  if [ -z "$2" ]; then _gw_var=${1%%=*}; _gw_val=${1#*=}; else _gw_var=$1; _gw_val=$2; fi
  if [ "$_gw_force" = 1 ] || eval test -z "\"\${$_gw_var-}\""; then
    eval "$_gw_var=\$_gw_val"
    export "$_gw_var"
    printf 'SET\t%s\t%s\n' "$_gw_var" "$_gw_file"
  fi
}
onload_import() {
  local name found dir saved ifs
  name=$1
  found=
  ifs=$IFS
  IFS='
'
  for dir in $_gw_dirs; do
    if [ -f "$dir/$name.opf" ]; then found="$dir/$name.opf"; break; fi
    if ! $_gw_toplevel && [ -f "$dir/$name.opf-fragment" ]; then found="$dir/$name.opf-fragment"; break; fi
  done
  IFS=$ifs
  if [ -z "$found" ] && [ -f "$name" ]; then found=$name; fi
  if [ -z "$found" ]; then printf 'MISSING\t%s\n' "$name"; return 0; fi
  _gw_toplevel=false
  saved=$_gw_file
  _gw_file=$found
  . "$found"
  _gw_file=$saved
}
onload_import "$_gw_top"
env | while IFS= read -r _gw_line; do
  case "$_gw_line" in EF_*) printf 'ENV\t%s\n' "$_gw_line";; esac
done
"""


class ProfileResolution(msgspec.Struct, frozen=True):
    """What a profile (and its imports) sets, given the variables already set when ``onload`` runs."""

    values: dict[str, str]
    """Every ``EF_*`` once the profile ran: the seeds, plus what it set."""
    set_by: dict[str, str]
    """The file that set each variable the profile set (the last one, with ``force``)."""
    missing: tuple[str, ...] = ()
    """Imported profiles not found on this host (their settings are unknown here)."""
    error: str | None = None


def onload_profile_dirs(host: HostView, home: str | None = None) -> list[str]:
    """Return Onload's profile directories on this host, in the order ``onload_import`` searches them."""
    home_dir = home if home is not None else os.path.expanduser("~")
    dirs = []
    for directory in ONLOAD_PROFILE_DIRS:
        expanded = directory.replace("~", home_dir, 1) if directory.startswith("~") else directory
        dirs.append(str(host.path(expanded)))
    return dirs


def resolve_profile(
    profile: str,
    search_dirs: Sequence[str],
    seed: Mapping[str, str] | None = None,
    *,
    force: bool = False,
    cwd: str | None = None,
    timeout_s: float = 10.0,
) -> ProfileResolution:
    """Source ``profile`` (a path or an Onload profile name) as ``onload`` would; return what it sets.

    ``seed`` are the ``EF_*`` already in the environment (they win unless ``force``). The profile
    runs in ``/bin/sh`` with only ``PATH``, ``HOME`` and the seeds, like ``onload`` would run it
    for the gateway (profiles are shell code; ``latency-best`` looks at ``/sys/class/net``).
    """
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": os.path.expanduser("~"), **(seed or {})}
    argv = ["/bin/sh", "-c", _SHIM, "sh", "1" if force else "0", profile, "\n".join(search_dirs)]
    try:
        done = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout_s, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return ProfileResolution(dict(seed or {}), {}, error=f"could not source the profile: {exc}")
    values: dict[str, str] = {}
    set_by: dict[str, str] = {}
    missing: list[str] = []
    for line in done.stdout.splitlines():
        kind, _, rest = line.partition("\t")
        if kind == "SET":
            name, _, source = rest.partition("\t")
            set_by[name] = source
        elif kind == "MISSING":
            missing.append(rest)
        elif kind == "ENV":
            name, _, value = rest.partition("=")
            values[name] = value
    error = None
    if done.returncode != 0:
        said = done.stderr.strip().splitlines()
        error = f"sourcing the profile failed (exit {done.returncode})" + (f": {said[-1]}" if said else "")
    return ProfileResolution(values, set_by, tuple(missing), error)


class EfSetting(msgspec.Struct, frozen=True):
    """One ``EF_*`` variable of the stack: its value, where it comes from, and the profile's own value."""

    name: str
    value: str
    source: str
    """``profile``, ``environment`` (inherited from the caller and kept), ``launcher`` (its own flags)
    or, in the gateway, ``unplanned`` (not what the launcher planned) or ``missing`` (planned, not received:
    ``value`` is empty)."""
    origin: str
    """The profile file that set it, the caller, or the launcher flag."""
    profile_value: str | None = None
    """What the profile alone sets (``None``: the profile does not set it, or it is not known)."""


class OnloadEnvPlan(msgspec.Struct, frozen=True):
    """The launcher's decision about ``EF_*``: what to drop, what the stack gets, what to warn about."""

    settings: tuple[EfSetting, ...]
    unset: tuple[str, ...]
    warnings: tuple[str, ...]
    missing_imports: tuple[str, ...] = ()
    error: str | None = None

    def to_env(self) -> str:
        """Return the JSON the gateway receives in ``GATEWAY_ONLOAD_ENV``."""
        return json.dumps([msgspec.to_builtins(s) for s in self.settings], separators=(",", ":"))


def plan_onload_environment(
    profile: str,
    search_dirs: Sequence[str],
    environ: Mapping[str, str],
    launcher_env: Mapping[str, str],
    *,
    keep_inherited: bool,
    cwd: str | None = None,
) -> OnloadEnvPlan:
    """Decide the ``EF_*`` of the stack: the profile's, the launcher's own and (if kept) the caller's.

    Every inherited ``EF_*`` is dropped unless ``keep_inherited``; either way each one that differs
    from the profile's value (or that the profile does not set) gets a warning.
    """
    inherited = {k: v for k, v in environ.items() if k.startswith("EF_") and k not in launcher_env}
    own = {k: v for k, v in launcher_env.items() if k.startswith("EF_")}
    kept = inherited if keep_inherited else {}
    alone = resolve_profile(profile, search_dirs, cwd=cwd)
    effective = resolve_profile(profile, search_dirs, {**own, **kept}, cwd=cwd) if own or kept else alone
    warnings = []
    for name, value in sorted(inherited.items()):
        theirs = alone.values.get(name)
        if theirs == value:
            continue
        says = f"the profile sets {theirs}" if theirs is not None else "the profile does not set it"
        if theirs is None and alone.missing:
            says += f" as far as this host shows: it imports {', '.join(alone.missing)}, not found here"
        if keep_inherited:
            warnings.append(f"inherited {name}={value} overrides the profile ({says}): kept (--keep-ef-environment)")
        else:
            applies = f"the profile's {theirs} applies" if theirs is not None else "Onload's default applies"
            warnings.append(
                f"inherited {name}={value} dropped ({says}); {applies}"
                " (pass --keep-ef-environment to keep the caller's EF_* variables)"
            )
    settings = []
    for name, value in sorted(effective.values.items()):
        theirs = alone.values.get(name)
        if name in own:
            setting = EfSetting(name, value, LAUNCHER, "--strict-acceleration", theirs)
        elif name in kept:
            setting = EfSetting(name, value, ENVIRONMENT, "inherited from the caller", theirs)
        else:
            setting = EfSetting(name, value, PROFILE, effective.set_by.get(name, profile), theirs)
        settings.append(setting)
    unset = tuple(sorted(name for name in inherited if not keep_inherited))
    return OnloadEnvPlan(
        tuple(settings), unset, tuple(warnings), alone.missing or effective.missing, alone.error or effective.error
    )


def observe_onload_environment(environ: Mapping[str, str]) -> list[EfSetting]:
    """Return every ``EF_*`` this process has, with its source as the launcher planned it.

    A variable the launcher did not plan, or with another value, is ``unplanned`` (something
    between the launcher and the gateway set it: ``/etc/openonload.sh``, ``~/.openonload.sh``,
    a wrapper); one it planned that the process does not have is ``missing`` (a wrapper dropped
    it: Onload's default applies). Without the launcher, every ``EF_*`` is ``environment``.
    """
    planned: dict[str, EfSetting] = {}
    raw = environ.get(ONLOAD_ENV_ENV)
    if raw:
        try:
            planned = {s.name: s for s in msgspec.convert(json.loads(raw), list[EfSetting])}
        except (ValueError, msgspec.ValidationError):
            planned = {}
    found = []
    for name, value in sorted((k, v) for k, v in environ.items() if k.startswith("EF_")):
        plan = planned.get(name)
        if not raw:
            found.append(EfSetting(name, value, ENVIRONMENT, "started without gateway launch"))
        elif plan is None:
            found.append(EfSetting(name, value, UNPLANNED, "not set by the launcher's plan"))
        elif plan.value != value:
            found.append(EfSetting(name, value, UNPLANNED, f"the launcher planned {plan.value}", plan.profile_value))
        else:
            found.append(plan)
    for name, plan in planned.items():
        if name not in environ:
            says = f"the launcher planned {plan.value} ({_note(plan)}), not in this process's environment"
            found.append(EfSetting(name, "", MISSING, says, plan.profile_value))
    found.sort(key=lambda setting: setting.name)
    return found


def _note(setting: EfSetting) -> str:
    """Return where ``setting`` comes from, as the start-up line says it: ``profile gateway-latency.opf``."""
    if setting.source == PROFILE:
        return f"{setting.source} {os.path.basename(setting.origin)}"
    return f"{setting.source}: {setting.origin}"


def describe_settings(settings: Sequence[EfSetting]) -> str:
    """Return the settings as one line: ``EF_NAME=gateway (profile gateway-latency.opf), ...``."""
    if not settings:
        return "none"
    parts = []
    for setting in settings:
        if setting.source == MISSING:
            parts.append(f"{setting.name} MISSING ({setting.origin}: Onload's default applies)")
            continue
        note = _note(setting)
        if setting.source != PROFILE and setting.profile_value is not None and setting.profile_value != setting.value:
            note += f"; the profile sets {setting.profile_value}"
        parts.append(f"{setting.name}={setting.value} ({note})")
    return ", ".join(parts)

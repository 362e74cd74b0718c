"""OpenOnload: is it usable on this host, is it in this process, is this socket accelerated, which profile.

Three separate questions, answered separately:

* host (for ``gateway launch``): is the ``onload`` executable on PATH (found and run
  through ``sh``), which version, is the driver loaded (``/sys/module/onload`` or
  ``/dev/onload``), and is there a ``/dev/onload`` this user may open read-write (without
  it libonload creates no stack)? ``onload`` itself exits 1 without the driver, so the
  launcher must decide before exec'ing it.
* process (for the start-up log): is ``libonload.so`` mapped into this process and
  does ``onload_is_present()`` (exported by libonload, found through ``dlsym`` on the
  main program) say 1?
* socket (for every venue connection): ``onload_fd_stat(fd, &stat)`` returns 1 and
  the stack when the descriptor is accelerated, 0 when the kernel has it. Onload can
  hand a socket to the kernel at ``connect()`` (no route through an Onload interface,
  loopback, out of resources), so this is checked after connect.
"""

from __future__ import annotations

import ctypes
import os
import pwd
import re
import stat
from pathlib import Path

import msgspec

from gateway.ops.host import HostView, find_executable

ONLOAD_DRIVER_PATHS = ("/sys/module/onload", "/dev/onload")
ONLOAD_DRIVER_VERSION = "/sys/module/onload/version"
ONLOAD_DEVICE = "/dev/onload"
ONLOAD_EPOLL_DEVICE = "/dev/onload_epoll"
ONLOAD_SYSCONFIG = "/etc/sysconfig/openonload"
"""Where Onload's udev rule takes /dev/onload's owner, group and mode from (ONLOAD_USER/GROUP/MODE)."""
ONLOAD_PROFILE_DIRS = ("~/.openonload/profiles", "/usr/libexec/onload/profiles")
"""Where ``onload`` looks up profile names given without a path."""

KNOWN_ONLOAD_PROFILES = ("latency", "latency-best", "safe", "cloud")
"""Profiles every Onload release ships (``throughput`` is a fragment: import it from a ``.opf``)."""

PROFILE_DIR_ENV = "GATEWAY_ONLOAD_PROFILE_DIR"
DEFAULT_PROFILE = "gateway-latency"

_VERSION_LINE = re.compile(r"\b(?:Open)?Onload\S*\s+v?(\d[\w.\-]*)", re.IGNORECASE)
_KERNEL_MODULE_LINE = re.compile(r"Kernel module:\s*(.+)")


# ---------------------------------------------------------------------------------------------- host


class Identity(msgspec.Struct, frozen=True):
    """A Unix user as the kernel checks file permissions: uid and every group (primary and supplementary)."""

    user: str
    uid: int
    gids: tuple[int, ...]


def current_identity() -> Identity:
    """Return this process's user."""
    uid = os.getuid()
    try:
        user = pwd.getpwuid(uid).pw_name
    except KeyError:
        user = f"uid {uid}"
    return Identity(user, uid, tuple(sorted({os.getgid(), *os.getgroups()})))


def _colon_file(host: HostView, path: str) -> list[list[str]]:
    return [line.split(":") for line in (host.read(path) or "").splitlines() if line and not line.startswith("#")]


def identity_of(user: str, host: HostView) -> Identity | None:
    """Look ``user`` up in the host's ``/etc/passwd`` and ``/etc/group`` (``None``: no such user)."""
    for fields in _colon_file(host, "/etc/passwd"):
        if len(fields) >= 4 and fields[0] == user and fields[2].isdigit() and fields[3].isdigit():
            gids = {int(fields[3])}
            for group in _colon_file(host, "/etc/group"):
                if len(group) >= 4 and group[2].isdigit() and user in group[3].split(","):
                    gids.add(int(group[2]))
            return Identity(user, int(fields[2]), tuple(sorted(gids)))
    return None


def _name_of(host: HostView, path: str, number: int) -> str:
    for fields in _colon_file(host, path):
        if len(fields) >= 3 and fields[2] == str(number):
            return fields[0]
    return str(number)


def device_access_problem(host: HostView, identity: Identity, device: str = ONLOAD_DEVICE) -> str | None:
    """Return why ``identity`` cannot open ``device`` read-write (owner, group and mode bits), or ``None``.

    ``None`` too when the device does not exist (nothing to judge). ACLs are not looked at.
    """
    try:
        st = host.path(device).stat()
    except OSError:
        return None
    if identity.uid == 0:
        return None
    mode = st.st_mode
    if st.st_uid == identity.uid:
        allowed = mode & 0o600 == 0o600
    elif st.st_gid in identity.gids:
        allowed = mode & 0o060 == 0o060
    else:
        allowed = mode & 0o006 == 0o006
    if allowed:
        return None
    owner = _name_of(host, "/etc/passwd", st.st_uid)
    group = _name_of(host, "/etc/group", st.st_gid)
    member = "in" if st.st_gid in identity.gids else "not in"
    return (
        f"{device} is {owner}:{group} mode {stat.S_IMODE(mode):04o} and user {identity.user} (uid {identity.uid},"
        f" {member} group {group}) cannot open it read-write"
    )


def device_problem(host: HostView, identity: Identity) -> str | None:
    """Return why ``identity`` cannot use /dev/onload: there is none, or it may not open it (``None``: it can).

    Unlike ``device_access_problem``, a missing device is a problem: at boot the driver is loaded
    (``/sys/module/onload``) before udev creates /dev/onload, and until then libonload cannot
    create a stack, so every socket would stay on the kernel.
    """
    if not host.exists(ONLOAD_DEVICE):
        return (
            f"there is no {ONLOAD_DEVICE} (udev has not created it yet: 'udevadm trigger --subsystem-match=onload',"
            " or 'onload_tool reload')"
        )
    return device_access_problem(host, identity)


def device_access_fix(host: HostView, identity: Identity, device: str = ONLOAD_DEVICE) -> str:
    """Return the command that lets ``identity`` use ``device``."""
    try:
        group = _name_of(host, "/etc/group", host.path(device).stat().st_gid)
    except OSError:
        group = "onload_users"
    return (
        f"usermod -aG {group} {identity.user} (then restart the gateway), or set ONLOAD_GROUP/ONLOAD_MODE in"
        f" {ONLOAD_SYSCONFIG} and run 'udevadm trigger --subsystem-match=onload' (or 'onload_tool reload')"
    )


class OnloadEnvironment(msgspec.Struct, frozen=True):
    """What the launcher found about Onload on this host."""

    executable: str | None
    version: str | None
    driver_loaded: bool
    driver_version: str | None
    version_output: str = ""
    device_problem: str | None = None
    """Why this user cannot use /dev/onload: there is none, or it may not open it (``None``: it can)."""

    def unusable_reason(self) -> str | None:
        """Return why Onload cannot be used here, or ``None`` if it can."""
        if self.executable is None:
            return "onload executable not found on PATH"
        if self.version is None:
            detail = self.version_output.strip().splitlines()[:1]
            said = f": {detail[0]}" if detail else ""
            return f"'{self.executable} --version' did not report a version{said}"
        if not self.driver_loaded:
            return (
                f"Onload {self.version} is installed but its driver is not loaded"
                " (no /sys/module/onload, no /dev/onload; load it with 'onload_tool reload')"
            )
        if self.device_problem is not None:
            # libonload could not create a stack: every socket would silently stay on the kernel
            return f"Onload {self.version} and its driver are loaded but {self.device_problem}"
        return None

    def version_mismatch(self) -> str | None:
        """Describe a user-level/driver version difference, or ``None``."""
        if self.version and self.driver_version and self.version != self.driver_version:
            return f"user-level Onload {self.version} differs from the loaded driver {self.driver_version}"
        return None

    def summary(self) -> str:
        """One phrase for logs: version, path and driver state."""
        if self.executable is None:
            return "not installed"
        driver = f"driver {self.driver_version or 'loaded'}" if self.driver_loaded else "driver not loaded"
        return f"Onload {self.version or '(version unknown)'} at {self.executable}, {driver}"


def parse_onload_version(output: str) -> tuple[str | None, str | None]:
    """Return (user-level version, kernel module version) from ``onload --version`` output."""
    version = None
    for line in output.splitlines():
        match = _VERSION_LINE.search(line)
        if match:
            version = match.group(1)
            break
    module = _KERNEL_MODULE_LINE.search(output)
    module_version = module.group(1).strip() if module else None
    if module_version is not None and not re.match(r"\d", module_version):
        module_version = None  # "[onload module not loaded]"
    return version, module_version


def detect_onload_environment(
    host: HostView, executable: str | None = None, identity: Identity | None = None
) -> OnloadEnvironment:
    """Find ``onload`` on PATH (or use ``executable``), ask its version, look for the driver and /dev/onload.

    ``identity`` is the user the gateway will run as (default: this process's).
    """
    path = executable if executable is not None else find_executable("onload")
    driver_loaded = any(host.exists(p) for p in ONLOAD_DRIVER_PATHS)
    driver_version = host.read_value(ONLOAD_DRIVER_VERSION) or None
    device = device_problem(host, identity or current_identity())
    if path is None:
        return OnloadEnvironment(None, None, driver_loaded, driver_version, device_problem=device)
    result = host.run([path, "--version"])
    output = "" if result is None else result.output
    version, module_version = parse_onload_version(output)
    return OnloadEnvironment(path, version, driver_loaded, driver_version or module_version, output, device)


def refresh_driver(host: HostView, found: OnloadEnvironment, identity: Identity | None = None) -> OnloadEnvironment:
    """Look at the driver and /dev/onload again (without running ``onload``), e.g. while waiting at boot."""
    return msgspec.structs.replace(
        found,
        driver_loaded=any(host.exists(p) for p in ONLOAD_DRIVER_PATHS),
        driver_version=host.read_value(ONLOAD_DRIVER_VERSION) or found.driver_version,
        device_problem=device_problem(host, identity or current_identity()),
    )


# ------------------------------------------------------------------------------------------ profiles


class ResolvedProfile(msgspec.Struct, frozen=True):
    """A profile as ``onload --profile=`` should receive it."""

    argument: str
    """Absolute ``.opf`` path, or an Onload profile name."""
    source: str
    """``file`` (explicit path), ``gateway`` (deploy/onload) or ``onload`` (Onload's own)."""


class ProfileError(msgspec.Struct, frozen=True):
    """A profile that cannot be used, with the reason an operator can act on."""

    profile: str
    reason: str


def gateway_profile_dir(environ: dict[str, str] | os._Environ[str] | None = None) -> Path:
    """Return the directory of the gateway's ``*.opf``: ``$GATEWAY_ONLOAD_PROFILE_DIR`` or deploy/onload."""
    env = os.environ if environ is None else environ
    override = env.get(PROFILE_DIR_ENV)
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[2] / "deploy" / "onload"


def onload_profile_names(host: HostView) -> list[str]:
    """Return profile names ``onload`` can resolve itself on this host, plus the ones every release ships."""
    names = set(KNOWN_ONLOAD_PROFILES)
    for directory in ONLOAD_PROFILE_DIRS:
        expanded = os.path.expanduser(directory)
        for name in host.listdir(expanded) or []:
            if name.endswith(".opf"):
                names.add(name[: -len(".opf")])
    return sorted(names)


def resolve_profile(profile: str, host: HostView, profile_dir: Path) -> ResolvedProfile | ProfileError:
    """Turn ``--profile`` (a path, a gateway profile or an Onload profile name) into onload's argument."""
    if not profile or "," in profile:
        return ProfileError(profile, "give exactly one profile (a name or a path to an .opf file)")
    if "/" in profile or profile.endswith(".opf"):
        path = Path(profile).expanduser()
        if not path.is_file():
            return ProfileError(profile, f"profile file {path} does not exist")
        return ResolvedProfile(str(path.resolve()), "file")
    candidate = profile_dir / f"{profile}.opf"
    if candidate.is_file():
        return ResolvedProfile(str(candidate.resolve()), "gateway")
    known = onload_profile_names(host)
    if profile in known:
        return ResolvedProfile(profile, "onload")
    gateway_names = sorted(p.stem for p in profile_dir.glob("*.opf")) if profile_dir.is_dir() else []
    return ProfileError(
        profile,
        f"unknown profile '{profile}': not {candidate}, not an Onload profile"
        f" (gateway profiles: {', '.join(gateway_names) or 'none'}; Onload profiles: {', '.join(known)})",
    )


# ------------------------------------------------------------------------------------------- process


class _OnloadStat(ctypes.Structure):
    _fields_ = [
        ("stack_id", ctypes.c_int32),
        ("stack_name", ctypes.c_void_p),
        ("endpoint_id", ctypes.c_int32),
        ("endpoint_state", ctypes.c_int32),
    ]


class FdStat(msgspec.Struct, frozen=True):
    """``onload_fd_stat`` for one descriptor."""

    accelerated: bool
    stack_id: int = -1
    stack_name: str = ""
    endpoint_id: int = -1


class OnloadExtensions:
    """The Onload extension functions, bound through ``dlsym`` on this process (present only under Onload)."""

    def __init__(self, library: ctypes.CDLL) -> None:
        self._is_present = library.onload_is_present
        self._is_present.restype = ctypes.c_int
        self._is_present.argtypes = []
        self._fd_stat = getattr(library, "onload_fd_stat", None)
        if self._fd_stat is not None:
            self._fd_stat.restype = ctypes.c_int
            self._fd_stat.argtypes = [ctypes.c_int, ctypes.POINTER(_OnloadStat)]
        self._free = ctypes.CDLL(None).free
        self._free.argtypes = [ctypes.c_void_p]
        self._free.restype = None

    @classmethod
    def load(cls) -> OnloadExtensions | None:
        """Bind the functions if libonload is loaded into this process, else return ``None``."""
        try:
            library = ctypes.CDLL(None)
            library.onload_is_present  # noqa: B018 - raises AttributeError when absent
        except (OSError, AttributeError):
            return None
        return cls(library)

    def is_present(self) -> bool:
        """Return ``onload_is_present() != 0``."""
        return bool(self._is_present())

    @property
    def has_fd_stat(self) -> bool:
        """Return True if this Onload exports ``onload_fd_stat``."""
        return self._fd_stat is not None

    def fd_stat(self, fd: int) -> FdStat | str:
        """Return the descriptor's acceleration, or a text saying why it could not be read."""
        if self._fd_stat is None:
            return "onload_fd_stat not exported by this Onload"
        stat = _OnloadStat()
        rc = int(self._fd_stat(fd, ctypes.byref(stat)))
        if rc < 0:
            return f"onload_fd_stat({fd}) failed: {os.strerror(-rc)}"
        name = ""
        if stat.stack_name:
            name = (ctypes.string_at(stat.stack_name) or b"").decode(errors="replace")
            self._free(stat.stack_name)
        if rc == 0:
            return FdStat(False)
        return FdStat(True, int(stat.stack_id), name, int(stat.endpoint_id))


class OnloadProcessInfo(msgspec.Struct, frozen=True):
    """Whether this process runs under Onload."""

    library: str | None
    """Path of the mapped libonload.so, or ``None``."""
    is_present: bool | None
    """``onload_is_present()``; ``None`` when the symbol is not in the process."""
    fd_stat: bool
    """Whether ``onload_fd_stat`` can be called."""

    @property
    def active(self) -> bool:
        """Return True if Onload intercepts this process's sockets."""
        return bool(self.is_present)

    def describe(self) -> str:
        """One phrase for the start-up log."""
        if self.is_present:
            return f"{self.library or 'libonload'} loaded, onload_is_present()=1"
        if self.library:
            return f"{self.library} mapped but onload_is_present() is not 1"
        return "libonload.so not loaded in this process"


def mapped_onload_library(maps_text: str | None) -> str | None:
    """Return the path of libonload from ``/proc/self/maps`` text, or ``None``."""
    for line in (maps_text or "").splitlines():
        fields = line.split(maxsplit=5)
        if len(fields) == 6:
            name = os.path.basename(fields[5].strip())
            # libonload_ext.so is the stub extensions library: mapped without Onload too.
            if name == "libonload.so" or name.startswith("libonload.so."):
                return fields[5].strip()
    return None


def probe_process(extensions: OnloadExtensions | None = None, maps_path: str = "/proc/self/maps") -> OnloadProcessInfo:
    """Look for libonload in this process and ask it ``onload_is_present()``."""
    try:
        maps_text: str | None = Path(maps_path).read_text()
    except OSError:
        maps_text = None
    library = mapped_onload_library(maps_text)
    ext = extensions if extensions is not None else OnloadExtensions.load()
    if ext is None:
        return OnloadProcessInfo(library, None, False)
    return OnloadProcessInfo(library, ext.is_present(), ext.has_fd_stat)

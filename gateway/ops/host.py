"""Read-only view of the host's /proc, /sys and tools, rooted anywhere (tests and containers move it).

Every host fact the launcher and ``gateway doctor`` use goes through a ``HostView``:
``HostView(Path("/"))`` is this machine, ``HostView(tmp_path)`` a fake tree in a test,
``HostView(Path("/host"))`` a host filesystem mounted into a container. Reads never
raise: a missing or unreadable file is ``None``, which callers report as "unknown".
"""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import msgspec
import sh

# sh logs every process start at INFO; ops logs carry one line per decision, not per probe.
logging.getLogger("sh").setLevel(logging.WARNING)

HOST_ROOT_ENV = "GATEWAY_HOST_ROOT"
"""Environment variable naming the host root (default ``/``)."""


class CommandOutput(msgspec.Struct, frozen=True):
    """What a finished command printed (stdout and stderr together) and its exit status."""

    exit_code: int
    output: str


_ANY_EXIT = tuple(range(256))

CommandRunner = Callable[[Sequence[str]], CommandOutput | None]
"""Run argv and return its output, or ``None`` when the program is not installed or cannot run."""


def run_with_sh(argv: Sequence[str], timeout_s: float = 5.0) -> CommandOutput | None:
    """Run ``argv`` through the ``sh`` package; ``None`` if the program is missing or hangs."""
    try:
        command = sh.Command(argv[0])
    except sh.CommandNotFound:
        return None
    try:
        output = command(*argv[1:], _err_to_out=True, _ok_code=_ANY_EXIT, _timeout=timeout_s, _return_cmd=True)
    except (sh.TimeoutException, OSError):
        return None
    return CommandOutput(output.exit_code, str(output))


def find_executable(name: str) -> str | None:
    """Return the absolute path of ``name`` on PATH (as ``sh`` resolves it), or ``None``."""
    try:
        path: str = sh.Command(name)._path
    except sh.CommandNotFound:
        return None
    return path


class HostView:
    """Files of a host under ``root``, read defensively."""

    def __init__(self, root: Path | str = "/", run: CommandRunner = run_with_sh) -> None:
        self.root = Path(root)
        self.run = run

    def path(self, absolute: str) -> Path:
        """Map a host path such as ``/proc/cmdline`` under the root."""
        return self.root / absolute.lstrip("/")

    def read(self, absolute: str) -> str | None:
        """Return the file's text, or ``None`` if it is missing or unreadable."""
        try:
            return self.path(absolute).read_text(errors="replace")
        except (OSError, ValueError):
            return None

    def read_value(self, absolute: str) -> str | None:
        """Return the file's text stripped of surrounding white space, or ``None``."""
        text = self.read(absolute)
        return None if text is None else text.strip()

    def exists(self, absolute: str) -> bool:
        """Return True if the path exists (a dangling link counts as missing)."""
        try:
            return self.path(absolute).exists()
        except OSError:
            return False

    def listdir(self, absolute: str) -> list[str] | None:
        """Return the sorted names in a directory, or ``None`` if it cannot be listed."""
        try:
            return sorted(os.listdir(self.path(absolute)))
        except OSError:
            return None


def host_root_directory(text: str) -> str:
    """Parse ``--host-root``: an existing directory (argparse exits 2 otherwise: a typo must not read as no Onload)."""
    if not os.path.isdir(text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a directory")
    return text


def add_host_root_argument(parser: argparse.ArgumentParser, what: str) -> None:
    """Add ``--host-root DIR`` (default ``$GATEWAY_HOST_ROOT`` or ``/``) to a command's parser."""
    parser.add_argument(
        "--host-root",
        default=os.environ.get(HOST_ROOT_ENV, "/"),
        type=host_root_directory,
        metavar="DIR",
        help=f"where the host's {what} are, for a container (default ${HOST_ROOT_ENV} or /)",
    )


def parse_cpu_list(text: str) -> set[int] | None:
    """Parse a kernel CPU list such as ``0-3,8,10-11``; ``None`` if it is malformed, empty set if blank."""
    cpus: set[int] = set()
    text = text.strip()
    if not text or text == "(null)":
        return cpus
    for part in text.split(","):
        bounds = part.strip().split("-")
        try:
            if len(bounds) == 1:
                cpus.add(int(bounds[0]))
            elif len(bounds) == 2:
                low, high = int(bounds[0]), int(bounds[1])
                if low > high:
                    return None
                cpus.update(range(low, high + 1))
            else:
                return None
        except ValueError:
            return None
    return cpus


def format_cpu_list(cpus: set[int] | list[int] | tuple[int, ...]) -> str:
    """Format CPUs as a kernel CPU list (``0-3,8``)."""
    ordered = sorted(set(cpus))
    parts: list[str] = []
    start = prev = None
    for cpu in ordered:
        if start is None:
            start = prev = cpu
        elif prev is not None and cpu == prev + 1:
            prev = cpu
        else:
            parts.append(str(start) if start == prev else f"{start}-{prev}")
            start = prev = cpu
    if start is not None:
        parts.append(str(start) if start == prev else f"{start}-{prev}")
    return ",".join(parts)


def kernel_cmdline_options(cmdline: str) -> dict[str, str]:
    """Split ``/proc/cmdline`` into ``{option: value}`` (flags map to ``""``; the last value wins)."""
    options: dict[str, str] = {}
    for word in cmdline.split():
        if word == "--":
            break
        name, _, value = word.partition("=")
        options[name] = value
    return options

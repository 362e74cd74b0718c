"""A venue simulator's command line (``gateway sim <venue>``) run as a child process, as ops run it."""

from __future__ import annotations

import re
import subprocess
import sys


class SimulatorCli:
    """``gateway sim <venue>``: bad flags, the listening line, a port already taken."""

    def __init__(self, venue: str, banner: str) -> None:
        self.venue = venue
        self.banner = banner
        """How the simulator names itself: ``<banner> listening on HOST:PORT ...``, ``<banner> stopped``."""
        self.listening = re.compile(re.escape(banner) + r" listening on 127\.0\.0\.1:(\d+) ")

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "gateway", "sim", self.venue, *args]

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run to the end (30 s at most); return the exit status and what it wrote."""
        return subprocess.run(self.command(*args), capture_output=True, text=True, timeout=30, check=False)

    def start(self, *args: str) -> tuple[subprocess.Popen[str], int]:
        """Start listening on a free loopback port; return the process and the port its listening line names."""
        process = subprocess.Popen(self.command("--listen", "127.0.0.1:0", *args), stdout=subprocess.PIPE, text=True)
        assert process.stdout is not None
        line = process.stdout.readline()
        match = self.listening.match(line)
        assert match, line
        return process, int(match.group(1))

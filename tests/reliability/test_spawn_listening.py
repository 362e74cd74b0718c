"""``spawn_listening``: a child whose picked port was taken in the meantime is started again elsewhere."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.reliability import support


def test_spawn_listening_when_another_listener_took_the_port_then_child_started_on_another(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as thief:
        thief.bind(("127.0.0.1", 0))
        thief.listen()
        taken = thief.getsockname()[1]
        ports: Iterator[int] = iter([taken, support.free_port()])
        monkeypatch.setattr(support, "free_port", lambda: next(ports))
        log = tmp_path / "sim.log"
        port, proc = support.spawn_listening(["sim", "ouch"], ["--reference-price", "AAPL=230.10"], log, "sim")
        try:
            assert port != taken
            assert proc.poll() is None
            text = log.read_text()
            assert f"cannot listen on 127.0.0.1:{taken}" in text  # the first child met the thief and said so
            assert f"listening on 127.0.0.1:{port} " in text
        finally:
            proc.terminate()
            proc.wait(10)


def test_spawn_listening_when_child_fails_otherwise_then_raises_with_its_output(tmp_path: Path) -> None:
    log = tmp_path / "sim.log"
    log.write_text("an earlier run's line: Address already in use\n")  # not this child's: must not cause a retry
    with pytest.raises(AssertionError, match="sim exited 2"):
        support.spawn_listening(["sim", "ouch"], ["--no-such-flag"], log, "sim")
    assert log.read_text().count("usage:") == 1  # one child, not one per attempt

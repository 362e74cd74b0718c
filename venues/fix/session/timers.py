"""Heartbeat and TestRequest timing (sans-IO: the session feeds it ``now_ns``)."""

from __future__ import annotations


class HeartbeatTimers:
    """Track silence in both directions.

    - Nothing sent for ``interval``: a Heartbeat is due.
    - Nothing received for ``interval * (1 + grace)``: a TestRequest is due.
    - Still nothing received ``interval * (1 + grace)`` after the TestRequest: the link is dead.
    """

    __slots__ = ("interval_ns", "last_received_ns", "last_sent_ns", "silence_ns", "test_request_sent_ns")

    def __init__(self, interval_ns: int, grace: float) -> None:
        self.interval_ns = interval_ns
        self.silence_ns = int(interval_ns * (1.0 + grace))
        self.last_sent_ns = 0
        self.last_received_ns = 0
        self.test_request_sent_ns = 0
        """When the outstanding TestRequest went out (0 = none outstanding)."""

    def start(self, now_ns: int) -> None:
        """Start timing at logon."""
        self.last_sent_ns = now_ns
        self.last_received_ns = now_ns
        self.test_request_sent_ns = 0

    def sent(self, now_ns: int) -> None:
        """Note that a message went out."""
        self.last_sent_ns = now_ns

    def received(self, now_ns: int) -> None:
        """Note that bytes arrived (any valid message proves the link is alive)."""
        self.last_received_ns = now_ns
        self.test_request_sent_ns = 0

    def heartbeat_due(self, now_ns: int) -> bool:
        """Return True when a Heartbeat must go out."""
        return now_ns - self.last_sent_ns >= self.interval_ns

    def test_request_due(self, now_ns: int) -> bool:
        """Return True when a TestRequest must go out."""
        return not self.test_request_sent_ns and now_ns - self.last_received_ns >= self.silence_ns

    def test_request_sent(self, now_ns: int) -> None:
        """Note that a TestRequest went out."""
        self.test_request_sent_ns = now_ns

    def dead(self, now_ns: int) -> bool:
        """Return True when the TestRequest went unanswered for too long."""
        return bool(self.test_request_sent_ns) and now_ns - self.test_request_sent_ns >= self.silence_ns

    def next_deadline(self) -> int:
        """Return the earliest ns at which one of the checks above can change."""
        deadline = self.last_sent_ns + self.interval_ns
        if self.test_request_sent_ns:
            return min(deadline, self.test_request_sent_ns + self.silence_ns)
        return min(deadline, self.last_received_ns + self.silence_ns)

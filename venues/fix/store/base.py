"""The store interface every backend implements (one shared test suite runs over all of them).

The session writes through the store *before* bytes reach the socket: an outgoing
message and the sender sequence number it consumed are saved by ``save_sent`` (admin
messages only advance ``next_sender_seq``), and the incoming sequence number is
advanced once the session's owner has made the handled messages durable
(``FixSession.commit_inbound``). A restarted session therefore resumes both numbers and
can answer the peer's ResendRequest from ``get_sent``.
"""

from __future__ import annotations

import abc


class MessageStore(abc.ABC):
    """Outgoing messages and both sequence numbers of one FIX session."""

    @property
    @abc.abstractmethod
    def next_sender_seq(self) -> int:
        """Return the MsgSeqNum the next outgoing message will carry."""

    @property
    @abc.abstractmethod
    def next_target_seq(self) -> int:
        """Return the MsgSeqNum expected on the next incoming message."""

    @property
    @abc.abstractmethod
    def creation_time_ns(self) -> int:
        """Return the wall-clock ns (UTC epoch) at which the sequence numbers were last reset."""

    @abc.abstractmethod
    def save_sent(self, seq: int, raw: bytes) -> None:
        """Persist outgoing message ``seq`` and move ``next_sender_seq`` past it."""

    @abc.abstractmethod
    def set_next_sender_seq(self, seq: int) -> None:
        """Persist ``next_sender_seq`` (an admin message went out, or a reset)."""

    @abc.abstractmethod
    def set_next_target_seq(self, seq: int) -> None:
        """Persist ``next_target_seq`` (incoming messages were handled and their effects made durable)."""

    @abc.abstractmethod
    def get_sent(self, begin: int, end: int) -> list[tuple[int, bytes]]:
        """Return the saved messages with ``begin <= seq <= end``, in sequence order."""

    @abc.abstractmethod
    def reset(self, creation_time_ns: int) -> None:
        """Forget every message and set both sequence numbers to 1."""

    def poll(self, now_ns: int) -> int:
        """Do deferred work, if a backend has any; return ns until the next call is wanted."""
        del now_ns
        return 3_600_000_000_000

    @abc.abstractmethod
    def close(self) -> None:
        """Release files; the store must not be used afterwards."""

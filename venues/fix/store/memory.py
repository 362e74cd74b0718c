"""A store that lives in memory: for tests and venues whose sessions reset on every logon."""

from __future__ import annotations

from collections.abc import Sequence

from venues.fix.store.base import MessageStore, Withdrawn


class MemoryStore(MessageStore):
    """Keep messages and sequence numbers in dicts; nothing survives the process."""

    def __init__(self, creation_time_ns: int = 0) -> None:
        self._sender = 1
        self._target = 1
        self._skipped = (0, 0)
        self._raised = (0, 0)
        self._lowered = (0, 0)
        self._withdrawn: tuple[Withdrawn, ...] = ()
        self._created = creation_time_ns
        self._sent: dict[int, bytes] = {}
        self._journal = ""
        self._begun = ("", 0)
        self._asked = (0, 0)

    @property
    def next_sender_seq(self) -> int:
        return self._sender

    @property
    def next_target_seq(self) -> int:
        return self._target

    @property
    def creation_time_ns(self) -> int:
        return self._created

    def save_sent(self, seq: int, raw: bytes) -> None:
        self._sent[seq] = raw
        self._sender = seq + 1

    def set_next_sender_seq(self, seq: int) -> None:
        self._sender = seq

    def set_next_target_seq(self, seq: int) -> None:
        self._target = seq

    @property
    def skipped_by_operator(self) -> tuple[int, int]:
        return self._skipped

    def set_skipped_by_operator(self, first: int, end: int) -> None:
        self._skipped = (first, end)

    @property
    def raised_by_operator(self) -> tuple[int, int]:
        return self._raised

    def set_raised_by_operator(self, before: int, new: int) -> None:
        self._raised = (before, new) if before else (0, 0)

    @property
    def lowered_by_operator(self) -> tuple[int, int]:
        return self._lowered

    def set_lowered_by_operator(self, before: int, new: int) -> None:
        self._lowered = (before, new) if before else (0, 0)

    def renumber_inbound(self, next_target: int, creation_time_ns: int) -> None:
        self._created = creation_time_ns
        self._target = next_target
        self._begun = (self._journal, next_target) if self._journal else ("", 0)
        self._asked = (0, 0)

    @property
    def numbering_begun(self) -> tuple[str, int]:
        return self._begun

    def running_on(self, journal: str) -> None:
        self._journal = journal
        if not self._sent and self._sender == 1 and self._target == 1 and not self._begun[0]:
            self._begun = (journal, 1)

    @property
    def asked_again(self) -> tuple[int, int]:
        return self._asked

    def set_asked_again(self, first: int, end: int) -> None:
        self._asked = (first, end) if first and end else (0, 0)

    @property
    def withdrawn(self) -> tuple[Withdrawn, ...]:
        return self._withdrawn

    def add_withdrawn(self, withdrawn: Sequence[Withdrawn]) -> None:
        self._withdrawn += tuple(withdrawn)

    def get_sent(self, begin: int, end: int) -> list[tuple[int, bytes]]:
        if end - begin > len(self._sent):
            return sorted((s, m) for s, m in self._sent.items() if begin <= s <= end)
        return [(s, self._sent[s]) for s in range(begin, end + 1) if s in self._sent]

    def close(self) -> None:
        """Drop the messages (nothing to release)."""
        self._sent.clear()

    def reset(self, creation_time_ns: int) -> None:
        self._sent.clear()
        self._sender = 1
        self._target = 1
        self._skipped = (0, 0)
        self._raised = (0, 0)
        self._lowered = (0, 0)
        self._withdrawn = ()
        self._created = creation_time_ns
        self._begun = (self._journal, 1) if self._journal else ("", 0)
        self._asked = (0, 0)

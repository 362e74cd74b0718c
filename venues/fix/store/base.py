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
from collections.abc import Sequence
from typing import Final, NamedTuple

FIND_WINDOW: Final = 64
"""``find_sent`` looks for its marker in this many first bytes of each message (the header's first fields)."""


class Withdrawn(NamedTuple):
    """One request a stop withdrew while the journal could not be written (fixstop56b): never sent, answered NOT_SENT.

    Its message went to the venue as a SequenceReset-GapFill over ``seq``; ``ref`` is the ClOrdID a restarted
    gateway knows the request by (the message's own, or for a cancel sent again the cancel the journal holds), and
    ``again`` says the message was such a cancel sent again (an earlier one's outcome unknown).
    """

    seq: int
    msg_type: bytes
    ref: bytes
    again: bool


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

    @property
    @abc.abstractmethod
    def skipped_by_operator(self) -> tuple[int, int]:
        """Return the venue's MsgSeqNums an operator skipped, not yet asked about: (first, next expected); (0, 0) none.

        ``gateway venue set-seq --next-target`` raises the expected number past messages never received here; the
        open orders are asked about at the next logon (fixfix54: kept here, so a restart before it still asks).
        """

    @abc.abstractmethod
    def set_skipped_by_operator(self, first: int, end: int) -> None:
        """Persist ``skipped_by_operator`` as (first, end); (0, 0) once the open orders were asked about."""

    @property
    @abc.abstractmethod
    def raised_by_operator(self) -> tuple[int, int]:
        """Return our MsgSeqNums an operator raised, not yet asked about: (the next number before, the new one); (0, 0).

        ``gateway venue set-seq --next-sender`` moves our next number past numbers the venue then holds from us
        whatever they carried, and never asks for again: the requests still unanswered, sent at them, are asked
        about at the next logon (fix55: kept here, so a restart before it still asks; before, only in memory).
        """

    @abc.abstractmethod
    def set_raised_by_operator(self, before: int, new: int) -> None:
        """Persist ``raised_by_operator`` as (before, new); (0, 0) once the requests were asked about."""

    @property
    @abc.abstractmethod
    def lowered_by_operator(self) -> tuple[int, int]:
        """Return the venue's MsgSeqNum an operator lowered, not yet asked about: (expected before, the new); (0, 0).

        ``gateway venue set-seq --next-target M --allow-lower-target`` restarts the venue's numbering
        (``renumber_inbound``): the number expected before says only that the messages below it were received; what
        the venue sent from there under its old numbering and never resent is lost with it. Every acknowledged open
        order and every request still unanswered is asked about at the next logon, as after a numbering reset
        (fixlogon56b: kept here, written before the new number, so a restart before that logon still asks).
        """

    @abc.abstractmethod
    def set_lowered_by_operator(self, before: int, new: int) -> None:
        """Persist ``lowered_by_operator`` as (before, new); (0, 0) once the orders and requests were asked about."""

    def renumber_inbound(self, next_target: int, creation_time_ns: int) -> None:
        """Persist a restart of the venue's numbering alone: ``next_target`` expected, a new ``creation_time_ns``.

        ``gateway venue set-seq --next-target M --allow-lower-target`` (fixlogon56): the venue's numbers went back,
        ours and our messages stay. The new creation time names the new numbering of the venue's messages (the
        exactly-once epoch), so those numbered again from ``next_target`` are new, not repeats. A store that cannot
        record it raises ``OSError`` with nothing changed.
        """
        del next_target, creation_time_ns
        raise OSError(f"{type(self).__name__} cannot record a restart of the venue's numbering")

    @property
    def numbering_begun(self) -> tuple[str, int]:
        """Return (journal, first): the gateway's journal when the venue's current numbering began, its first number.

        ``journal`` names the journal the gateway ran on (``running_on``) when the store was created or reset, or an
        operator renumbered the venue's messages (``renumber_inbound``), and ``first`` the first MsgSeqNum of that
        numbering (1, or the operator's number); ("", 0): not known (a store written before fixhw60, or begun
        without a journal). When it names the journal a restart runs on, every message of the numbering belongs to
        that journal: asking for them all again brings back none of another day's (``FixVenue.resume_after``).
        """
        return ("", 0)

    def running_on(self, journal: str) -> None:
        """Note that the gateway runs on ``journal`` (its identity): a numbering begun from now on is noted under it.

        A store created at this start, nothing written to it yet, notes it for its own numbering now. OSError (a
        full disk) with nothing changed but the journal remembered for later numberings.
        """
        del journal

    @property
    def asked_again(self) -> tuple[int, int]:
        """Return the venue's numbers a restart asked for again: (first, end), received before the stop; (0, 0) none.

        ``FixVenue.resume_after`` lowers the expected number after a stop that may have cut the journal's tail; a
        gap fill over those numbers hides nothing (fixjournal59b). Kept here (fixhw60: before, in memory only), so a
        start stopped again before its Logon leaves the next start knowing them.
        """
        return (0, 0)

    def set_asked_again(self, first: int, end: int) -> None:
        """Persist ``asked_again`` as (first, end); (0, 0) once the venue answered for them."""
        del first, end

    @property
    @abc.abstractmethod
    def withdrawn(self) -> tuple[Withdrawn, ...]:
        """Return the requests withdrawn at a stop while the journal could not be written, in this numbering.

        A stop during a journal hold sends a SequenceReset-GapFill over the held messages' numbers and answers their
        requests ``NOT_SENT`` (fixstop56); those answers may never reach the journal (the process exits first, or
        writes the order's record and not its answer). The restarted gateway answers each request still
        unanswered here ``NOT_SENT`` again before its first logon (fixstop56b): the venue never had it.
        """

    @abc.abstractmethod
    def add_withdrawn(self, withdrawn: Sequence[Withdrawn]) -> None:
        """Persist ``withdrawn`` (durable once this returns: before the gap fill is written); OSError, nothing kept."""

    @abc.abstractmethod
    def get_sent(self, begin: int, end: int) -> list[tuple[int, bytes]]:
        """Return the saved messages with ``begin <= seq <= end``, in sequence order."""

    def find_sent(self, marker: bytes, cursor: int = 0, budget: int = 0) -> tuple[list[tuple[int, bytes]], int]:
        """Return the saved messages containing ``marker`` in their first 64 bytes, and where to go on (-1: done).

        ``marker`` is a header field (MsgType: ``b"\\x0135=H\\x01"``). One call looks through about ``budget``
        bytes of messages (0: all) from ``cursor`` (0: the first; else what the last call returned), so a large
        store can be searched a slice at a time. This version reads the messages (``cursor`` is a sequence
        number); a backend may search its storage directly (``FileStore`` does, ``cursor`` a file offset).
        """
        out: list[tuple[int, bytes]] = []
        last = self.next_sender_seq - 1
        seq = max(cursor, 1)
        looked = 0
        while seq <= last:
            for found, raw in self.get_sent(seq, min(seq + 255, last)):
                looked += len(raw)
                if marker in raw[:FIND_WINDOW]:
                    out.append((found, raw))
            seq += 256
            if budget and looked >= budget:
                return out, seq
        return out, -1

    @abc.abstractmethod
    def reset(self, creation_time_ns: int) -> None:
        """Forget every message (and the ``*_by_operator`` marks, ``withdrawn``, ``asked_again``); numbers 1."""

    def poll(self, now_ns: int) -> int:
        """Do deferred work, if a backend has any; return ns until the next call is wanted."""
        del now_ns
        return 3_600_000_000_000

    @abc.abstractmethod
    def close(self) -> None:
        """Release files; the store must not be used afterwards."""

"""Kill switches the risk audit log holds and the journal does not: re-applied at the start (killstop56).

``gateway kill`` halts in memory, writes its ``trading_state`` audit record (fsynced, in the risk audit log) and
then appends its HALTED record to the journal. While the journal cannot be written (a full disk) that record is
pending; a stop then drops it (``mark_journal_closed_dropping``: a clean stop that dropped records) and so does a
crash. Before, the next start rebuilt the run-time trading states from the journal alone and traded ACTIVE, while the
audit log's last word for the scope was HALTED by the kill: the kill was lost without a line saying so.

The start therefore reads this gateway's ``trading_state`` records of the journal's trading day in the risk audit
log (``audited_states``): for each scope (the firm, an account) the last one, in file order, an operator or the
gateway set (records re-applied at a start are left out: they only repeat the journal or this). The audit log may
be shared by gateways (two configs in one directory both default to ``var/audit/risk-audit.jsonl``): every record
names its ``gateway_id`` (killstop56b), and another gateway's, or one written before records carried it, is not
this gateway's kill. File order, not ``time_ns``: the audit writer writes records in the order they happened (one
written late goes before the next record), while a wall clock stepped back between a kill and its resume would
make the resume look older.

Which of them the journal lost is judged by identity (kill58): every change of a trading state (a kill, a resume, a
halt after an internal error) carries a ``state_id``, written in its audit record and in its journal record
(``JTradingState.state_id``): the Unix ns time it was made, raised past every identity the gateway wrote before
(read at the start), so unique per gateway. For each scope the audit records after the last one the journal holds
(in file order), whose identity the journal does not hold and that are not a resume, were dropped from the journal
(``lost_states``); the strictest of them (a kill before another halt as strict: it has cancels) starts in force
where it is stricter than the journal's last state, or as strict and a kill switch (the journal's HALTED by an
internal error or an earlier kill does not carry out this kill's cancels: before kill58, states were compared and
such a kill was not seen). A kill the journal holds is done; a resume the journal and the audit log both hold stands.
It is applied, journaled again with the original's identity (a later start finds it held: not applied twice), and
named in one ERROR with the audit record and the remedy (``gateway resume``). Never the other way: a resume the audit
log holds and the journal does not (its audit record written, then the journal lost it) is not applied, the journal's
stricter state stays. Fail closed.

A resume the journal holds and the audit log does not is not proof of a resume (kill58c): a resume whose journal
record could not be synced (its record may be on disk) is refused and writes no audit record, and the "resume
refused" re-statement journaled after it can be dropped by the stop (the same full disk): the journal then ends on
an ACTIVE that was never in force. Such a journal, and one with audit records without identity after the last
record it holds (an earlier version wrote them: a same-day downgrade and upgrade), is judged by state too, below. A
resume whose audit record was lost therefore halts again, as before kill58 (fail closed, docs/reliability.md 2.3a).

Where the journal's last record for the scope carries no identity (written by an earlier version) or the journal
holds none for it, the audit log's last word is also compared with the journal's last state, as before kill58
(``stricter_than_journal``): stricter, it starts in force; a resume of an earlier version whose audit record was
lost then halts again (fail closed), as do audit records without identity.

The audit log is read with the files its last two rotations left, ``<log>.2`` and ``<log>.1``
(``risk.audit.audit_files``, the one list ``risk.startup`` reads too: the guide's ``mv`` or logrotate, with or without
a new file created), in file order: ``<log>.2``, ``<log>.1``, then the
current file, the last ``TAIL_BYTES`` of them together at most. Before kill58b only the current file was read: a kill
pending on a full journal, then a stop and a rotation before the restart, was lost (the start traded ACTIVE, nothing
said so), while the stop had said the audit log held it. ``<log>.2`` since kill58d: a rotation while the gateway ran
moves the kill's record to ``<log>.1``, one more before the start to ``<log>.2``. A third rotation before the start
(``<log>.3``), or a compressed ``<log>.1.gz``, is not read (docs/reliability.md 2.3a): the stop says how many rotations
the kill's record stands (``held_ids``: the file that holds it). A rotated file that cannot be read (its mode, its
owner: retention tooling) or that is not a regular file (a FIFO, a directory: ``risk.audit.read_tail`` never waits on
it, ops59) is a WARNING naming it and the error, and the others are still read and judged (fail
closed: a kill in the current file is re-applied; kill58d, before which it was an ERROR and nothing was re-applied); an
unreadable current file is an error (the caller's ERROR). A line that does not decode as one record is not silence: a
record cut short (a full disk's short write before audittorn57, a crash) had the next record glued onto it on the same
line, a kill perhaps; the whole records in it are read, and a WARNING names the line (audittorn57). An audit log that
could not be written either (on the same full disk) holds nothing: the kill's answer and the stop's CRITICAL say so
(kill58b: the stop reads the audit log for the kill's identity, ``held_ids``; ``GatewayProcess._kills_dropped``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final, NamedTuple

from risk.audit import RECORD_START, audit_files, read_tail, records_in_line

log = logging.getLogger(__name__)

TAIL_BYTES: Final = 32 << 20
"""How much of the audit log's end the start reads (a day's records with room to spare; ``audited_states``)."""

RESTORED_MARKS: Final = (" (restored from the journal)", " (restored from the risk audit log)")
"""How ``who`` ends in a record a start wrote re-applying a state (``risk.engine.RESTORED``, ``FROM_AUDIT``)."""

FROM_AUDIT: Final = " (restored from the risk audit log)"
"""How ``who`` ends in the audit record of a state this start re-applied from the audit log."""

_STRICTNESS: Final = {"ACTIVE": 0, "REDUCING": 1, "HALTED": 2}

RECORD_START_BYTES: Final = RECORD_START.encode()


@dataclass(frozen=True, slots=True)
class AuditedState:
    """The last run-time trading state the audit log holds for one scope (``account`` None: the firm)."""

    account: str | None
    state: str
    trigger: str
    who: str
    reason: str
    time: str
    time_ns: int
    state_id: int = 0
    """The change's identity (``JTradingState.state_id``, kill58); 0: written before records carried one."""
    file: str = field(default="", compare=False)
    """The file it was read from when that is a rotated one (``<log>.1``, ``<log>.2``: ``audit_files``); "": the
    current file."""

    @property
    def scope(self) -> str:
        return "all trading (firm-wide)" if self.account is None else f"account {self.account}"


HELD_MARGIN: Final = 64 << 10
"""How much less than ``TAIL_BYTES`` a stop reads when it says a kill's record is held (``held_ids``): the next start
appends its own audit records (its ``startup`` record, the states it restores: a few hundred bytes) before it reads
the last ``TAIL_BYTES``, so a record within that margin of the bound at the stop would be held by the stop's reading
and missed by the start's (kill58d)."""


def _tail(path: Path, limit: int) -> tuple[int, bytes]:
    """Return where the last ``limit`` bytes of ``path`` start, and those bytes (``risk.audit.read_tail``: a file that
    is not a regular one, a FIFO, raises ``OSError`` at once, never blocks)."""
    return read_tail(path, limit)


def _records(path: Path, limit: int) -> Iterator[Any]:
    """Yield the decoded records of the last ``limit`` bytes of ``path`` that may be ``trading_state`` records.

    A line that is not one whole record (a record cut short; a version before audittorn57 wrote the next one on
    the same line) is not skipped: its whole records are recovered (``risk.audit.records_in_line``), and
    one WARNING names the damaged lines (byte offset; line number when the file was read from its start). A line read
    from its middle (the first, when the file is longer than ``limit``) is searched for whole records too, without a
    warning.
    """
    start, data = _tail(path, limit)
    damaged: list[str] = []
    offset = start
    for number, line in enumerate(data.split(b"\n"), 1):
        at = offset
        offset += len(line) + 1
        whole = line.startswith(RECORD_START_BYTES) and line.endswith(b"}") and line.count(RECORD_START_BYTES) == 1
        if whole and b'"trading_state"' not in line:
            continue  # another event: not decoded (the usual line)
        if not whole and not line.strip():
            continue
        found, bad = records_in_line(line)
        if bad and not (start and number == 1):
            where = f"byte offset {at}" + ("" if start else f", line {number}")
            damaged.append(f"{where}: {len(found)} whole records recovered")
        yield from found
    if damaged:
        log.warning(
            "risk audit log %s: %d lines are not one whole record (a record cut short by a full disk or a crash; "
            "an earlier version of the gateway wrote the next record on the same line): %s; the whole records in them "
            "were read for the kill switches to re-apply, the rest skipped (docs/reliability.md 2.3a); the lines stay "
            "in the file, so this is logged at every start until the file is rotated (three times: the start reads the "
            "rotated <log>.1 and <log>.2 too)",
            path,
            len(damaged),
            "; ".join(damaged[:10]) + (f"; and {len(damaged) - 10} more" if len(damaged) > 10 else ""),
        )


def audited_records(
    path: Path, same_day: Callable[[int], bool], gateway_id: str, limit: int = TAIL_BYTES
) -> list[AuditedState]:
    """Return the ``trading_state`` records ``gateway_id`` wrote in ``path`` on the journal's day, in file order.

    ``path`` with its rotated files (``audit_files``: ``<path>.2``, ``<path>.1`` first), the last ``limit`` bytes of
    them together.

    ``same_day(time_ns)``: the record's time is on the journal's trading day. Records of another gateway, or with
    no ``gateway_id`` (written before records carried it), and records a start wrote re-applying a state
    (``RESTORED_MARKS``) are left out. File order is the order they happened: one written late, after the audit log
    refused it, goes before the next, whatever their ``time_ns`` says after a step of the wall clock. A missing file
    holds nothing; the whole records of a line that does not decode as one are read (``_records``: fail closed, a
    kill glued onto a torn line counts), with a WARNING. A rotated file that cannot be read is a WARNING naming it
    and the error, the others are read (kill58d); the current file's ``OSError`` is raised.
    """
    return _read(path, same_day, gateway_id, limit)[0]


def _read(
    path: Path, same_day: Callable[[int], bool], gateway_id: str, limit: int
) -> tuple[list[AuditedState], list[str]]:
    """Return ``audited_records``, and the rotated files that could not be read ("<file> (<error>)")."""
    found: list[AuditedState] = []
    unreadable: list[str] = []
    for file, room in _bounded(path, limit):
        rotated = "" if file == path else str(file)
        states: list[AuditedState] = []
        try:
            for record in _records(file, room):
                state = _audited(record, gateway_id)
                if state is not None and same_day(state.time_ns):
                    states.append(replace(state, file=rotated) if rotated else state)
        except FileNotFoundError:
            continue
        except OSError as exc:
            if not rotated:
                raise
            unreadable.append(f"{file} ({exc})")
            log.warning(
                "cannot read the rotated risk audit log %s (%s): a kill switch the journal lost whose record is there "
                "is not re-applied; %s and the other files are read (docs/reliability.md 2.3a): make it a regular "
                "file readable by the gateway's user",
                file,
                exc,
                path,
            )
            continue
        found.extend(states)
    return found, unreadable


def _bounded(path: Path, limit: int) -> list[tuple[Path, int]]:
    """Return the files of the audit log to read (``audit_files``, in file order), each with how much of its end:
    the last ``limit`` bytes of them together (a rotated file's end only where the files after it are shorter)."""
    bounded: list[tuple[Path, int]] = []
    room = limit
    for file in reversed(audit_files(path)):
        if room <= 0:
            break
        bounded.append((file, room))
        try:
            room -= os.stat(file).st_size
        except FileNotFoundError:
            continue
        except OSError:  # not known (its directory): read no older file than this one
            room = 0
    return bounded[::-1]


class Held(NamedTuple):
    """What ``held_ids`` found: the identities held, with the file holding each, and the rotated files unreadable."""

    where: dict[int, Path]
    unreadable: list[str]
    """"<file> (<error>)" of the rotated files that could not be read (they may hold a kill: the start cannot read
    them either)."""
    edge: dict[int, Path]
    """The identities found only in the last ``HELD_MARGIN`` bytes before the bound: the start may miss them."""


def held_ids(path: Path, gateway_id: str, ids: Iterable[int], limit: int = TAIL_BYTES) -> Held:
    """Return which of ``ids`` (trading-state identities) the audit log's ``trading_state`` records of
    ``gateway_id`` hold, and in which file, read as the next start reads them (``audit_files``, the last ``limit``
    bytes): a stop names a kill it dropped from the journal as re-applied only if they do, with how many rotations it
    stands (``GatewayProcess._kills_dropped``). Held means within ``limit - HELD_MARGIN`` (the start appends its own
    records before it reads, kill58d); one found only past that is in ``edge``. An unreadable current file raises
    ``OSError``."""
    wanted = set(ids)

    def where(found: list[AuditedState]) -> dict[int, Path]:
        return {state.state_id: Path(state.file) if state.file else path for state in found if state.state_id in wanted}

    found, unreadable = _read(path, lambda _: True, gateway_id, limit - HELD_MARGIN)
    held = where(found)
    edge: dict[int, Path] = {}
    if wanted - held.keys():
        edge = {
            key: file
            for key, file in where(_read(path, lambda _: True, gateway_id, limit)[0]).items()
            if key not in held
        }
    return Held(held, unreadable, edge)


def audited_states(
    path: Path, same_day: Callable[[int], bool], gateway_id: str, limit: int = TAIL_BYTES
) -> dict[str | None, AuditedState]:
    """Return, per scope, the last of ``audited_records`` (the last in the file, not the latest ``time_ns``)."""
    return last_per_scope(audited_records(path, same_day, gateway_id, limit))


def last_per_scope(records: Iterable[AuditedState]) -> dict[str | None, AuditedState]:
    """Return the last of ``records`` (in order) per scope (``None`` the firm)."""
    last: dict[str | None, AuditedState] = {}
    for record in records:
        last[record.account] = record
    return last


def _audited(record: Any, gateway_id: str) -> AuditedState | None:
    """Return the run-time state a decoded audit record of ``gateway_id`` set, or None (another event, another
    gateway's record or one naming none, a re-applied state)."""
    if not isinstance(record, dict) or record.get("event") != "trading_state":
        return None
    if record.get("gateway_id") != gateway_id:
        return None
    who = record.get("who")
    state = record.get("new")
    time_ns = record.get("time_ns")
    account = record.get("account")
    if not isinstance(who, str) or who.endswith(RESTORED_MARKS) or state not in _STRICTNESS:
        return None
    if not isinstance(time_ns, int) or (account is not None and not isinstance(account, str)):
        return None
    if record.get("scope") == "firm":
        account = None
    state_id = record.get("state_id")
    return AuditedState(
        account or None,
        str(state),
        str(record.get("trigger") or ""),
        who,
        str(record.get("reason") or ""),
        str(record.get("time") or ""),
        time_ns,
        state_id if isinstance(state_id, int) and not isinstance(state_id, bool) and state_id > 0 else 0,
    )


def stricter_than_journal(
    audited: dict[str | None, AuditedState], journaled: Iterable[tuple[str, str]]
) -> list[AuditedState]:
    """Return the audited states stricter than the journal's last for their scope (none journaled: ACTIVE).

    ``journaled``: (account, state) of the journal's trading-state records in order (account "" the firm).
    """
    last = journal_last(journaled)
    return [
        found
        for account, found in sorted(audited.items(), key=lambda item: (item[0] is not None, item[0] or ""))
        if _STRICTNESS[found.state] > _STRICTNESS.get(last.get(account, "ACTIVE"), 0)
    ]


def journal_last(journaled: Iterable[tuple[str, str]]) -> dict[str | None, str]:
    """Return the journal's last state per scope (``None`` the firm) of its (account, state) records in order."""
    last: dict[str | None, str] = {}
    for account, state in journaled:
        last[account or None] = state
    return last


class LostState(NamedTuple):
    """A state the start re-applies (``lost_states``): the audit record, and how it was judged lost."""

    found: AuditedState
    by_identity: bool
    """True: the journal's records carry identities and none is this record's (it holds records of the scope
    the audit log has before this one, or none); False: judged by state, as before identities (``_by_state_too``:
    the journal's last record for the scope carries none, an audit record without one follows the last it holds, or
    it holds a resume the audit log does not)."""


def lost_states(audited: Iterable[AuditedState], journaled: Iterable[tuple[str, str, int]]) -> list[LostState]:
    """Return, per scope (the firm first), the audited state the journal lost and the start re-applies, if any.

    ``audited``: ``audited_records`` (file order); ``journaled``: (account, state, state_id) of the journal's
    trading-state records in order (account "" the firm; ``state_id`` 0: written by an earlier version).

    By identity (kill58): the audit records carrying one, newer than the last the journal holds (by identity, in
    file order; none held: all), whose identity the journal does not hold, that are not a resume, were lost from
    the journal. Of them the strictest (a kill switch before another halt of the same
    strictness: it has cancels to carry out; then the last) is re-applied if it is stricter than the journal's last
    state, or as strict and a kill (the journal's HALTED, an internal-error halt or an earlier kill, does not carry
    this kill's cancels out). A kill the journal holds is done; a resume it holds after it stands where the audit
    log holds it too. A resume the audit log holds and the journal does not is never applied.

    By state too, as before (``stricter_than_journal``), where identities cannot tell (``_by_state_too``: the
    journal's last record for the scope carries no identity or the journal holds none for it; an audit record
    without identity follows the last the journal holds; the journal holds a resume the audit log does not, a
    refused resume perhaps): the audit log's last word, if stricter than the journal's last state (fail closed:
    audit records with an identity were written after such a journal record, by this version, so a kill among them
    not held is lost whatever the audit log's last word).
    """
    records: dict[str | None, list[tuple[str, int]]] = {}
    for journal_account, state, state_id in journaled:
        records.setdefault(journal_account or None, []).append((state, state_id))
    by_scope: dict[str | None, list[AuditedState]] = {}
    for found in audited:
        by_scope.setdefault(found.account, []).append(found)
    lost: list[LostState] = []
    for account in sorted(by_scope, key=lambda name: (name is not None, name or "")):
        scope = by_scope[account]
        journal = records.get(account, [])
        last = journal[-1][0] if journal else "ACTIVE"
        strictness = _STRICTNESS.get(last, 0)
        held = {state_id for _, state_id in journal if state_id}
        with_id = [found for found in scope if found.state_id]
        since = max((at for at, found in enumerate(with_id) if found.state_id in held), default=-1)
        newer = [found for found in with_id[since + 1 :] if found.state_id not in held and found.state != "ACTIVE"]
        if newer:
            pick = max(
                enumerate(newer), key=lambda item: (_STRICTNESS[item[1].state], item[1].trigger == "kill", item[0])
            )[1]
            stricter = _STRICTNESS[pick.state] - strictness
            if stricter > 0 or (stricter == 0 and pick.trigger in ("kill", "")):
                lost.append(LostState(pick, True))
                continue
        if not _by_state_too(scope, journal, held):
            continue  # the journal's identities tell it all
        word = scope[-1]
        if _STRICTNESS[word.state] > strictness:
            lost.append(LostState(word, False))
    return lost


def _by_state_too(scope: list[AuditedState], journal: list[tuple[str, int]], held: set[int]) -> bool:
    """Return True where the journal's identities cannot tell which of the scope's audit records it lost, so the
    audit log's last word is also compared with the journal's last state (``lost_states``; fail closed).

    ``scope``: the scope's audit records (file order); ``journal``: its journal records, (state, state_id) in
    order; ``held``: their identities. True where:

    - the journal holds no record for the scope, or its last one carries no identity (an earlier version's);
    - an audit record without identity comes after the last audit record the journal holds (file order): an
      earlier version wrote it after this version's records (a same-day downgrade and upgrade, kill58c), and a kill
      among such records cannot be looked up by identity;
    - the journal holds a resume (ACTIVE with an identity) the audit log does not hold (kill58c): it is not proof
      that the scope was resumed. A resume the journal could not sync (``take_back`` False: its record may be on
      disk) was refused and wrote no audit record; its "resume refused" re-statement after it can be dropped by the
      stop (the same full disk) and then the journal ends on an ACTIVE that never was in force. A resume whose
      audit record was lost looks the same: it halts again (and its kill's cancels are carried out again).
    """
    if not journal or not journal[-1][1]:
        return True
    since = max((at for at, found in enumerate(scope) if found.state_id in held), default=-1)
    if any(not found.state_id for found in scope[since + 1 :]):
        return True
    audited = {found.state_id for found in scope if found.state_id}
    return any(state == "ACTIVE" and state_id and state_id not in audited for state, state_id in journal)

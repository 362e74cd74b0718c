"""Read a limits file and the files it names, and check what the types alone cannot.

``read_limits`` returns a ``LimitsFile`` only when the limits file, its reference-price
file and its start-of-day positions file are all valid; otherwise it raises
``LimitsFileError`` carrying every problem found in any of them, each with file,
line, column and field path.
"""

from __future__ import annotations

import datetime
import hashlib
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

import msgspec

from risk.filewatch import stat_signature
from risk.loader import Parsed, Path_, Problem, format_path, parse_file, read_bounded
from risk.model import (
    AS_OF_LOADED,
    REQUIRED_DEFAULTS,
    LimitsDocument,
    ReferencePriceDocument,
    StartPositionsDocument,
)

_RATE_FIELDS = ("per_strategy", "per_account", "per_symbol")

SUMMARY_AFTER = 5
"""Warnings of one kind beyond this many are summarised in one (``summarise_warnings``)."""

_KINDS: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(
            r"(?P<file>.+):(?P<line>\d+):\d+: accounts\.(?P<name>.+): no strategy in (?P<source>.+) "
            r"may trade account .+"
        ),
        "{file}: {count} accounts no strategy in {source} may trade",
    ),
    (
        re.compile(
            r"(?P<file>.+):(?P<line>\d+):\d+: (?P<name>accounts\..+): strategy .+ may not trade account .+ in "
            r"(?P<source>.+): this override never applies"
        ),
        "{file}: {count} overrides for a strategy that may not trade the account in {source}: they never apply",
    ),
    (
        re.compile(
            r"(?P<source>.+): strategy (?P<strategy>.+) may trade account (?P<name>.+), which (?P<file>.+) does not "
            r"list: its orders are refused \(UNKNOWN_ACCOUNT\)"
        ),
        "{source}: {count} accounts its strategies may trade are not listed in {file}: their orders are refused "
        "(UNKNOWN_ACCOUNT)",
    ),
    (
        re.compile(
            r"(?P<file>.+):(?P<line>\d+):\d+: accounts\.(?P<name>.+): account .+ is not in (?P<source>.+): its "
            r"start-of-day positions apply to nothing"
        ),
        "{file}: {count} accounts not in {source}: their start-of-day positions apply to nothing",
    ),
)


_POSITIONS_KIND = 3
"""The kind whose ``file`` is the start-of-day positions file (``source``: the limits file naming it)."""


def summarise_warnings(warnings: list[str], keep: int = SUMMARY_AFTER) -> list[str]:
    """Return ``warnings`` with each kind that has more than ``keep`` of them summarised in one warning.

    One kind (an account no strategy may trade, ...) can have a warning per account: 30,000 for a file
    shared by several gateways. Logged and audited one by one, on every reload, they held up the event
    loop for a second. The summary, in the place of the kind's first warning, gives the count and the
    first ``keep`` names (with their line); ``gateway risk check`` still lists each.
    """
    groups: dict[tuple[int, str, str], list[re.Match[str]]] = {}
    kinds: list[tuple[int, re.Match[str]] | None] = []
    for warning in warnings:
        for index, (pattern, _) in enumerate(_KINDS):
            found = pattern.fullmatch(warning)
            if found is not None:
                groups.setdefault((index, found["file"], found["source"]), []).append(found)
                kinds.append((index, found))
                break
        else:
            kinds.append(None)
    if all(len(group) <= keep for group in groups.values()):
        return list(warnings)
    summary: list[str] = []
    for warning, kind in zip(warnings, kinds, strict=True):
        if kind is None:
            summary.append(warning)
            continue
        index, found = kind
        group = groups[(index, found["file"], found["source"])]
        if len(group) <= keep:
            summary.append(warning)
        elif group[0] is found:
            named = ", ".join(_named(m) for m in group[:keep])
            head = _KINDS[index][1].format(count=len(group), file=found["file"], source=found["source"])
            limits = found["source"] if index == _POSITIONS_KIND else found["file"]  # what `check` reads
            summary.append(
                f"{head}: {named} and {len(group) - keep} more (`gateway risk check --config <gateway.yaml> "
                f"{limits}` lists each)"
            )
    return summary


def _named(found: re.Match[str]) -> str:
    groups = found.groupdict()
    name = found["name"] if groups.get("strategy") is None else f"{found['strategy']}/{found['name']}"
    return f"{name} (line {found['line']})" if groups.get("line") else name


class KnownNames(msgspec.Struct, frozen=True):
    """The strategies the gateway runs (its config's ``strategies:``) and the accounts each may trade.

    With these, an override naming a strategy the gateway does not run is an error (it would never
    apply: most likely a typo, so the limit meant for the real strategy is not in force), and
    accounts the gateway and the limits file do not agree on are warned about.
    """

    strategies: dict[str, tuple[str, ...]]
    source: str
    """The gateway config file, as named in messages."""

    @classmethod
    def of(cls, strategies: Mapping[str, Iterable[str]], source: str) -> KnownNames:
        """Build from ``{strategy: accounts}`` (e.g. ``{s: e.accounts for s, e in config.strategies.items()}``)."""
        return cls({name: tuple(accounts) for name, accounts in strategies.items()}, source)

    def accounts(self) -> set[str]:
        """Return every account some strategy may trade."""
        return {account for accounts in self.strategies.values() for account in accounts}


class LimitsFileError(Exception):
    """A limits file (or a file it names) is invalid; ``problems`` lists every problem."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        lines = "\n".join(f"  {p}" for p in problems)
        super().__init__(f"{len(problems)} problem(s) in the risk limits:\n{lines}")


class DecidedReference(NamedTuple):
    """The version of the reference-price file in force the file watch decided, for a watch reload (risk62)."""

    file: str
    sha256: str
    """sha256 of the version the watch decided (its last look)."""
    file_id: int
    """Its file id (``risk.filewatch.file_id``): the same file read with other bytes was written in place since."""
    in_force: Parsed[ReferencePriceDocument]
    """The reference prices in force: used instead of the file written in place."""


class LimitsFile:
    """A validated limits file with everything it refers to."""

    def __init__(
        self,
        path: Path,
        parsed: Parsed[LimitsDocument],
        reference: Parsed[ReferencePriceDocument] | None,
        positions: Parsed[StartPositionsDocument] | None,
        warnings: list[str],
        *,
        summary: list[str] | None = None,
    ) -> None:
        assert parsed.value is not None
        self.path = path
        self.document: LimitsDocument = parsed.value
        self.display: Any = parsed.display
        self.sha256 = parsed.sha256
        self.raw = parsed.raw
        """The limits file's bytes as read (what the gateway keeps a copy of while they are in force)."""
        self.reference_parsed = reference
        """The reference-price file as read (``read_limits(keep_reference=...)``)."""
        self.reference = reference.value if reference is not None else None
        self.reference_path = Path(reference.file) if reference is not None else None
        self.reference_sha256 = reference.sha256 if reference is not None else ""
        self.reference_display: Any = reference.display if reference is not None else None
        self.positions = positions.value if positions is not None else None
        self.positions_sha256 = positions.sha256 if positions is not None else ""
        self.positions_parsed = positions
        """The start-of-day positions file as read (``read_limits(keep_positions=...)``)."""
        self.positions_path = Path(positions.file) if positions is not None else None
        self.warnings = warnings
        """Every warning (what ``gateway risk check`` prints)."""
        self.reference_skipped: tuple[str, tuple[int, int, int, int] | None] | None = None
        """A watch reload (``read_limits(decided_reference=...)``): (sha256, signature before the read) of the
        reference-price file's bytes read and not used, not the version the watch decided; None: none."""
        self.summary = summarise_warnings(warnings) if summary is None else summary
        """The warnings with each kind of more than ``SUMMARY_AFTER`` in one: what the gateway logs and audits
        (``summary``: as summarised already, by the reader process of a reload, ``risk.reader``)."""

    def use_reference(
        self, reference: Parsed[ReferencePriceDocument], skipped: tuple[str, tuple[int, int, int, int] | None]
    ) -> None:
        """Use ``reference`` (the prices in force) instead of the reference-price file read, whose sha256 and
        signature ``skipped`` keeps (a watch reload that does not apply the file read: ``reference_skipped``)."""
        self.reference_parsed = reference
        self.reference = reference.value
        self.reference_path = Path(reference.file)
        self.reference_sha256 = reference.sha256
        self.reference_display = reference.display
        self.reference_skipped = skipped

    @property
    def combined_sha256(self) -> str:
        """Return one hash over the limits file and its reference-price file (what 'changed' means)."""
        if not self.reference_sha256:
            return self.sha256
        return hashlib.sha256(f"{self.sha256}:{self.reference_sha256}".encode()).hexdigest()


def read_limits(
    path: str | Path,
    wall_now: datetime.datetime | None = None,
    known: KnownNames | None = None,
    keep_reference: Parsed[ReferencePriceDocument] | None = None,
    start_up: bool = True,
    content: bytes | None = None,
    keep_positions: tuple[Parsed[StartPositionsDocument], ...] = (),
    trading_day: Callable[[int], datetime.date] | None = None,
    decided_reference: DecidedReference | None = None,
) -> LimitsFile:
    """Read and validate the limits file at ``path``; raise ``LimitsFileError`` listing every problem.

    With ``known`` (the gateway's strategies and their accounts), overrides are checked against them
    (``check_names``): an unknown strategy is a problem, account mismatches are warnings. With
    ``keep_reference`` (the reference prices in force), a limits file naming that same reference-price
    file uses it as it is instead of reading the file again (the file watch: it is modified in place).
    ``start_up=False`` (a reload): the start-of-day positions file, read at start-up only, is not read
    or checked, only hashed (its hash is "" if it cannot be read), so it can never block a reload.
    A referenced file that cannot be read is a problem at the field that names it. ``content``: the
    limits file's bytes as kept elsewhere (the copy of the limits in force), read as if at ``path``.
    ``keep_positions`` (start-of-day positions read by a start of the day, whose files were modified in place
    since): the one of the file the limits file names is used instead of that file. ``trading_day`` (wall clock
    ns -> date, the gateway's: its journal's day in ``journal.timezone``): the dates the start-of-day positions'
    staleness is judged by (``_positions_stale``); None: the host's local dates. ``decided_reference`` (a file watch
    reload, risk62): the file the watch decided, read with other bytes (written in place since its last look), is
    not used: the prices in force are (``LimitsFile.reference_skipped`` says what was read). Another file at the path
    (replaced since) is read as usual; the caller judges it.
    """
    limits_path = Path(path)
    parsed = parse_file(limits_path, LimitsDocument, content=content)
    problems = list(parsed.problems)
    data = parsed.partial if isinstance(parsed.partial, dict) else None
    warnings: list[str] = []
    if data is not None:
        problems += _check_semantics(parsed, data)
        if known is not None:
            problems += check_names(parsed, data, known, warnings)
    reference = None
    skipped: tuple[str, tuple[int, int, int, int] | None] | None = None
    positions: Parsed[StartPositionsDocument] | None = None
    settings = data.get("reference_prices") if data is not None else None
    reference_name = settings.get("file") if isinstance(settings, dict) else None
    if isinstance(reference_name, str):
        reference_path = _beside(limits_path, reference_name)
        if keep_reference is not None and Path(keep_reference.file) == reference_path:
            reference = keep_reference
        else:
            signature = stat_signature(reference_path)  # before the read: a file replaced meanwhile is seen as new
            reference = parse_file(reference_path, ReferencePriceDocument)
            if reference.signature is None:  # else the signature of the very file read, before its read (risk62)
                reference.signature = signature
            if (
                decided_reference is not None
                and Path(decided_reference.file) == reference_path
                and reference.sha256 != decided_reference.sha256
                and reference.signature is not None  # read (a file that cannot be read is a problem, as in any reload)
                and reference.signature[2] == decided_reference.file_id
            ):  # written in place since the file watch decided it (maybe half-written): the prices in force stay
                skipped = (reference.sha256, reference.signature)
                reference = decided_reference.in_force
        problems.extend(_at_field(reference.problems, parsed, ("reference_prices", "file")))
        max_age = settings.get("file_max_age_s", 86_400) if isinstance(settings, dict) else 86_400
        if reference.value is not None:
            age = reference_age_s(reference.value, wall_now)
            if age > max_age:
                warnings.append(
                    f"{reference.file}: as_of {reference.value.as_of} is {age:.0f} s old, more than "
                    f"reference_prices.file_max_age_s ({max_age} s): its prices count as stale"
                )
            elif age < -300:
                warnings.append(f"{reference.file}: as_of {reference.value.as_of} is in the future")
    positions_name = data.get("start_positions_file") if data is not None else None
    if isinstance(positions_name, str) and not start_up:
        positions_path = _beside(limits_path, positions_name)
        try:
            digest = hashlib.sha256(read_bounded(positions_path)).hexdigest()
        except OSError:
            digest = ""
        positions = Parsed[StartPositionsDocument](str(positions_path), digest)
    elif isinstance(positions_name, str):
        positions_path = _beside(limits_path, positions_name)
        kept = [k for k in keep_positions if Path(k.file) == positions_path]
        positions = kept[0] if kept else parse_file(positions_path, StartPositionsDocument)
        problems.extend(_at_field(positions.problems, parsed, ("start_positions_file",)))
        if positions.value is not None and data is not None:
            warnings += _positions_unlisted(positions, data, parsed.file)
            warnings += _positions_stale(positions, wall_now, trading_day)
    if problems or parsed.value is None:
        problems.sort(key=lambda p: (p.file != parsed.file, p.file, p.line, p.column))
        raise LimitsFileError(problems)
    limits = LimitsFile(limits_path, parsed, reference, positions, warnings)
    limits.reference_skipped = skipped
    return limits


def _at_field(problems: list[Problem], parsed: Parsed[LimitsDocument], field: Path_) -> list[Problem]:
    """Place problems of a referenced file with no position of their own (it cannot be read) at the field naming it."""
    line, column = parsed.mark(field)
    return [
        Problem(parsed.file, line, column, format_path(field), f"{p.file}: {p.message}") if p.line <= 0 else p
        for p in problems
    ]


def _positions_unlisted(positions: Parsed[StartPositionsDocument], data: Mapping[str, Any], file: str) -> list[str]:
    """Warn (with position) about each account of the positions file the limits file does not list."""
    assert positions.value is not None
    listed = data.get("accounts")
    found = []
    for account in positions.value.accounts:
        if not isinstance(listed, dict) or account not in listed:
            line, column = positions.mark(("accounts", account))
            found.append(
                f"{positions.file}:{line}:{column}: accounts.{account}: account {account} is not in {file}: "
                "its start-of-day positions apply to nothing"
            )
    return found


def previous_weekday(day: datetime.date) -> datetime.date:
    """Return the weekday (Monday to Friday) before ``day``: the last close start-of-day positions can be as of."""
    day -= datetime.timedelta(days=1)
    while day.weekday() >= 5:
        day -= datetime.timedelta(days=1)
    return day


def _positions_stale(
    positions: Parsed[StartPositionsDocument],
    wall_now: datetime.datetime | None,
    trading_day: Callable[[int], datetime.date] | None = None,
) -> list[str]:
    """Warn (with position) when the positions' ``as_of`` is before the weekday before today's session.

    The dates (today's and ``as_of``'s) are the trading day's, ``trading_day`` (the gateway's, in
    ``journal.timezone``: the session date risk keeps the day's positions for, killstop56; before, the host's date,
    which a UTC host's midnight changed while the venues' session went on), or the host's local dates without it
    (``gateway risk check`` without ``--config``). An ``as_of`` more than 5 minutes ahead of the clock is warned
    about as the reference-price file's is (``as_of ... is in the future``): a date typed wrong, or a host clock that
    is.
    """
    assert positions.value is not None
    now = wall_now if wall_now is not None else datetime.datetime.now(datetime.UTC)
    moment = datetime.datetime.fromisoformat(positions.value.as_of)
    if (moment - now).total_seconds() > 300:
        return [f"{positions.file}: as_of {positions.value.as_of} is in the future"]
    if trading_day is not None:
        today = trading_day(_unix_ns(now))
        as_of = trading_day(_unix_ns(moment))
    else:
        today = now.astimezone().date()
        as_of = moment.astimezone().date()
    oldest = previous_weekday(today)
    if as_of >= oldest:
        return []
    line, column = positions.mark(("as_of",))
    return [
        f"{positions.file}:{line}:{column}: as_of: as_of {positions.value.as_of} is older than the last close "
        f"before today's session ({oldest}, the weekday before {today}): these start-of-day positions may be "
        "stale; write the file from the latest books (after a holiday this warning is expected)"
    ]


def _unix_ns(moment: datetime.datetime) -> int:
    """Return an aware datetime (a naive one: the host's local time) as Unix nanoseconds."""
    aware = moment if moment.tzinfo is not None else moment.astimezone()
    return (aware - _EPOCH) // datetime.timedelta(microseconds=1) * 1_000


_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)


def reference_age_s(reference: ReferencePriceDocument, wall_now: datetime.datetime | None = None) -> float:
    """Return how many seconds old the reference file's ``as_of`` is."""
    if reference.as_of == AS_OF_LOADED:
        return 0.0
    now = wall_now if wall_now is not None else datetime.datetime.now(datetime.UTC)
    as_of = datetime.datetime.fromisoformat(reference.as_of)
    return (now - as_of).total_seconds()


def _beside(limits_path: Path, name: str) -> Path:
    """Resolve a path written in the limits file relative to the limits file's directory."""
    candidate = Path(name)
    return candidate if candidate.is_absolute() else limits_path.parent / candidate


def _check_semantics(parsed: Parsed[LimitsDocument], data: dict[str, Any]) -> list[Problem]:
    """Check the rules that span fields: complete defaults, consistent restricted list.

    Runs on the valid part of the file, so these problems are listed alongside type errors;
    a value that was present but invalid is not reported a second time as missing.
    """
    problems: list[Problem] = []
    missing = "missing: `defaults` must set every limit (a missing limit is refused)"
    defaults = data.get("defaults")
    if isinstance(defaults, dict):
        for name in REQUIRED_DEFAULTS:
            if name not in defaults and ("defaults", name) not in parsed.marks:
                problems.append(parsed.problem(("defaults", name), missing))
            elif name in ("orders_per_s", "cancels_per_s") and isinstance(defaults.get(name), dict):
                for rate in _RATE_FIELDS:
                    if rate not in defaults[name] and ("defaults", name, rate) not in parsed.marks:
                        problems.append(parsed.problem(("defaults", name, rate), missing))
        collar_given = any(("defaults", k) in parsed.marks for k in ("collar_pct", "collar_ticks"))
        if not collar_given:
            problems.append(
                parsed.problem(("defaults",), "missing: `defaults` must set collar_pct or collar_ticks (or both)")
            )
    restricted = data.get("restricted")
    if isinstance(restricted, dict):
        no_trade = set(restricted.get("no_trade", []))
        for index, symbol in enumerate(restricted.get("sell_only", [])):
            if symbol in no_trade:
                problems.append(
                    parsed.problem(
                        ("restricted", "sell_only", index),
                        f"{symbol} is in both no_trade and sell_only: keep it in one list",
                    )
                )
    return problems


def strategy_overrides(data: Mapping[str, Any]) -> list[tuple[tuple[str, ...], str]]:
    """Return (path, strategy) of every strategy override: ``strategies.S`` and ``accounts.A.strategies.S``."""
    found: list[tuple[tuple[str, ...], str]] = []
    strategies = data.get("strategies")
    if isinstance(strategies, dict):
        found += [(("strategies", name), name) for name in strategies]
    accounts = data.get("accounts")
    if isinstance(accounts, dict):
        for account, scope in accounts.items():
            nested = scope.get("strategies") if isinstance(scope, dict) else None
            if isinstance(nested, dict):
                found += [(("accounts", account, "strategies", name), name) for name in nested]
    return found


def check_names(
    parsed: Parsed[LimitsDocument], data: Mapping[str, Any], known: KnownNames, warnings: list[str]
) -> list[Problem]:
    """Check the file's strategy and account names against the gateway's; return problems, add warnings.

    * an override for a strategy the gateway does not run: a problem (the file is refused);
    * ``accounts.A.strategies.S`` where S may not trade A: a warning (it never applies);
    * an account no strategy may trade, or one a strategy may trade that the file does not list
      (its orders are refused UNKNOWN_ACCOUNT): warnings. An unlisted account cannot trade, so a
      mistyped account fails closed; a mistyped strategy would let the real one trade under
      looser limits, which is why only strategies are errors.
    """
    problems: list[Problem] = []
    names = ", ".join(sorted(known.strategies)) or "none"
    for path, strategy in strategy_overrides(data):
        where = ".".join(path)
        if strategy not in known.strategies:
            problems.append(
                parsed.problem(
                    path,
                    f"strategy {strategy!r} is not configured in {known.source} (strategies there: {names}): "
                    "this override would never apply; correct the name, or remove the override",
                )
            )
        elif path[0] == "accounts" and path[1] not in known.strategies[strategy]:
            line, column = parsed.mark(path)
            warnings.append(
                f"{parsed.file}:{line}:{column}: {where}: strategy {strategy} may not trade account {path[1]} "
                f"in {known.source}: this override never applies"
            )
    listed = data.get("accounts") if isinstance(data.get("accounts"), dict) else {}
    traded = known.accounts()
    for account in sorted(listed or {}):
        if account not in traded:
            line, column = parsed.mark(("accounts", account))
            warnings.append(
                f"{parsed.file}:{line}:{column}: accounts.{account}: no strategy in {known.source} may trade "
                f"account {account}"
            )
    for strategy, accounts in sorted(known.strategies.items()):
        for account in accounts:
            if account not in (listed or {}):
                warnings.append(
                    f"{known.source}: strategy {strategy} may trade account {account}, which {parsed.file} does not "
                    "list: its orders are refused (UNKNOWN_ACCOUNT)"
                )
    return problems

"""Read a YAML file into a typed msgspec structure, reporting every problem with its line and column.

msgspec alone stops at the first error and knows nothing of lines, so the YAML node
tree (``yaml.compose`` keeps each node's position) is walked against the structure's
type description (``msgspec.inspect``). Every problem found is collected; only a
file without any problem is converted (by ``msgspec.convert``) into the structure.

Numbers are taken from the text exactly: a field whose ``Meta.extra["unit"]`` is
``money``, ``price`` or ``percent`` accepts decimals (``150.25``) and is stored as a
fixed-point int (``1_502_500``); more decimals than the scale holds, NaN, infinity,
negative values where not allowed, wrong types, unknown fields, duplicate keys,
YAML merge keys, anchors and aliases are all errors.
"""

from __future__ import annotations

import datetime
import difflib
import hashlib
import os
import re
import stat
import typing
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from itertools import islice
from pathlib import Path
from typing import Any, Final, Generic, TypeVar

import msgspec
import msgspec.inspect as mi
import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from model.enums import PRICE_SCALE
from risk.model import PERCENT_SCALE

T = TypeVar("T")

MAX_FILE_BYTES: Final = 32 * 1024 * 1024
MAX_NODES: Final = 2_000_000
CONVERT_SLICE: Final = 500
"""A top-level mapping of more entries (a file's 30,000 accounts) is converted this many at a time (``_convert``)."""
"""Bound on nodes visited (aliases can make a small file expand enormously)."""

UNIT_SCALE: Final = {"money": PRICE_SCALE, "price": PRICE_SCALE, "percent": PERCENT_SCALE}
UNIT_WORD: Final = {"money": "an amount", "price": "a price", "percent": "a percentage"}

_TAG_NULL: Final = "tag:yaml.org,2002:null"
_TAG_BOOL: Final = "tag:yaml.org,2002:bool"
_TAG_INT: Final = "tag:yaml.org,2002:int"
_TAG_FLOAT: Final = "tag:yaml.org,2002:float"
_TAG_MERGE: Final = "tag:yaml.org,2002:merge"
_PLAIN_INT: Final = re.compile(r"[-+]?(?:0|[1-9][0-9]*)")
"""An integer as a reader sees it: YAML 1.1 also reads 010 (octal 8), 0x10, 0b10, 1:30 (90) and 1_000 as integers."""


def _not_plain(value: int, text: str = "") -> str:
    """Return the hint for an integer YAML reads in another base than the plain decimal a reader sees."""
    if "_" in text:
        return f" (YAML reads this as {value}: write plain decimal digits without underscores, e.g. 10000)"
    return f" (YAML reads this as {value}: write plain decimal digits without a leading 0, e.g. 10000)"


_NON_FINITE: Final = frozenset({".nan", ".inf", "+.inf", "-.inf"})
_YAML11_BOOLS: Final = frozenset({"yes", "no", "on", "off", "y", "n"})
"""Words YAML 1.1 reads as booleans (y and n in some readers): refused, so a switch says true or false."""
_PATTERN_TEXT: Final = {
    "name": "a name of 1 to 32 letters, digits, '_', '.' or '-'",
    "symbol": "an upper-case symbol of 1 to 32 letters, digits, '.', '_', '/' or '-'",
}
_HINTS: Final = {
    "tick_size": "tick_size and lot_size can only be set in `defaults` and `symbols`",
    "lot_size": "tick_size and lot_size can only be set in `defaults` and `symbols`",
}

Path_ = tuple[str | int, ...]


class Problem(msgspec.Struct, frozen=True):
    """One thing wrong with a file: where (file, 1-based line and column, field path) and what.

    ``str()`` gives the one line every tool prints (``gateway risk check``, ``gateway risk reload``,
    the log, the audit log): ``file:line:column: path: message``, the form editors jump to.
    """

    file: str
    line: int
    column: int
    path: str
    message: str

    def __str__(self) -> str:
        return format_problem(self)


def format_problem(problem: Problem) -> str:
    """Render a problem as ``file:line:column: path: message`` (``file: message`` without a position)."""
    where = f"{problem.file}:{problem.line}:{problem.column}" if problem.line > 0 else problem.file
    field = f"{problem.path}: " if problem.path else ""
    return f"{where}: {field}{problem.message}"


_CONTEXT_NEVER_CLOSED: Final = {
    "while parsing a flow sequence": ("expected ',' or ']'", "the flow sequence ('[') opened"),
    "while parsing a flow mapping": ("expected ',' or '}'", "the flow mapping ('{') opened"),
    "while scanning a quoted scalar": ("found unexpected end of stream", "the quoted text opened"),
}


def describe_yaml_error(exc: yaml.MarkedYAMLError) -> tuple[int, int, str]:
    """Return (line, column, message) for a YAML syntax error, naming both places PyYAML knows.

    PyYAML reports where it noticed the problem (``problem_mark``), which is often lines after
    the cause; the cause (an unclosed bracket or quote) is its ``context_mark``. The position is
    the problem's; the message names the context's line and column too.
    """
    problem_mark, context_mark = exc.problem_mark, exc.context_mark
    mark = problem_mark or context_mark
    line, column = (mark.line + 1, mark.column + 1) if mark is not None else (0, 0)
    problem = str(exc.problem or exc.context or "syntax error")
    context = str(exc.context or "")
    if context_mark is None or not context or exc.problem is None:
        return line, column, f"not valid YAML: {problem}"
    at = f"line {context_mark.line + 1}, column {context_mark.column + 1}"
    never_closed = _CONTEXT_NEVER_CLOSED.get(context)
    if never_closed is not None and problem.startswith(never_closed[0]):
        return line, column, f"not valid YAML: {problem} ({never_closed[1]} at {at} is never closed)"
    return line, column, f"not valid YAML: {problem} ({context} that starts at {at})"


class Parsed(Generic[T]):
    """The outcome of reading one file: the value (None if any problem) and everything learned."""

    def __init__(
        self,
        file: str,
        sha256: str,
        *,
        value: T | None = None,
        display: Any = None,
        marks: dict[Path_, tuple[int, int]] | None = None,
        problems: list[Problem] | None = None,
        partial: Any = None,
    ) -> None:
        self.file = file
        self.sha256 = sha256
        self.value = value
        self.display = display
        """The validated content in the officer's own units (decimals as text), for diffs."""
        self.marks = marks if marks is not None else {}
        """1-based (line, column) of every value, by field path (an entry of a named mapping: its key)."""
        self.problems = problems if problems is not None else []
        self.partial = partial
        """The valid part of the content (invalid values left out), for checks that span fields."""
        self.raw = b""
        """The bytes read (``parse_file``; empty if the file could not be read)."""
        self.signature: tuple[int, int, int, int] | None = None
        """The file's signature (``risk.filewatch.signature_of``) taken just before it was read: ``parse_file`` takes
        it on the file it opened (the reference-price file: what the file watch then counts as seen); None where
        the bytes were given (``content``) or could not be read."""

    def mark(self, path: Path_) -> tuple[int, int]:
        """Return the position of ``path`` or of its nearest ancestor that has one."""
        while path and path not in self.marks:
            path = path[:-1]
        return self.marks.get(path, (0, 0))

    def problem(self, path: Path_, message: str) -> Problem:
        """Build a problem located at ``path``."""
        line, column = self.mark(path)
        return Problem(self.file, line, column, format_path(path), message)


def format_path(path: Path_) -> str:
    """Render a field path as the officer reads it: ``accounts.ACC1.symbols.AAPL.max_qty``."""
    out: list[str] = []
    for part in path:
        if isinstance(part, int):
            out.append(f"[{part}]")
        elif "." in part or not part:
            out.append(f"[{part!r}]")
        else:
            out.append(f".{part}" if out else part)
    return "".join(out)


def format_scaled(value: int, scale: int) -> str:
    """Render a fixed-point int in currency/percent units without losing or inventing digits."""
    text = str(Decimal(value) / Decimal(scale))
    if "E" in text or "e" in text:
        text = format(Decimal(value) / Decimal(scale), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


class _Invalid:
    """Marker for a value that failed validation (its problem is already recorded)."""


INVALID: Final = _Invalid()


def _got(node: Node) -> str:
    """Describe what the officer wrote, for 'expected X, got Y' messages."""
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        return "a list"
    assert isinstance(node, ScalarNode)
    if node.tag == _TAG_NULL and node.style is None:
        return "nothing (null)"
    if node.style is None and node.tag in (_TAG_INT, _TAG_FLOAT, _TAG_BOOL):
        return str(node.value)
    if node.style is None and _looks_numeric(node.value):
        return f"{str(node.value)!r} (YAML reads this as text: write the number out, e.g. 1000000 or 1000000.0)"
    return repr(node.value)


def _looks_numeric(text: str) -> bool:
    try:
        Decimal(text.replace("_", ""))
    except InvalidOperation:
        return False
    return True


class _Walker:
    """Validate a node tree against a msgspec type description, collecting every problem."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.problems: list[Problem] = []
        self.marks: dict[Path_, tuple[int, int]] = {}
        self.visited = 0
        self._constructor = SafeConstructor()

    def error(self, node: Node, path: Path_, message: str) -> _Invalid:
        mark = node.start_mark
        self.problems.append(Problem(self.file, mark.line + 1, mark.column + 1, format_path(path), message))
        return INVALID

    def walk(self, node: Node, info: mi.Type, path: Path_, extra: Mapping[str, Any]) -> Any:
        """Return ``(data, display)`` for ``node`` or ``INVALID``."""
        self.visited += 1
        if self.visited > MAX_NODES:
            if self.visited == MAX_NODES + 1:
                self.error(node, path, f"the file expands to more than {MAX_NODES} values (aliases?)")
            return INVALID
        self.marks.setdefault(path, (node.start_mark.line + 1, node.start_mark.column + 1))
        if isinstance(info, mi.Metadata):
            return self.walk(node, info.type, path, {**extra, **(info.extra or {})})
        if isinstance(info, mi.UnionType):
            return self._optional(node, info, path, extra)
        if isinstance(info, mi.StructType):
            return self._struct(node, info, path)
        if isinstance(info, mi.DictType):
            return self._dict(node, info, path)
        if isinstance(info, mi.ListType):
            return self._list(node, info, path)
        if not isinstance(node, ScalarNode):
            return self.error(node, path, f"expected {_describe(info, extra)}, got {_got(node)}")
        if node.tag == _TAG_NULL and node.style is None:
            return self.error(node, path, f"expected {_describe(info, extra)}, got nothing (null)")
        if isinstance(info, mi.IntType):
            return self._int(node, info, path, extra)
        if isinstance(info, mi.BoolType):
            word = str(node.value).lower()
            if node.style is None and word in _YAML11_BOOLS:
                meaning = "false" if word in ("no", "n", "off") else "true"
                return self.error(
                    node,
                    path,
                    f"expected true or false, got {node.value} (YAML 1.1 reads this as {meaning}: write true or false)",
                )
            if node.tag != _TAG_BOOL or node.style is not None:
                return self.error(node, path, f"expected true or false, got {_got(node)}")
            value = bool(self._constructor.construct_yaml_bool(node))
            return value, value
        if isinstance(info, mi.StrType):
            return self._str(node, info, path, extra)
        if isinstance(info, mi.LiteralType):
            return self._literal(node, info, path)
        raise TypeError(f"risk.loader cannot validate {info!r} at {format_path(path)}")  # our bug

    def _optional(self, node: Node, info: mi.UnionType, path: Path_, extra: Mapping[str, Any]) -> Any:
        inner = [t for t in info.types if not isinstance(t, mi.NoneType)]
        if len(inner) != 1:
            raise TypeError(f"risk.loader supports only optional unions, not {info!r}")  # our bug
        return self.walk(node, inner[0], path, extra)

    def _keys(self, node: MappingNode, path: Path_) -> list[tuple[str, Node, Node]]:
        """Return (key text, key node, value node) for each entry, reporting bad or repeated keys."""
        seen: dict[str, Node] = {}
        out: list[tuple[str, Node, Node]] = []
        for key_node, value_node in node.value:
            if key_node.tag == _TAG_MERGE:
                self.error(key_node, path, "YAML merge keys ('<<') are not supported: write the values out")
                continue
            if not isinstance(key_node, ScalarNode) or (key_node.tag == _TAG_NULL and key_node.style is None):
                self.error(key_node, path, f"keys must be plain text, got {_got(key_node)}")
                continue
            key = str(key_node.value)
            if key in seen:
                first = seen[key].start_mark
                self.error(
                    key_node,
                    (*path, key),
                    f"duplicate key {key!r} (first at line {first.line + 1}, column {first.column + 1})",
                )
                continue
            seen[key] = key_node
            out.append((key, key_node, value_node))
        return out

    def _struct(self, node: Node, info: mi.StructType, path: Path_) -> Any:
        if not isinstance(node, MappingNode):
            return self.error(node, path, f"expected a mapping of fields, got {_got(node)}")
        fields = {f.encode_name: f for f in info.fields}
        data: dict[str, Any] = {}
        display: dict[str, Any] = {}
        present: set[str] = set()
        for key, key_node, value_node in self._keys(node, path):
            field = fields.get(key)
            if field is None:
                self.error(key_node, (*path, key), _unknown_field(key, list(fields)))
                continue
            present.add(key)
            result = self.walk(value_node, field.type, (*path, key), {})
            if result is not INVALID:
                data[key], display[key] = result
        for name, field in fields.items():
            if field.required and name not in present:
                self.error(node, (*path, name), f"required field {name!r} is missing")
        return data, display  # invalid values are left out (their problems are recorded)

    def _dict(self, node: Node, info: mi.DictType, path: Path_) -> Any:
        if not isinstance(node, MappingNode):
            return self.error(node, path, f"expected a mapping, got {_got(node)}")
        data: dict[str, Any] = {}
        display: dict[str, Any] = {}
        for key, key_node, value_node in self._keys(node, path):
            if self._check_key(key, key_node, info.key_type, path) is INVALID:
                continue
            # an entry named by the officer (an account, a strategy, a symbol) is located at its key
            self.marks.setdefault((*path, key), (key_node.start_mark.line + 1, key_node.start_mark.column + 1))
            result = self.walk(value_node, info.value_type, (*path, key), {})
            if result is INVALID:
                continue
            data[key], display[key] = result
        return data, display

    def _check_key(self, key: str, key_node: Node, key_type: mi.Type, path: Path_) -> Any:
        extra: Mapping[str, Any] = {}
        if isinstance(key_type, mi.Metadata):
            extra = key_type.extra or {}
            key_type = key_type.type
        if (
            isinstance(key_type, mi.StrType)
            and key_type.pattern is not None
            and re.fullmatch(key_type.pattern, key) is None
        ):
            what = _PATTERN_TEXT.get(str(extra.get("what", "")), f"text matching {key_type.pattern}")
            return self.error(key_node, (*path, key), f"invalid key {key!r}: expected {what}")
        return None

    def _list(self, node: Node, info: mi.ListType, path: Path_) -> Any:
        if not isinstance(node, SequenceNode):
            return self.error(node, path, f"expected a list, got {_got(node)}")
        data: list[Any] = []
        display: list[Any] = []
        seen: dict[Any, Node] = {}
        for index, item in enumerate(node.value):
            result = self.walk(item, info.item_type, (*path, index), {})
            if result is INVALID:
                continue
            value, shown = result
            if isinstance(value, str | int) and value in seen:
                first = seen[value].start_mark
                self.error(item, (*path, index), f"{value!r} is listed twice (first at line {first.line + 1})")
                continue
            if isinstance(value, str | int):
                seen[value] = item
            data.append(value)
            display.append(shown)
        return data, display

    def _int(self, node: ScalarNode, info: mi.IntType, path: Path_, extra: Mapping[str, Any]) -> Any:
        unit = extra.get("unit")
        expected = _describe(info, extra)
        if unit is None:
            if node.tag != _TAG_INT or node.style is not None:
                return self.error(node, path, f"expected {expected}, got {_got(node)}")
            try:
                value = int(self._constructor.construct_yaml_int(node))
            except ValueError:
                return self.error(node, path, f"expected {expected}, got {_got(node)}")
            if _PLAIN_INT.fullmatch(str(node.value)) is None:
                return self.error(node, path, f"expected {expected}, got {node.value}{_not_plain(value, node.value)}")
            if not _within(value, info):
                return self.error(node, path, f"expected {_violated(info, value, extra)}, got {node.value}")
            return value, value
        if node.style is not None or node.tag not in (_TAG_INT, _TAG_FLOAT):
            return self.error(node, path, f"expected {expected}, got {_got(node)}")
        text = str(node.value).replace("_", "")
        if text.lower() in _NON_FINITE:
            return self.error(node, path, f"expected {expected}, got {node.value} (NaN and infinity are refused)")
        try:
            if node.tag == _TAG_INT:
                whole = int(self._constructor.construct_yaml_int(node))
                if _PLAIN_INT.fullmatch(str(node.value)) is None:
                    return self.error(
                        node, path, f"expected {expected}, got {node.value}{_not_plain(whole, node.value)}"
                    )
                number = Decimal(whole)
            elif "_" in str(node.value):
                return self.error(
                    node,
                    path,
                    f"expected {expected}, got {node.value} (write plain decimal digits without underscores)",
                )
            else:
                number = Decimal(text)
        except (InvalidOperation, ValueError):
            return self.error(node, path, f"expected {expected}, got {_got(node)}")
        if not number.is_finite():
            return self.error(node, path, f"expected {expected}, got {node.value} (NaN and infinity are refused)")
        scale = UNIT_SCALE[str(unit)]
        scaled = number * scale
        if scaled != scaled.to_integral_value():
            digits = len(str(scale)) - 1
            word = UNIT_WORD[str(unit)]
            return self.error(node, path, f"expected {word} with at most {digits} decimals, got {node.value}")
        value = int(scaled)
        if not _within(value, info):
            return self.error(node, path, f"expected {_violated(info, value, extra)}, got {node.value}")
        return value, format_scaled(value, scale)

    def _str(self, node: ScalarNode, info: mi.StrType, path: Path_, extra: Mapping[str, Any]) -> Any:
        value = str(node.value)
        if info.pattern is not None and re.fullmatch(info.pattern, value) is None:
            what = _PATTERN_TEXT.get(str(extra.get("what", "")), f"text matching {info.pattern}")
            return self.error(node, path, f"expected {what}, got {value!r}")
        if extra.get("format") == "datetime" and value != extra.get("or"):
            try:
                moment = datetime.datetime.fromisoformat(value)
            except ValueError:
                moment = None
            if moment is None or moment.tzinfo is None:
                alternative = f" or {extra['or']!r}" if "or" in extra else ""
                return self.error(
                    node,
                    path,
                    f"expected a date and time with zone (2025-01-02T21:00:00Z){alternative}, got {value!r}",
                )
        if not value and (info.min_length or 0) > 0:
            return self.error(node, path, "expected non-empty text")
        return value, value

    def _literal(self, node: ScalarNode, info: mi.LiteralType, path: Path_) -> Any:
        choices = ", ".join(str(v) for v in info.values)
        for choice in info.values:
            if isinstance(choice, str) and node.value == choice:
                return choice, choice
            if (
                isinstance(choice, int)
                and node.tag == _TAG_INT
                and node.style is None
                and str(node.value).lstrip("+") == str(choice)
            ):
                return choice, choice
        return self.error(node, path, f"expected one of {choices}, got {_got(node)}")


def _within(value: int, info: mi.IntType) -> bool:
    return not (
        (info.gt is not None and value <= info.gt)
        or (info.ge is not None and value < info.ge)
        or (info.lt is not None and value >= info.lt)
        or (info.le is not None and value > info.le)
    )


def _violated(info: mi.IntType, value: int, extra: Mapping[str, Any]) -> str:
    """Describe only the bound ``value`` breaks: ``int > 0`` for -5."""
    unit = extra.get("unit")
    scale = UNIT_SCALE.get(str(unit), 1)
    word = UNIT_WORD.get(str(unit), "int")
    if info.gt is not None and value <= info.gt:
        return f"{word} > {format_scaled(info.gt, scale)}"
    if info.ge is not None and value < info.ge:
        return f"{word} >= {format_scaled(info.ge, scale)}"
    if info.le is not None and value > info.le:
        return f"{word} <= {format_scaled(info.le, scale)}"
    return _describe(info, extra)


def _describe(info: mi.Type, extra: Mapping[str, Any]) -> str:
    """Say in words what a field accepts, in the officer's units."""
    if isinstance(info, mi.IntType):
        unit = extra.get("unit")
        scale = UNIT_SCALE.get(str(unit), 1)
        word = UNIT_WORD.get(str(unit), "int")
        bounds: list[str] = []
        if info.gt is not None:
            bounds.append(f"> {format_scaled(info.gt, scale)}")
        if info.ge is not None:
            bounds.append(f">= {format_scaled(info.ge, scale)}")
        text = f"{word} {' and '.join(bounds)}".strip()  # upper bounds are sanity caps: named when broken
        if unit is not None:
            text += f" (up to {len(str(scale)) - 1} decimals)"
        return text
    if isinstance(info, mi.BoolType):
        return "true or false"
    if isinstance(info, mi.StrType):
        return "text"
    if isinstance(info, mi.LiteralType):
        return "one of " + ", ".join(str(v) for v in info.values)
    if isinstance(info, mi.StructType | mi.DictType):
        return "a mapping"
    if isinstance(info, mi.ListType):
        return "a list"
    return "a value"


def _unknown_field(key: str, allowed: list[str]) -> str:
    hint = _HINTS.get(key)
    if hint is not None:
        return f"unknown field {key!r}: {hint}"
    close = difflib.get_close_matches(key, allowed, n=1)
    suggestion = f" (did you mean {close[0]!r}?)" if close else ""
    return f"unknown field {key!r}{suggestion}; allowed here: {', '.join(allowed)}"


def _failed(file: str, sha256: str, line: int, column: int, message: str) -> Parsed[Any]:
    return Parsed(file, sha256, problems=[Problem(file, line, column, "", message)])


class _Loader(yaml.SafeLoader):
    """The safe loader, noting every anchor (``&a``) and alias (``*a``) with its position.

    An alias repeats a value written elsewhere: what is read at that line is not what applies. Refused, like
    merge keys, so that what the officer reads at each line is what applies.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.anchored: list[tuple[str, str, int, int]] = []
        """(``"alias"`` or ``"anchor"``, name, 1-based line, column) in the order found."""

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        event = self.peek_event()  # type: ignore[no-untyped-call]
        anchor = getattr(event, "anchor", None)
        if anchor is not None:
            kind = "alias" if isinstance(event, yaml.AliasEvent) else "anchor"
            self.anchored.append((kind, str(anchor), event.start_mark.line + 1, event.start_mark.column + 1))
        node: Node | None = super().compose_node(parent, index)
        return node


def _anchor_problems(file: str, anchors: list[tuple[str, str, int, int]]) -> list[Problem]:
    """Return one problem per anchor and alias: YAML anchors and aliases are refused."""
    defined = {name: (line, column) for kind, name, line, column in anchors if kind == "anchor"}
    problems = []
    for kind, name, line, column in anchors:
        if kind == "alias":
            at = defined.get(name)
            where = f" (anchor &{name} at line {at[0]}, column {at[1]})" if at is not None else ""
            message = f"YAML aliases ('*{name}') are not supported: write the value out here{where}"
        else:
            message = f"YAML anchors ('&{name}') are not supported: write each value out where it applies"
        if re.fullmatch(r"id[0-9]+", name):  # PyYAML's dump names the anchors of a value used twice so
            message += " (a YAML library wrote this for one value used twice: dump a copy of each)"
        problems.append(Problem(file, line, column, "", message))
    return problems


def parse_text(text: str, file: str, doc_type: type[T], sha256: str = "") -> Parsed[T]:
    """Validate YAML ``text`` against ``doc_type``; ``file`` names it in problems."""
    loader: _Loader | None = None
    documents: list[Node] = []
    try:
        loader = _Loader(text)
        while loader.check_node():
            node = loader.get_node()
            if node is not None:
                documents.append(node)
    except yaml.MarkedYAMLError as exc:
        line, column, message = describe_yaml_error(exc)
        return _failed(file, sha256, line, column, message)
    except yaml.YAMLError as exc:
        return _failed(file, sha256, 0, 0, f"not valid YAML: {exc}")
    except RecursionError:  # at where reading stopped
        where = (loader.line + 1, loader.column + 1) if loader is not None else (1, 1)
        return _failed(file, sha256, where[0], where[1], "nested too deeply")
    finally:
        if loader is not None:
            loader.dispose()
    anchored = _anchor_problems(file, loader.anchored) if loader is not None else []
    if anchored:  # the values are not walked: an alias can make a small file expand enormously
        return Parsed(file, sha256, problems=anchored)
    documents = [d for d in documents if d is not None]
    if not documents:
        return _failed(file, sha256, 1, 1, "the file is empty")
    if len(documents) > 1:
        mark = documents[1].start_mark
        return _failed(file, sha256, mark.line + 1, mark.column + 1, "only one YAML document ('---') is allowed")
    walker = _Walker(file)
    try:
        result = walker.walk(documents[0], mi.type_info(doc_type), (), {})
    except RecursionError:
        return _failed(file, sha256, 1, 1, "nested too deeply")
    if result is INVALID:
        return Parsed(file, sha256, marks=walker.marks, problems=walker.problems)
    data, display = result
    if walker.problems:
        return Parsed(file, sha256, marks=walker.marks, problems=walker.problems, partial=data)
    try:
        value = _convert(data, doc_type)
    except msgspec.ValidationError as exc:  # the walker should have caught it: report, never pass
        return _failed(file, sha256, 0, 0, f"invalid: {exc}")
    return Parsed(file, sha256, value=value, display=display, marks=walker.marks, partial=data)


def _convert(data: Any, doc_type: type[T]) -> T:
    """``msgspec.convert(data, doc_type)``, a large top-level mapping (``accounts:``) ``CONVERT_SLICE`` entries a call.

    One ``msgspec.convert`` is one C call that holds the GIL from start to end: over a 30,000-account file 35 ms
    (pure, load ~6), during which the gateway's event loop, whose reload reads the file in a worker thread,
    could not run. Between slices the loop can take the GIL back (at the interpreter's switch interval). The
    result is the same (the rest of the document first, then each large mapping, in its order, put in place).
    """
    large = (
        [k for k, v in data.items() if isinstance(v, dict) and len(v) > CONVERT_SLICE] if isinstance(data, dict) else []
    )
    if not large:
        return msgspec.convert(data, doc_type)
    hints = typing.get_type_hints(doc_type, include_extras=True)
    large = [k for k in large if typing.get_origin(hints.get(k)) is dict]
    value = msgspec.convert({k: {} if k in large else v for k, v in data.items()}, doc_type)
    converted: dict[str, Any] = {}
    for name in large:
        out: dict[Any, Any] = {}
        entries = iter(data[name].items())
        while chunk := dict(islice(entries, CONVERT_SLICE)):
            out.update(msgspec.convert(chunk, hints[name]))
        converted[name] = out
    return msgspec.structs.replace(value, **converted) if converted else value  # type: ignore[type-var]


def parse_file(path: Path, doc_type: type[T], shown_as: str | None = None, content: bytes | None = None) -> Parsed[T]:
    """Read and validate the YAML file at ``path`` (problems name it ``shown_as`` or the path).

    ``content``: validate these bytes as the file's instead of reading it (a copy of the file kept elsewhere).
    """
    file = shown_as if shown_as is not None else str(path)
    signature: tuple[int, int, int, int] | None = None
    if content is not None:
        raw = content
    else:
        try:
            raw, signature = read_identified(path)
        except OSError as exc:
            return _failed(file, "", 0, 0, f"cannot read the file: {exc}")
    sha256 = hashlib.sha256(raw).hexdigest()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        parsed: Parsed[T] = _failed(file, sha256, 0, 0, f"not UTF-8 text: {exc}")
    else:
        parsed = parse_text(text, file, doc_type, sha256)
    parsed.raw = raw
    parsed.signature = signature
    return parsed


def read_bounded(path: Path) -> bytes:
    """Read a whole regular file, refusing one larger than ``MAX_FILE_BYTES`` or not a regular file.

    Opened without blocking and checked before reading: a FIFO (or a device) at the path, also behind a
    symlink, would block the reader (the gateway's event loop) for ever.
    """
    return read_identified(path)[0]


def read_identified(path: Path) -> tuple[bytes, tuple[int, int, int, int]]:
    """``read_bounded``, and the signature (``risk.filewatch.signature_of``) of the file read, taken on the file
    opened just before reading it: a watch reload knows whether it read the version the file watch decided (risk62).
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        st = os.fstat(fd)
    except OSError:
        os.close(fd)
        raise
    mode = st.st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        kind = "a FIFO" if stat.S_ISFIFO(mode) else "a directory" if stat.S_ISDIR(mode) else "a device or socket"
        raise OSError(f"not a regular file ({kind})")
    if st.st_size > MAX_FILE_BYTES:  # by its size, unread (risk60: 32 MiB of a 60 MB file were read to refuse it)
        os.close(fd)
        raise OSError(f"file is larger than {MAX_FILE_BYTES} bytes")
    with os.fdopen(fd, "rb") as handle:
        raw = handle.read(MAX_FILE_BYTES + 1)
    if len(raw) > MAX_FILE_BYTES:
        raise OSError(f"file is larger than {MAX_FILE_BYTES} bytes")
    return raw, (st.st_mtime_ns, st.st_size, (st.st_dev << 64) | st.st_ino, st.st_ctime_ns)

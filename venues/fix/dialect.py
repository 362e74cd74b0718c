"""Venue dialects: what differs from one FIX venue to the next, as data (YAML files).

A dialect fixes the BeginString, default CompIDs, logon extras, how ClOrdID / Account /
ExDestination are filled, the TIF / order type / side mappings, static and per-order
custom tags, which tags the venue sends back on execution reports, and how a resend of
stale business messages is answered. ``docs/venues/fix.md`` explains every field;
``deploy/fix/dialects/`` holds the shipped ones.

Loading validates the whole file (unknown keys, wrong types, unsupported values) and
reports the problem with the file name: a bad dialect is the operator's error and is
refused before any connection is made.
"""

from __future__ import annotations

import enum
import re
from pathlib import Path
from typing import Annotated, Final

import msgspec

from model.enums import OrderType, Side, TimeInForce

DIALECT_DIR: Final = Path(__file__).resolve().parents[2] / "deploy" / "fix" / "dialects"
"""Where dialects named without a path are looked up (``<name>.yaml``)."""

_TAG_VALUE_RE: Final = re.compile(r"^[\x20-\x7e]+$")

Tag = Annotated[int, msgspec.Meta(ge=1, le=99_999)]
FixValue = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[\x20-\x7e]+$")]


class DialectError(ValueError):
    """The dialect file is unusable (operator error); the message names the file and the problem."""


class BeginString(enum.StrEnum):
    """FIX versions the session layer speaks."""

    FIX42 = "FIX.4.2"
    FIX44 = "FIX.4.4"


class FieldSource(enum.StrEnum):
    """Where a per-order field's value comes from."""

    STRATEGY_ID = "strategy_id"
    ACCOUNT = "account"
    SYMBOL = "symbol"
    CL_ORD_ID = "cl_ord_id"
    """The strategy's own ClOrdID (not the one sent to the venue)."""
    ORDER_ID = "order_id"


class AccountSource(enum.StrEnum):
    """How Account (1) is filled."""

    ORDER = "order"
    """The gateway account of the order, as is."""
    FIXED = "fixed"
    """``value`` for every order."""
    MAP = "map"
    """``map[order.account]``; an account missing from the map cannot be sent."""
    NONE = "none"
    """Account is not sent."""


class CustomField(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A tag outside the standard dictionary, declared so validation knows it."""

    tag: Tag
    name: Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z][A-Za-z0-9]*$")]
    type: Annotated[str, msgspec.Meta(pattern=r"^[A-Z]+$")] = "STRING"
    messages: list[Annotated[str, msgspec.Meta(min_length=1, max_length=2)]] = []
    """MsgTypes the field may appear in (e.g. ``["D", "G", "8"]``)."""


class LogonDialect(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Venue-specific Logon (A) content."""

    reset_seq_num_on_logon: bool = False
    """Send ResetSeqNumFlag=Y on every logon (sequence numbers start at 1 each connection)."""
    send_credentials: bool = False
    """Send Username (553) / Password (554) from the venue config."""
    fields: dict[str, FixValue] = {}
    """Extra static fields, tag -> value."""


class AccountDialect(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """How Account (1) is filled."""

    source: AccountSource = AccountSource.ORDER
    value: str = ""
    map: dict[str, FixValue] = {}


class OrderDialect(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """How NewOrderSingle / OrderCancelRequest / OrderCancelReplaceRequest are filled."""

    cl_ord_id_prefix: Annotated[str, msgspec.Meta(max_length=8, pattern=r"^[A-Za-z0-9]*$")] = ""
    cl_ord_id_max_length: Annotated[int, msgspec.Meta(ge=8, le=64)] = 32
    account: AccountDialect = AccountDialect()
    ex_destination: FixValue | None = None
    """ExDestination (100) on new and replace, or None to leave it out."""
    handl_inst: FixValue | None = "1"
    """HandlInst (21), required by FIX 4.2; None leaves it out."""
    static_fields: dict[str, FixValue] = {}
    """Tag -> value added to every new and replace."""
    order_fields: dict[str, FieldSource] = {}
    """Tag -> order attribute added to every new and replace."""
    cancel_includes_qty: bool = True
    """Send OrderQty (38) on OrderCancelRequest."""
    time_in_force: dict[str, FixValue] = msgspec.field(default_factory=lambda: {"DAY": "0", "IOC": "3"})
    """Gateway TIF name -> TimeInForce (59); a TIF missing here is refused by ``check_order``."""
    order_types: dict[str, FixValue] = msgspec.field(default_factory=lambda: {"LIMIT": "2", "MARKET": "1"})
    """Gateway order type name -> OrdType (40)."""
    sides: dict[str, FixValue] = msgspec.field(default_factory=lambda: {"BUY": "1", "SELL": "2", "SELL_SHORT": "5"})
    """Gateway side name -> Side (54)."""
    symbol_max_length: Annotated[int, msgspec.Meta(ge=1, le=64)] = 16
    status_request: bool = False
    """The venue answers OrderStatusRequest (35=H) with an ExecutionReport (order status): the gateway
    asks with it about a request whose outcome it does not know (gap-filled instead of replayed);
    without it the gateway asks with a cancel naming the request's ClOrdID."""


class ExecutionDialect(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """What the venue sends back on ExecutionReports."""

    liquidity_tag: Tag | None = None
    """Tag carrying the liquidity indicator of a fill (851 in FIX 4.4, often custom in 4.2)."""
    liquidity_values: dict[str, str] = {}
    """Venue value -> gateway liquidity code (``A`` added, ``R`` removed, ``X`` routed)."""
    required_tags: list[Tag] = []
    """Tags the venue always sends back on an ExecutionReport (counted when missing)."""
    echoed_tags: list[Tag] = []
    """Tags of the order the venue echoes on its ExecutionReports (the simulator does too)."""


class ResendDialect(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """How a ResendRequest from the venue is answered."""

    replay_business: bool = True
    """Replay orders/cancels with PossDupFlag=Y; False gap-fills them like admin messages."""
    stale_after_ms: Annotated[int, msgspec.Meta(ge=0)] = 0
    """Gap-fill business messages older than this instead of replaying them (0 = never stale)."""


class Dialect(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Everything that makes one FIX venue different from another."""

    name: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    begin_string: BeginString
    description: str = ""
    sender_comp_id: str = "GATEWAY"
    target_comp_id: str = "VENUE"
    data_dictionary: str = ""
    """quickfix data dictionary file (name under quickfix's share dir, or a path); default by version."""
    logon: LogonDialect = LogonDialect()
    orders: OrderDialect = OrderDialect()
    executions: ExecutionDialect = ExecutionDialect()
    resend: ResendDialect = ResendDialect()
    custom_fields: list[CustomField] = []

    def time_in_force_map(self) -> dict[TimeInForce, bytes]:
        """Return gateway TIF -> wire value for the TIFs this venue takes."""
        return {TimeInForce[k]: v.encode() for k, v in self.orders.time_in_force.items()}

    def order_type_map(self) -> dict[OrderType, bytes]:
        """Return gateway order type -> wire OrdType for the types this venue takes."""
        return {OrderType[k]: v.encode() for k, v in self.orders.order_types.items()}

    def side_map(self) -> dict[Side, bytes]:
        """Return gateway side -> wire Side for the sides this venue takes."""
        return {Side[k]: v.encode() for k, v in self.orders.sides.items()}

    @property
    def begin_bytes(self) -> bytes:
        """Return the BeginString as wire bytes."""
        return self.begin_string.value.encode()

    @property
    def dictionary_name(self) -> str:
        """Return the quickfix data dictionary this dialect validates against."""
        if self.data_dictionary:
            return self.data_dictionary
        return "FIX42.xml" if self.begin_string is BeginString.FIX42 else "FIX44.xml"


def _check(dialect: Dialect, origin: str) -> Dialect:
    """Reject combinations msgspec's type checks cannot see."""
    problems: list[str] = []
    for mapping_name, mapping in (
        ("logon.fields", dialect.logon.fields),
        ("orders.static_fields", dialect.orders.static_fields),
        ("orders.order_fields", dialect.orders.order_fields),
    ):
        for key in mapping:
            if not key.isdigit() or not 0 < int(key) < 100_000:
                problems.append(f"{mapping_name}: key {key!r} is not a tag number")
    if dialect.orders.account.source is AccountSource.FIXED and not dialect.orders.account.value:
        problems.append("orders.account: source 'fixed' needs a value")
    if dialect.orders.account.source is AccountSource.MAP and not dialect.orders.account.map:
        problems.append("orders.account: source 'map' needs a map")
    for comp_name in ("sender_comp_id", "target_comp_id"):
        value = getattr(dialect, comp_name)
        if not value or not _TAG_VALUE_RE.match(value):
            problems.append(f"{comp_name}: must be printable ASCII, got {value!r}")
    for mapping_name, mapping, enum_type in (
        ("orders.time_in_force", dialect.orders.time_in_force, TimeInForce),
        ("orders.order_types", dialect.orders.order_types, OrderType),
        ("orders.sides", dialect.orders.sides, Side),
    ):
        names = [m.name for m in enum_type]
        if not mapping:
            problems.append(f"{mapping_name}: must map at least one of {', '.join(names)}")
        problems.extend(
            f"{mapping_name}: unknown key {key!r} (expected one of {', '.join(names)})"
            for key in mapping
            if key not in names
        )
    if problems:
        raise DialectError(f"{origin}: " + "; ".join(problems))
    return dialect


def parse_dialect(text: str | bytes, origin: str = "<dialect>") -> Dialect:
    """Decode and validate dialect YAML; ``DialectError`` names ``origin`` and the problem."""
    try:
        dialect = msgspec.yaml.decode(text, type=Dialect)
    except msgspec.ValidationError as exc:
        raise DialectError(f"{origin}: {exc}") from None
    except msgspec.DecodeError as exc:
        raise DialectError(f"{origin}: not valid YAML: {exc}") from None
    return _check(dialect, origin)


def resolve_dialect_path(name_or_path: str, search_dirs: list[Path] | None = None) -> Path:
    """Return the file for a dialect given by path or by name (``<dir>/<name>.yaml``)."""
    candidate = Path(name_or_path)
    if candidate.suffix in (".yaml", ".yml") or "/" in name_or_path:
        if candidate.is_file():
            return candidate
        raise DialectError(f"dialect file {name_or_path!r} not found")
    dirs = [*(search_dirs or []), DIALECT_DIR]
    for directory in dirs:
        path = directory / f"{name_or_path}.yaml"
        if path.is_file():
            return path
    known = sorted({p.stem for d in dirs if d.is_dir() for p in d.glob("*.yaml")})
    raise DialectError(f"unknown dialect {name_or_path!r}; known: {', '.join(known) or 'none'}")


def load_dialect(name_or_path: str, search_dirs: list[Path] | None = None) -> Dialect:
    """Load a dialect by name (see ``resolve_dialect_path``) or by path."""
    path = resolve_dialect_path(name_or_path, search_dirs)
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise DialectError(f"cannot read dialect {path}: {exc}") from None
    return parse_dialect(text, str(path))

"""Configuration of one Cboe BOE v2 venue session (validated by msgspec; unknown keys are errors).

Everything the reference leaves unverified or venue-specific is a setting here (docs/venues/boe.md,
"Unverified details"): which optional fields every New / Cancel / Modify carries, which return
fields Cboe sends back on each message type, the heartbeat and timeout figures, whether inbound
messages are numbered, and which Logout reasons end the day.
"""

from __future__ import annotations

import struct
import zoneinfo
from typing import Annotated, Final, Literal

import msgspec

from venues.boe.codec import MODIFY_ORDER_TABLE, NEW_ORDER_TABLE, RETURN_TABLE
from venues.boe.messages import (
    CANCEL_REJECTED,
    ORDER_ACKNOWLEDGMENT,
    ORDER_CANCELLED,
    ORDER_EXECUTION,
    ORDER_MODIFIED,
    ORDER_REJECTED,
    ORDER_RESTATED,
    RETURN_ALLOWED,
    TRADE_CANCEL_OR_CORRECT,
    USER_MODIFY_REJECTED,
)
from venues.boe.session import MS, BoeSessionConfig

DEFAULT_TIMEZONE: Final = "America/New_York"
_ALNUM: Final = r"^[A-Za-z0-9]*$"
_PRINTABLE: Final = r"^[!-~]*$"
_CL_ORD_ID_PREFIX: Final = r"^[!-~]*$"

RETURN_MESSAGE_TYPES: Final = {
    "order_acknowledgment": ORDER_ACKNOWLEDGMENT,
    "order_rejected": ORDER_REJECTED,
    "order_modified": ORDER_MODIFIED,
    "order_restated": ORDER_RESTATED,
    "user_modify_rejected": USER_MODIFY_REJECTED,
    "order_cancelled": ORDER_CANCELLED,
    "cancel_rejected": CANCEL_REJECTED,
    "order_execution": ORDER_EXECUTION,
    "trade_cancel_or_correct": TRADE_CANCEL_OR_CORRECT,
}
"""Config key -> Cboe -> member message type."""

NEW_ORDER_REQUIRED: Final = ("price", "ord_type", "time_in_force", "symbol", "capacity")
"""Optional New Order fields every order carries (the gateway's order maps onto them)."""
MODIFY_REQUIRED: Final = ("order_qty", "price")
"""Cboe rejects a Modify without both (spec 2.3.7 §3 "Modify Order")."""
_GATEWAY_FIELDS: Final = frozenset({*NEW_ORDER_REQUIRED, "clearing_firm", "clearing_account", "account"})
"""New Order fields the adapter fills from the order or from dedicated settings (not ``new_order_constants``)."""

DEFAULT_RETURN_FIELDS: Final = {
    "order_acknowledgment": ["side", "price", "symbol", "capacity", "order_qty", "leaves_qty"],
    "order_rejected": ["side", "price", "symbol", "order_qty"],
    "order_modified": ["side", "price", "order_qty", "orig_cl_ord_id", "leaves_qty"],
    "order_restated": ["price", "order_qty", "leaves_qty"],
    "order_cancelled": ["leaves_qty", "last_shares"],
    "order_execution": ["side", "symbol"],
    "trade_cancel_or_correct": ["symbol"],
}
"""Return fields asked for at login unless configured: enough to check answers against orders and to log them."""


def _at(field: str, message: str) -> str:
    """Return ``message`` naming ``field`` as msgspec names a path, so that a config error points at its key.

    A ``__post_init__`` error has no path of its own: ``gateway.config.locate_error`` placed it at the venue
    entry's line (rev50boe). The venue entry is converted on its own, so ``$`` is the entry.
    """
    return f"{message} - at `$.{field}`"


def constant_range(fmt: str) -> tuple[int, int]:
    """Return the lowest and highest integer a New Order field of struct format ``fmt`` carries (its wire width)."""
    bits = struct.calcsize("<" + fmt) * 8
    if fmt.islower():  # b h i q: signed
        return -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    return 0, (1 << bits) - 1


def _check_constant(name: str, value: str | int) -> None:
    """Check one ``new_order_constants`` entry against the New Order table (its key in the error's path)."""
    at = f"new_order_constants.{name}"
    try:
        field = NEW_ORDER_TABLE.field(name)
    except KeyError:
        raise ValueError(_at(at, f"{name!r} is not a New Order optional field")) from None
    if name in _GATEWAY_FIELDS:
        raise ValueError(_at(at, f"{name!r} comes from the order or its own setting"))
    if field.fmt.endswith("s"):
        width = int(field.fmt[:-1] or 1)
        if not isinstance(value, str) or len(value) > width or not value.isascii():
            raise ValueError(_at(at, f"{name} needs ASCII text of at most {width} characters"))
        return
    low, high = constant_range(field.fmt)
    if not isinstance(value, int):
        raise ValueError(_at(at, f"{name} needs a whole number from {low} to {high}"))
    if not low <= value <= high:
        raise ValueError(
            _at(
                at,
                f"{name} is {value}, outside what its {struct.calcsize('<' + field.fmt)}-byte "
                f"field carries: {low} to {high}",
            )
        )


class BoeVenueConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, tag_field="protocol", tag="boe"):
    """One Cboe US Equities BOE v2 port."""

    name: Annotated[str, msgspec.Meta(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_.-]+$")]
    """Venue name the core and the ops tools use; also names the state files."""
    host: Annotated[str, msgspec.Meta(min_length=1)]
    port: Annotated[int, msgspec.Meta(ge=1, le=65535)]
    session_sub_id: Annotated[str, msgspec.Meta(min_length=1, max_length=4, pattern=_ALNUM)]
    """SessionSubID assigned by Cboe (Alphanumeric 4)."""
    username: Annotated[str, msgspec.Meta(min_length=1, max_length=4, pattern=_ALNUM)]
    """Username assigned by Cboe (Alphanumeric 4)."""
    password: Annotated[str, msgspec.Meta(max_length=10, pattern=_PRINTABLE)]
    clearing_firm: Annotated[str, msgspec.Meta(max_length=4, pattern=r"^[A-Za-z]*$")] = ""
    """ClearingFirm (MPID) sent on every New, Cancel and Modify when set; required on service-bureau ports."""
    clearing_account: Annotated[str, msgspec.Meta(max_length=4, pattern=_PRINTABLE)] = ""
    """ClearingAccount sent on every New Order when set."""
    account: Annotated[str, msgspec.Meta(max_length=16, pattern=_PRINTABLE)] = ""
    """Account sent on every New Order when set (blank: the gateway account is not passed on)."""
    capacity: Literal["A", "P", "R"] = "A"
    """A agency, P principal, R riskless principal."""
    new_order_constants: dict[str, str | int] = {}
    """Further New Order optional fields with one value for every order, e.g. ``display_indicator: V``,
    ``attributed_quote: N``, ``ext_exec_inst: N``, ``routing_inst: B`` (names from the New Order table)."""
    new_order_bitfield_count: Annotated[int, msgspec.Meta(ge=0, le=7)] = 0
    """Send at least this many New Order bitfield bytes (0: as many as the fields need)."""
    return_fields: dict[str, list[str]] = msgspec.field(
        default_factory=lambda: {key: list(names) for key, names in DEFAULT_RETURN_FIELDS.items()}
    )
    """Per return message type (``order_acknowledgment`` ...): the return fields to ask for at login."""
    matching_units: Annotated[int, msgspec.Meta(ge=0, le=255)] = 0
    """Units 1..N listed in every login (0: only the units seen so far, learned from Login Responses)."""
    no_unspecified_unit_replay: bool = False
    """Login flag: do not replay units the login does not list (see ``matching_units``)."""
    sequence_outbound: bool = True
    """Number New / Cancel / Modify (Cboe then reports the last one it processed at every login)."""
    heartbeat_interval_ms: Annotated[int, msgspec.Meta(ge=10, le=60_000)] = 1_000
    """Send a Client Heartbeat after this long without sending (spec 2.3.7 §2.4: one second)."""
    server_timeout_ms: Annotated[int, msgspec.Meta(ge=50, le=600_000)] = 5_000
    """Disconnect when Cboe sends nothing (not even a heartbeat) for this long (§2.4: five seconds)."""
    login_timeout_ms: Annotated[int, msgspec.Meta(ge=100, le=600_000)] = 10_000
    """Disconnect (and reconnect, backing off) when the Login Response has not come this long after the Login
    Request; Server Heartbeats do not hold it off."""
    replay_timeout_ms: Annotated[int, msgspec.Meta(ge=100, le=3_600_000)] = 60_000
    """Disconnect when Replay Complete has not come this long after the Login Response."""
    reconnect_initial_ms: Annotated[int, msgspec.Meta(ge=1, le=600_000)] = 100
    reconnect_max_ms: Annotated[int, msgspec.Meta(ge=1, le=3_600_000)] = 10_000
    max_login_refusals: Annotated[int, msgspec.Meta(ge=0, le=1_000)] = 3
    """Stop reconnecting (state LOGIN_REFUSED) after this many refusals no retry cures in a row: Login Responses
    ``N`` (not authorized), ``D`` (session disabled), ``S`` (invalid session), ``F`` (invalid return bitfield),
    ``M`` (structurally invalid), and an ``I`` (invalid unit) dropping units cannot correct; so that Cboe never sees
    a stream of bad passwords or the same wrong login all day; 0 = retry for ever."""
    end_of_day_logout_reasons: Annotated[str, msgspec.Meta(max_length=4)] = "E"
    """LogoutReason codes after which the session stays down for the day."""
    cl_ord_id_prefix: Annotated[str, msgspec.Meta(max_length=8, pattern=_CL_ORD_ID_PREFIX)] = ""
    """Prefix of every ClOrdID (20 characters in all; printable ASCII without , ; | @ ")."""
    state_dir: Annotated[str, msgspec.Meta(min_length=1)] = "var/boe"
    """Directory of the session's state files (per-unit sequences, ClOrdIDs; must survive restarts)."""
    timezone: str = DEFAULT_TIMEZONE
    """Time zone whose calendar day is the trading day (BOE sequence numbers restart each day)."""

    def __post_init__(self) -> None:
        """Check the rules that span fields."""
        if self.reconnect_max_ms < self.reconnect_initial_ms:
            raise ValueError(_at("reconnect_max_ms", "reconnect_max_ms must be at least reconnect_initial_ms"))
        if self.server_timeout_ms <= self.heartbeat_interval_ms:
            raise ValueError(_at("server_timeout_ms", "server_timeout_ms must be longer than heartbeat_interval_ms"))
        if set(self.cl_ord_id_prefix) & set(',;|@"'):
            raise ValueError(_at("cl_ord_id_prefix", 'cl_ord_id_prefix must not contain , ; | @ or "'))
        for name, value in self.new_order_constants.items():
            _check_constant(name, value)
        for key, names in self.return_fields.items():
            message_type = RETURN_MESSAGE_TYPES.get(key)
            if message_type is None:
                raise ValueError(
                    f"return_fields: unknown message {key!r}; expected one of {sorted(RETURN_MESSAGE_TYPES)}"
                )
            allowed = RETURN_ALLOWED[message_type]
            for name in names:
                try:
                    field = RETURN_TABLE.field(name)
                except KeyError:
                    raise ValueError(f"return_fields.{key}: {name!r} is not a return field") from None
                if not allowed.get(field.byte, 0) & field.bit:
                    raise ValueError(f"return_fields.{key}: {name} may not be requested on this message")
        if self.timezone.upper() != "UTC":
            try:
                zoneinfo.ZoneInfo(self.timezone)
            except (ValueError, zoneinfo.ZoneInfoNotFoundError):
                raise ValueError(_at("timezone", f"unknown time zone {self.timezone!r}")) from None

    def return_bitfields(self) -> dict[int, bytes]:
        """Return message type -> return bitfields for the login (from ``return_fields``)."""
        return {
            RETURN_MESSAGE_TYPES[key]: RETURN_TABLE.bitfields_of(names)
            for key, names in self.return_fields.items()
            if names
        }

    def new_order_fields(self) -> tuple[str, ...]:
        """Return the optional fields every New Order carries, in wire order (the New Order packer's set)."""
        names = {*NEW_ORDER_REQUIRED, *self.new_order_constants}
        if self.clearing_firm:
            names.add("clearing_firm")
        if self.clearing_account:
            names.add("clearing_account")
        if self.account:
            names.add("account")
        return tuple(field.name for field in NEW_ORDER_TABLE.fields if field.name in names)

    def cancel_fields(self) -> tuple[str, ...]:
        """Return the optional fields every Cancel Order carries."""
        return ("clearing_firm",) if self.clearing_firm else ()

    def modify_fields(self) -> tuple[str, ...]:
        """Return the optional fields every Modify Order carries, in wire order."""
        names = {*MODIFY_REQUIRED, *(("clearing_firm",) if self.clearing_firm else ())}
        return tuple(field.name for field in MODIFY_ORDER_TABLE.fields if field.name in names)

    def session_config(self) -> BoeSessionConfig:
        """Return the client session's configuration."""
        return BoeSessionConfig(
            session_sub_id=self.session_sub_id,
            username=self.username,
            password=self.password,
            return_bitfields=self.return_bitfields(),
            no_unspecified_unit_replay=self.no_unspecified_unit_replay,
            sequence_outbound=self.sequence_outbound,
            heartbeat_interval_ns=self.heartbeat_interval_ms * MS,
            server_timeout_ns=self.server_timeout_ms * MS,
            login_timeout_ns=self.login_timeout_ms * MS,
            replay_timeout_ns=self.replay_timeout_ms * MS,
            reconnect_initial_ns=self.reconnect_initial_ms * MS,
            reconnect_max_ns=self.reconnect_max_ms * MS,
            max_login_refusals=self.max_login_refusals,
            end_of_day_reasons=self.end_of_day_logout_reasons,
        )

    def initial_units(self) -> dict[int, int]:
        """Return the units a first login lists (1..``matching_units`` at sequence 0)."""
        return dict.fromkeys(range(1, self.matching_units + 1), 0)

"""Configuration of one OUCH 5.0 venue session (validated by msgspec; unknown keys are errors)."""

from __future__ import annotations

import zoneinfo
from typing import Annotated, Literal

import msgspec

from venues.ouch.daytime import DEFAULT_TIMEZONE
from venues.ouch.refstore import DEFAULT_BLOCK, MAX_BLOCK, MIN_BLOCK

_PRINTABLE = r"^[!-~]*$"
"""Printable ASCII without spaces (SoupBinTCP credentials and session ids are space-padded)."""
SOUP_HEARTBEAT_MS = 1_000
"""SoupBinTCP (every version): each side sends a heartbeat whenever it has sent nothing for more than 1 second."""
SOUP_SILENT_CLIENT_MS = 15_000
"""SoupBinTCP 3.00: the server closes a client silent for "an extended period of time (typically 15 seconds)"."""


def _at(field: str, message: str) -> str:
    """Return ``message`` naming ``field`` as msgspec names a path: a config error then points at its key's line."""
    return f"{message} - at `$.{field}`"


def heartbeat_warnings(config: OuchVenueConfig) -> list[str]:
    """Return what the heartbeat settings break of SoupBinTCP without breaking the session (logged at start-up)."""
    if config.heartbeat_interval_ms <= SOUP_HEARTBEAT_MS:
        return []
    return [
        f"venue {config.name}: heartbeat_interval_ms {config.heartbeat_interval_ms} is above SoupBinTCP's "
        f"{SOUP_HEARTBEAT_MS} ms: the client must send a heartbeat whenever it has sent nothing for more than 1 "
        "second; a venue may count it as a violation, or close the session once it has heard nothing for its own "
        "timeout (3.00: typically 15 s). Use 1000 unless the venue agreed otherwise"
    ]


class OuchVenueConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, tag_field="protocol", tag="ouch"):
    """One OUCH account (port) reached over SoupBinTCP."""

    name: Annotated[str, msgspec.Meta(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_.-]+$")]
    """Venue name the core and the ops tools use; also names the UserRefNum state file."""
    host: Annotated[str, msgspec.Meta(min_length=1)]
    port: Annotated[int, msgspec.Meta(ge=1, le=65535)]
    username: Annotated[str, msgspec.Meta(min_length=1, max_length=6, pattern=_PRINTABLE)]
    password: Annotated[str, msgspec.Meta(max_length=10, pattern=_PRINTABLE)]
    session: Annotated[str, msgspec.Meta(max_length=10, pattern=_PRINTABLE)] = ""
    """SoupBinTCP session to join; blank = the venue's current session."""
    soupbin_version: Literal["3.00", "4.10"] = "3.00"
    """Login Request layout; Nasdaq US equities document 3.00."""
    heartbeat_interval_ms: Annotated[int, msgspec.Meta(ge=10, le=60_000)] = 1_000
    """Send a Client Heartbeat after this long without sending (the spec says 1 second: above it, a WARNING at
    start-up; with 3.00, 15,000 or more is refused, the venue closes a client silent that long)."""
    server_timeout_ms: Annotated[int, msgspec.Meta(ge=50, le=600_000)] = 5_000
    """Disconnect when the venue sends nothing (not even a heartbeat) for this long; above 1,000 (a venue sends its
    heartbeat only after more than 1 second of silence)."""
    client_heartbeat_timeout_ms: Annotated[int, msgspec.Meta(ge=0, le=99_999)] = 15_000
    """SoupBinTCP 4.10 only: how long the venue may wait for our heartbeats (sent in the login)."""
    reconnect_initial_ms: Annotated[int, msgspec.Meta(ge=1, le=600_000)] = 100
    reconnect_max_ms: Annotated[int, msgspec.Meta(ge=1, le=3_600_000)] = 10_000
    max_login_refusals: Annotated[int, msgspec.Meta(ge=0, le=1_000)] = 3
    """Stop reconnecting (state LOGIN_REFUSED) after this many Login Rejected ``A`` (not authorized) in a row,
    so that a venue locking the account after repeated bad passwords is not hammered; 0 = retry for ever."""
    max_refetches: Annotated[int, msgspec.Meta(ge=0, le=100)] = 3
    """A sequenced message that cannot be read (wrong length for its type, unknown type, the stream out of frame)
    is not applied: the session drops and logs in again asking for it, at most this many times in a row for the
    same number (backing off); then it is taken as lost (``refetch_given_up``). 0: taken as lost at once."""
    answer_timeout_ms: Annotated[int, msgspec.Meta(ge=0, le=3_600_000)] = 5_000
    """An Enter Order with neither Accepted nor Rejected this long (ms) while the session stays up is in doubt: the
    strategy gets OrderAccepted at the order's own size and price (it may be live at the venue) and a Cancel by its
    UserRefNum goes out, so the venue says what became of it (docs/venues/ouch.md). 0: no limit."""
    state_dir: Annotated[str, msgspec.Meta(min_length=1)] = "var/ouch"
    """Directory of the UserRefNum state file (must survive restarts)."""
    user_ref_num_block: Annotated[int, msgspec.Meta(ge=MIN_BLOCK, le=MAX_BLOCK)] = DEFAULT_BLOCK
    """UserRefNums reserved per write of the state file (1,000..10,000,000; default 100,000): the next block is
    written in the background once half of this one is used, so half a block must outlast a write of the disk
    at the peak order rate; a restart skips at most the unused rest (under two blocks)."""
    timezone: str = DEFAULT_TIMEZONE
    """Time zone whose calendar day is the trading day (decides when UserRefNums restart at 1)."""
    firm: Annotated[str, msgspec.Meta(max_length=4, pattern=r"^[A-Z]*$")] = ""
    """Firm (MPID) sent as the Firm option on Enter Order; blank = the account's default firm."""
    capacity: Literal["A", "P", "R", "O"] = "A"
    """A agency, P principal, R riskless principal, O other."""
    display: Literal["Y", "N", "A"] = "Y"
    """Y visible, N hidden, A attributable."""
    intermarket_sweep: bool = False
    shares_located: bool = False
    """SharesLocated (Y/N) sent on short sales (sides T and E), on Enter and on every Replace."""
    locate_broker: Annotated[str, msgspec.Meta(max_length=4, pattern=_PRINTABLE)] = ""
    """LocateBroker sent with SharesLocated on short sales; blank = not sent."""

    def __post_init__(self) -> None:
        """Check the rules that span fields."""
        if self.reconnect_max_ms < self.reconnect_initial_ms:
            raise ValueError("reconnect_max_ms must be at least reconnect_initial_ms")
        if self.server_timeout_ms <= SOUP_HEARTBEAT_MS:
            raise ValueError(
                _at(
                    "server_timeout_ms",
                    f"server_timeout_ms {self.server_timeout_ms} must be above {SOUP_HEARTBEAT_MS}: a SoupBinTCP "
                    "server sends its heartbeat only when it has sent nothing for more than 1 second, so the session "
                    "would be dropped whenever the venue is quiet",
                )
            )
        if self.server_timeout_ms <= self.heartbeat_interval_ms:
            raise ValueError("server_timeout_ms must be longer than heartbeat_interval_ms")
        if self.soupbin_version == "3.00" and self.heartbeat_interval_ms >= SOUP_SILENT_CLIENT_MS:
            raise ValueError(
                _at(
                    "heartbeat_interval_ms",
                    f"heartbeat_interval_ms {self.heartbeat_interval_ms} must be below {SOUP_SILENT_CLIENT_MS}: "
                    "SoupBinTCP 3.00 wants a client heartbeat whenever the client has sent nothing for more than 1 "
                    "second, and a server closes a client silent for typically 15 seconds (use 1000)",
                )
            )
        if self.soupbin_version == "4.10" and self.client_heartbeat_timeout_ms <= self.heartbeat_interval_ms:
            raise ValueError(
                "client_heartbeat_timeout_ms must be longer than heartbeat_interval_ms: "
                "the venue closes the session when we send nothing for that long"
            )
        if self.timezone.upper() != "UTC":
            try:
                zoneinfo.ZoneInfo(self.timezone)
            except (ValueError, zoneinfo.ZoneInfoNotFoundError):
                raise ValueError(f"unknown time zone {self.timezone!r}") from None

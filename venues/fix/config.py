"""Configuration of one FIX venue (frozen, unknown fields refused) and the factory the core calls."""

from __future__ import annotations

import enum
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import msgspec

from model.clock import NowNs
from model.fsync import FsyncPolicy
from venues.fix.clordid import starts_path
from venues.fix.dialect import Dialect, load_dialect
from venues.fix.session.backoff import ReconnectBackoff
from venues.fix.session.config import SessionConfig
from venues.fix.session.schedule import SessionSchedule
from venues.fix.store import FileStore, MemoryStore, MessageStore

if TYPE_CHECKING:
    from venues.fix.adapter import FixVenue

CompId = Annotated[str, msgspec.Meta(max_length=32, pattern=r"^[\x21-\x7e]*$")]


class StoreKind(enum.StrEnum):
    """Which message store backend holds the session's sequence numbers and messages."""

    FILE = "file"
    MEMORY = "memory"


class FixVenueConfig(
    msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True, tag_field="protocol", tag="fix"
):
    """One FIX venue session as configured by ops."""

    name: Annotated[str, msgspec.Meta(min_length=1, max_length=32)]
    host: str
    port: Annotated[int, msgspec.Meta(ge=1, le=65_535)]
    dialect: str
    """Dialect name (looked up in ``dialect_dirs`` then ``deploy/fix/dialects``) or a YAML path."""
    dialect_dirs: list[str] = []
    sender_comp_id: CompId = ""
    """SenderCompID; empty takes the dialect's."""
    target_comp_id: CompId = ""
    """TargetCompID; empty takes the dialect's."""
    username: str = ""
    password: str = ""
    password_env: str = ""
    """Name of an environment variable holding the password (keeps it out of config files)."""
    heartbeat_interval_s: Annotated[int, msgspec.Meta(ge=1, le=300)] = 30
    test_request_grace: Annotated[float, msgspec.Meta(ge=0.0, le=5.0)] = 0.2
    logon_timeout_s: Annotated[float, msgspec.Meta(gt=0)] = 10.0
    logout_timeout_s: Annotated[float, msgspec.Meta(gt=0)] = 2.0
    resend_timeout_s: Annotated[float, msgspec.Meta(ge=0, le=3600)] = 0.0
    """A sequence gap that makes no progress for this long is asked for again (0 = the heartbeat interval)."""
    max_resend_attempts: Annotated[int, msgspec.Meta(ge=0, le=1000)] = 5
    """ResendRequests for one gap without progress before logging out to reconnect (0 = ask for ever)."""
    max_body_length: Annotated[int, msgspec.Meta(ge=4096, le=16 * 1024 * 1024)] = 64 * 1024
    """Largest BodyLength (bytes) taken from the venue; a message above it is skipped (docs/venues/fix.md)."""
    store: StoreKind = StoreKind.FILE
    store_dir: str = "var/fix"
    fsync: FsyncPolicy = FsyncPolicy.INTERVAL
    fsync_interval_ms: Annotated[int, msgspec.Meta(ge=1)] = 100
    schedule: SessionSchedule | None = None
    """Session hours and daily sequence reset; None = always open, never reset by time."""
    reconnect: ReconnectBackoff = ReconnectBackoff()
    strict: bool = False
    """Validate every outgoing message with the quickfix DataDictionary (needs the 'fix' extra)."""

    def store_path(self, dialect: Dialect) -> Path:
        """Return the file holding this session's store."""
        sender, target = self.comp_ids(dialect)
        return Path(self.store_dir) / f"{dialect.begin_string.value}-{sender}-{target}.fixstore"

    def comp_ids(self, dialect: Dialect) -> tuple[str, str]:
        """Return (SenderCompID, TargetCompID), config first, dialect defaults second."""
        return (self.sender_comp_id or dialect.sender_comp_id, self.target_comp_id or dialect.target_comp_id)

    def resolved_password(self) -> str:
        """Return the password, reading ``password_env`` when set."""
        if self.password_env:
            return os.environ.get(self.password_env, "")
        return self.password


def session_config(config: FixVenueConfig, dialect: Dialect) -> SessionConfig:
    """Build the session parameters from the venue config and its dialect."""
    sender, target = config.comp_ids(dialect)
    credentials = dialect.logon.send_credentials
    return SessionConfig(
        begin_string=dialect.begin_bytes,
        sender_comp_id=sender.encode(),
        target_comp_id=target.encode(),
        heartbeat_interval_s=config.heartbeat_interval_s,
        test_request_grace=config.test_request_grace,
        logon_timeout_ns=int(config.logon_timeout_s * 1e9),
        logout_timeout_ns=int(config.logout_timeout_s * 1e9),
        resend_timeout_ns=int(config.resend_timeout_s * 1e9),
        max_resend_attempts=config.max_resend_attempts,
        max_body_length=config.max_body_length,
        reset_seq_num_on_logon=dialect.logon.reset_seq_num_on_logon,
        username=config.username.encode() if credentials else b"",
        password=config.resolved_password().encode() if credentials else b"",
        logon_fields=tuple((tag.encode(), value.encode()) for tag, value in dialect.logon.fields.items()),
        replay_business=dialect.resend.replay_business,
        stale_after_ns=dialect.resend.stale_after_ms * 1_000_000,
        schedule=config.schedule,
    )


def open_store(config: FixVenueConfig, dialect: Dialect, wall_now_ns: int) -> MessageStore:
    """Open (or create) the session's store."""
    if config.store is StoreKind.MEMORY:
        return MemoryStore(wall_now_ns)
    return FileStore(
        config.store_path(dialect),
        fsync=config.fsync,
        fsync_interval_ns=config.fsync_interval_ms * 1_000_000,
        creation_time_ns=wall_now_ns,
    )


def build_fix_venue(config: FixVenueConfig, clock: NowNs) -> FixVenue:
    """Load the dialect, open the store and return the adapter (``DialectError`` on a bad dialect)."""
    from venues.fix.adapter import FixVenue  # noqa: PLC0415  (adapter imports this module)

    dialect = load_dialect(config.dialect, [Path(d) for d in config.dialect_dirs])
    wall_offset_ns = time.time_ns() - clock()
    try:
        store = open_store(config, dialect, clock() + wall_offset_ns)
        return FixVenue(
            config.name,
            dialect,
            session_config(config, dialect),
            store,
            clock,
            wall_offset_ns=wall_offset_ns,
            backoff=config.reconnect,
            strict=config.strict,
            starts_file=starts_path(config.store_dir, config.name),
        )
    except StoreOpenError:
        raise
    except OSError as exc:
        raise StoreOpenError(
            exc.errno or 0, f"venue {config.name} store_dir {config.store_dir}: {_reason(exc)}"
        ) from exc


class StoreOpenError(OSError):
    """The venue's store (or its starts file) could not be opened or written: names the venue and ``store_dir``."""

    def __str__(self) -> str:
        return str(self.strerror)


def _reason(exc: OSError) -> str:
    """Return ``exc``'s reason without its errno prefix (``No space left on device``), naming a file besides."""
    reason = exc.strerror or str(exc)
    return f"{reason} ({exc.filename})" if exc.filename else reason

"""The gateway's own configuration file (``deploy/gateway.yaml``).

Relative paths in the file are resolved against the directory of the file itself,
so a deployment directory can be moved as a whole. Unknown keys are errors: a
misspelt setting must never be silently ignored.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Final, Literal

import msgspec
import yaml

from gateway.entitlements import StrategyEntitlement
from gateway.ops.config import SpinConfig
from model.fsync import FsyncPolicy
from risk.limitsfile import KnownNames


class ConfigError(Exception):
    """The configuration file is missing, unreadable or invalid (the operator's to fix)."""


class JournalConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Where and how durably the order journal is written."""

    directory: str = "var/journal"
    """One file per gateway and session date: ``<gateway_id>-<YYYYMMDD>.journal``."""
    fsync: FsyncPolicy = FsyncPolicy.INTERVAL
    fsync_interval_ms: int = 10
    enabled: bool = True
    storage: Literal["mmap", "file"] = "mmap"
    """``mmap``: records copied into a memory-mapped, preallocated file (no system call per batch);
    ``file``: one ``write`` per batch, the format of earlier versions (both read either)."""


MIN_RELEASED_IDS: Final = 1_024
MAX_RELEASED_IDS: Final = 1 << 30
"""At most a 16 GiB table (2**31 slots)."""


class MemoryConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """What the gateway keeps in memory (the journal keeps everything; see docs/performance.md, memory)."""

    terminal_orders_kept: Annotated[int, msgspec.Meta(ge=0)] = 10_000
    """Most recent terminal orders kept in memory; older ones are released (their cl_ord_id stays a duplicate)."""
    events_kept: Annotated[int, msgspec.Meta(ge=0)] = 10_000
    """Most recent events kept in memory per strategy; a reconnect that needs older ones reads the journal."""
    replay_read: Literal["loop", "thread"] = "loop"
    """Where a replay older than ``events_kept`` is read from the journal: in slices on the event loop, or in a
    worker thread that yields the interpreter between slices (docs/reliability.md, replay from the journal)."""
    malloc_mmap_threshold: Annotated[int, msgspec.Meta(ge=0)] = 1 << 20
    """Blocks of at least this many bytes are returned to the kernel when freed (glibc; 0 = its default)."""
    released_ids_capacity: int = 1_048_576
    """Released orders' cl_ord_ids (all strategies) the duplicate table holds without growing: 8 bytes a slot,
    a power of two of slots at most 70 % full, allocated and touched at start-up (1,048,576 -> 16 MiB; it holds
    1,468,006). Past it the table doubles on the event loop with a WARNING; size it for the day's orders."""

    def __post_init__(self) -> None:
        capacity = self.released_ids_capacity
        if not MIN_RELEASED_IDS <= capacity <= MAX_RELEASED_IDS:
            raise ValueError(
                f"released_ids_capacity must be {MIN_RELEASED_IDS:,} to {MAX_RELEASED_IDS:,} ids (the day's orders, "
                f"all strategies; 8 bytes a slot, 70 % full, allocated at start), got {capacity:,}"
            )


class GatewayConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Everything ``gateway run`` needs."""

    gateway_id: str = "gateway"
    strategy_socket: str = "var/run/strategies.sock"
    strategy_socket_mode: int = 0o660
    admin_socket: str = "var/run/admin.sock"
    state_dir: str = "var/state"
    loop: Literal["uvloop", "asyncio"] = "uvloop"
    risk_limits: str = "risk/limits.yaml"
    risk_audit_log: str = "var/audit/risk-audit.jsonl"
    journal: JournalConfig = JournalConfig()
    memory: MemoryConfig = MemoryConfig()
    strategies: dict[str, StrategyEntitlement] = {}
    venues: list[dict[str, Any]] = []
    """One mapping per venue session; ``protocol`` (ouch, fix) selects its schema."""
    spin: SpinConfig = SpinConfig()
    """Latency tuning: loop spin, busy poll, CPU affinity, GC policy (see docs/ops-guide.md)."""
    max_strategy_write_buffer: int = 8 * 1024 * 1024
    """Bytes of events waiting unread for one strategy before it is cut off as a slow consumer."""
    strategy_hello_timeout_ms: Annotated[int, msgspec.Meta(ge=1)] = 3_000
    """A strategy's Hello must arrive this long after it connects (absolute: bytes before it do not count)."""
    strategy_frame_timeout_ms: Annotated[int, msgspec.Meta(ge=1)] = 1_000
    """A strategy's frame must be complete this long after its first byte arrives."""
    reconnect_grace_s: float = 30.0
    """After a restart, how long a strategy with open orders and policy ``cancel`` has to reconnect
    before its orders are canceled as if it had disconnected (0 = at once)."""
    base_dir: str = ""
    """Directory relative paths are resolved against (set by ``load_config``)."""
    config_file: str = ""
    """The file this config was read from, for messages (set by ``load_config``)."""

    def risk_names(self) -> KnownNames:
        """Return the strategies this gateway runs and their accounts, to check the risk limits' names."""
        return KnownNames.of(
            {name: entitlement.accounts for name, entitlement in self.strategies.items()},
            self.config_file or "the gateway config",
        )

    def path(self, value: str) -> Path:
        """Resolve a path from the config against ``base_dir``."""
        candidate = Path(value).expanduser()
        if candidate.is_absolute() or not self.base_dir:
            return candidate
        return Path(self.base_dir) / candidate


def resolve_venue_paths(config: GatewayConfig, raw: dict[str, Any]) -> dict[str, Any]:
    """Resolve a venue section's ``*_dir``/``*_path`` settings against the config's directory."""
    return {
        key: str(config.path(value)) if isinstance(value, str) and key.endswith(("_dir", "_path")) else value
        for key, value in raw.items()
    }


def load_config(path: str | Path) -> GatewayConfig:
    """Read, validate and return the config; raise ConfigError with the location of any problem."""
    config_path = Path(path)
    try:
        text = config_path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read config {config_path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{config_path}: not UTF-8 text (byte {exc.start}: {exc.object[exc.start]:#04x})") from exc
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{config_path}: not valid YAML: {exc}") from exc
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{config_path}: expected a mapping at the top level")
    raw.setdefault("base_dir", str(config_path.resolve().parent))
    raw.setdefault("config_file", str(config_path))
    try:
        config = msgspec.convert(raw, GatewayConfig)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"{config_path}: {exc}") from exc
    for index, venue in enumerate(config.venues):
        if not isinstance(venue.get("protocol"), str):
            raise ConfigError(f"{config_path}: venues[{index}] needs a 'protocol' (ouch or fix)")
    return config

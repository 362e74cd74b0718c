"""The gateway's own configuration file (``deploy/gateway.yaml``).

Relative paths in the file are resolved against the directory of the file itself,
so a deployment directory can be moved as a whole. Unknown keys are errors: a
misspelt setting must never be silently ignored.
"""

from __future__ import annotations

import re
import types
import typing
from pathlib import Path
from typing import Annotated, Any, Final, Literal

import msgspec
import yaml
from yaml.nodes import MappingNode, Node, SequenceNode

from gateway.entitlements import StrategyEntitlement
from gateway.ops.config import SpinConfig
from model.fsync import FsyncPolicy
from risk.limitsfile import KnownNames
from risk.loader import Problem, describe_yaml_error, format_path
from venues.registry import PROTOCOLS, VenueConfigError, decode_venue_config


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
    timezone: str = "auto"
    """The time zone whose date names the journal (its trading day, ``gateway.trading_day``): ``auto`` (the venues'
    shared trading-day time zone, else the host's), ``local`` (the host's: every version before day55), ``UTC`` or
    an IANA name. A start while a venue's trading day is not the journal's is refused (docs/ops-guide.md)."""

    def __post_init__(self) -> None:
        from gateway.trading_day import check_zone  # noqa: PLC0415 - zoneinfo only when a config is read

        check_zone(self.timezone)


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


DEFAULT_MAX_STRATEGY_WRITE_BUFFER: Final = 8 * 1024 * 1024
"""Bytes of unread events one strategy may have queued before it is cut off (the one definition of the default)."""
MIN_STRATEGY_WRITE_BUFFER: Final = 64 * 1024
"""The smallest ``max_strategy_write_buffer`` a config may set: the answers of one slice of a read (4 KiB of
requests; 4 KiB of 16-byte Cancels is 17,664 bytes of ``CancelRejected``) must fit under it on top of the
back-pressure high mark (a quarter of it), or a strategy that keeps reading is cut ``SLOW_CONSUMER`` (16 KiB was)."""


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
    max_strategy_write_buffer: Annotated[int, msgspec.Meta(ge=MIN_STRATEGY_WRITE_BUFFER)] = (
        DEFAULT_MAX_STRATEGY_WRITE_BUFFER
    )
    """Bytes of events waiting unread for one strategy before it is cut off as a slow consumer (at least
    ``MIN_STRATEGY_WRITE_BUFFER``, 64 KiB)."""
    strategy_hello_timeout_ms: Annotated[int, msgspec.Meta(ge=1)] = 3_000
    """A strategy's Hello must arrive this long after it connects (absolute: bytes before it do not count)."""
    strategy_max_pending_hello: Annotated[int, msgspec.Meta(ge=1)] = 64
    """Connections that have not sent Hello held at most (and at most a quarter of the descriptor limit): past it
    the oldest gets a fatal ``Error(TOO_MANY_CONNECTIONS)`` and is closed."""
    strategy_frame_timeout_ms: Annotated[int, msgspec.Meta(ge=1)] = 1_000
    """A strategy's frame must be complete this long after its first byte arrives."""
    reconnect_grace_s: float = 30.0
    """After a restart, how long a strategy with open orders and policy ``cancel`` has to reconnect
    before its orders are canceled as if it had disconnected (0 = at once)."""
    stop_cancel_timeout_s: Annotated[float, msgspec.Meta(ge=0, le=20)] = 5.0
    """On a stop (SIGTERM, SIGINT), how long to wait for the venues to answer the cancels of the open orders
    of ``cancel`` strategies before ending the venue sessions (0 = send them, do not wait). Keep it below the
    systemd unit's ``TimeoutStopSec``."""
    base_dir: str = ""
    """Directory relative paths are resolved against (set by ``load_config``)."""
    config_file: str = ""
    """The file this config was read from, for messages (set by ``load_config``)."""

    def risk_names(self) -> KnownNames:
        """Return the strategies this gateway runs and their accounts, to check the risk limits' names."""
        return KnownNames.of(
            {name: entitlement.accounts for name, entitlement in self.strategies.items()},
            str(Path(self.config_file).absolute()) if self.config_file else "the gateway config",
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
    except yaml.MarkedYAMLError as exc:
        line, column, message = describe_yaml_error(exc)
        raise ConfigError(str(Problem(str(config_path), line, column, "", message))) from exc
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
        raise ConfigError(locate_error(str(config_path), text, raw, str(exc))) from exc
    for index, venue in enumerate(config.venues):
        if not isinstance(venue.get("protocol"), str):
            problem = f"needs a 'protocol' (one of {', '.join(sorted(PROTOCOLS))}) - at `$.venues[{index}]`"
            raise ConfigError(locate_error(str(config_path), text, raw, problem))
    return config


_AT: Final = re.compile(r"^(?P<message>.*) - at `\$(?P<path>[^`]*)`$", re.DOTALL)
_SEGMENT: Final = re.compile(r"\.(?P<field>[^.\[]+)|\[(?P<index>\d+|\.\.\.)\]")
_UNKNOWN_FIELD: Final = re.compile(r"^Object contains unknown field `(?P<field>[^`]+)`$")


def decode_venues(config: GatewayConfig) -> list[Any]:
    """Decode every ``venues:`` entry with its paths resolved; raise ConfigError at the offending line.

    The message is ``file:line:column: venues[1].port: Expected `int`, got `str```, the form of
    every other config error; the venue's name follows the index when the entry has one.
    """
    decoded = []
    for index, raw in enumerate(config.venues):
        try:
            decoded.append(decode_venue_config(resolve_venue_paths(config, raw), venue_label(raw, index)))
        except VenueConfigError as exc:
            raise ConfigError(locate_venue_error(config, index, exc)) from exc
    return decoded


def venue_label(raw: dict[str, Any], index: int) -> str:
    """Return ``venues[1]``, or ``venues[1] (name)`` when the entry names itself."""
    name = raw.get("name")
    return f"venues[{index}] ({name})" if isinstance(name, str) and name else f"venues[{index}]"


def locate_venue_error(config: GatewayConfig, index: int, error: VenueConfigError) -> str:
    """Return ``error`` placed at its line in the config file (its own text when it cannot be placed)."""
    file = config.config_file
    if not error.detail or error.config_type is None or not file:
        return f"{file}: {error}" if file else str(error)
    try:
        text = Path(file).read_text()
    except (OSError, UnicodeDecodeError):
        return f"{file}: {error}"
    raw = config.venues[index]
    located = locate_error(file, text, raw, error.detail, kind=error.config_type, prefix=("venues", index))
    name = raw.get("name")
    return f"{located} (venue {name})" if isinstance(name, str) and name else located


def locate_error(
    file: str,
    text: str,
    raw: dict[str, Any],
    error: str,
    kind: Any = None,
    prefix: tuple[str | int, ...] = (),
) -> str:
    """Return msgspec's ``error`` as ``file:line:column: path: message``, the form of the risk files' errors.

    msgspec says ``Expected `int`, got `str` - at `$.spin.loop_spin_us```: the path is looked up
    in the YAML node tree (``yaml.compose`` keeps each node's position). An entry of a mapping
    msgspec names ``[...]`` is found by converting each entry until one fails; an unknown field is
    located at its own key. What cannot be located keeps the nearest ancestor's position.
    ``raw`` was converted to ``kind`` (the whole file's ``GatewayConfig`` unless given) and sits at
    ``prefix`` in the file: a venue entry is ``("venues", 1)``.
    """
    found = _AT.match(error)
    message = found["message"] if found is not None else error  # a top-level problem has no path
    inner = _concrete_path(raw, _parse_path(found["path"]), kind) if found is not None else ()
    path = prefix + inner
    unknown = _UNKNOWN_FIELD.match(message)
    try:
        root = yaml.compose(text)
    except yaml.YAMLError:
        root = None
    line, column = (0, 0)
    if root is not None:
        line, column = _position(root, path, unknown["field"] if unknown is not None else None)
    return str(Problem(file, line, column, format_path(path), message))


def _parse_path(text: str) -> list[str | int | None]:
    """Return msgspec's ``.spin.cpu[1]`` as segments (``None``: an unnamed mapping entry, ``[...]``)."""
    segments: list[str | int | None] = []
    for match in _SEGMENT.finditer(text):
        if match["field"] is not None:
            segments.append(match["field"])
        else:
            segments.append(None if match["index"] == "..." else int(match["index"]))
    return segments


def _concrete_path(raw: Any, segments: list[str | int | None], kind: Any = None) -> tuple[str | int, ...]:
    """Resolve the ``[...]`` entries of ``segments`` against the data: the first entry that does not convert."""
    path: list[str | int] = []
    value: Any = raw
    kind = GatewayConfig if kind is None else kind
    for segment in segments:
        kind = _element_type(kind, segment)
        step = segment
        if step is None:
            if not isinstance(value, dict):
                break
            step = next((key for key, item in value.items() if not _converts(item, kind)), None)
            if step is None:
                break
        path.append(step)
        try:
            value = value[step]
        except (KeyError, IndexError, TypeError):
            break
    return tuple(path)


def _element_type(kind: Any, segment: str | int | None) -> Any:
    """Return the type of ``kind``'s field or element ``segment`` (``Any`` when unknown)."""
    while typing.get_origin(kind) is Annotated:
        kind = typing.get_args(kind)[0]
    if typing.get_origin(kind) in (typing.Union, types.UnionType):
        options = [arg for arg in typing.get_args(kind) if arg is not type(None)]
        kind = options[0] if len(options) == 1 else Any
    if isinstance(kind, type) and issubclass(kind, msgspec.Struct) and isinstance(segment, str):
        return typing.get_type_hints(kind, include_extras=True).get(segment, Any)
    args = typing.get_args(kind)
    if typing.get_origin(kind) is dict and len(args) == 2:
        return args[1]
    if typing.get_origin(kind) in (list, tuple) and args:
        return args[0]
    return Any


def _converts(value: Any, kind: Any) -> bool:
    try:
        msgspec.convert(value, kind)
    except (msgspec.ValidationError, TypeError):
        return False
    return True


def _position(root: Node, path: tuple[str | int, ...], unknown_key: str | None) -> tuple[int, int]:
    """Return the 1-based (line, column) of ``path``'s node, or of its nearest ancestor in the tree.

    With ``unknown_key`` (msgspec's "unknown field"), the position of that key in ``path``'s mapping.
    """
    node = root
    for segment in path:
        child: Node | None = None
        if isinstance(node, MappingNode) and isinstance(segment, str):
            child = next((value for key, value in node.value if key.value == segment), None)
        elif isinstance(node, SequenceNode) and isinstance(segment, int) and segment < len(node.value):
            child = node.value[segment]
        if child is None:
            return node.start_mark.line + 1, node.start_mark.column + 1
        node = child
    if unknown_key is not None and isinstance(node, MappingNode):
        node = next((key for key, _ in node.value if key.value == unknown_key), node)
    return node.start_mark.line + 1, node.start_mark.column + 1

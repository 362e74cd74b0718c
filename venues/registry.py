"""Map a venue's ``protocol`` to its config schema and adapter factory."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

import msgspec

from model.clock import NowNs
from venues.base import VenueAdapter


@dataclass(frozen=True)
class VenueProtocol:
    """Where one protocol's config struct and adapter factory live."""

    config_module: str
    config_class: str
    factory_module: str
    factory: str


PROTOCOLS: dict[str, VenueProtocol] = {
    "ouch": VenueProtocol("venues.ouch.config", "OuchVenueConfig", "venues.ouch.adapter", "build_ouch_venue"),
    "fix": VenueProtocol("venues.fix.config", "FixVenueConfig", "venues.fix.config", "build_fix_venue"),
    "boe": VenueProtocol("venues.boe.config", "BoeVenueConfig", "venues.boe.adapter", "build_boe_venue"),
}


class VenueConfigError(Exception):
    """A venue section of the config is invalid.

    ``detail`` is msgspec's own message (``... - at `$.port```) and ``config_type`` the schema it
    was checked against, so that the caller holding the file can point at the line.
    """

    def __init__(self, message: str, detail: str = "", config_type: type | None = None) -> None:
        super().__init__(message)
        self.detail = detail
        self.config_type = config_type


def decode_venue_config(raw: dict[str, Any], where: str) -> Any:
    """Validate one ``venues:`` entry against its protocol's schema."""
    protocol = raw.get("protocol")
    spec = PROTOCOLS.get(protocol) if isinstance(protocol, str) else None
    if spec is None:
        problem = f"unknown protocol {protocol!r}; expected one of {sorted(PROTOCOLS)}"
        raise VenueConfigError(f"{where}: {problem}", f"{problem} - at `$.protocol`", dict)
    config_type = getattr(importlib.import_module(spec.config_module), spec.config_class)
    try:
        return msgspec.convert(raw, config_type)
    except msgspec.ValidationError as exc:
        raise VenueConfigError(f"{where}: {exc}", str(exc), config_type) from exc


def build_venue(config: Any, clock: NowNs) -> VenueAdapter:
    """Create the adapter for a decoded venue config."""
    spec = PROTOCOLS[config.protocol if hasattr(config, "protocol") else type(config).__struct_config__.tag]
    factory = getattr(importlib.import_module(spec.factory_module), spec.factory)
    adapter: VenueAdapter = factory(config, clock)
    return adapter

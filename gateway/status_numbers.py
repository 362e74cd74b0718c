"""Status sections sent as a tagged tuple of plain numbers and worded into their dict in the reading process.

A status provider whose values change per order or per request (the released-id table's count, the admin
connections open) cannot be published by its owner when it changes (``gateway.status_published``): that would be
work per order. Building its section per request costs the event loop a dict, a nested dict and the encoding of
every key's text (stop 60: 3-6 us each on this VM, cold). Instead the provider returns ``(tag, value, ...)``: its
numbers read as they are, in the order of ``SECTIONS[tag]``; the snapshot encodes that tuple (a few bytes per
number) and the reader (``gateway.snapshot.word_live_sections``) builds the section with ``word_numbers``. The
gateway's own document (``GatewayProcess.status``) words the same tuple, so both say the same, key order included.

Append a section's key at its end only together with the provider's tuple; a reader of another version refuses an
unknown tag (``word_live_sections``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

JOURNAL_LOOKUPS: Final = "journal_lookups"
JOURNAL_REPLAYS: Final = "journal_replays"
DESCRIPTORS: Final = "descriptors"
ADMIN_CONNECTIONS: Final = "admin_connections"
MEMORY: Final = "memory"

SECTIONS: Final[dict[str, tuple[str, ...]]] = {
    JOURNAL_LOOKUPS: (
        "ref_lookups",
        "ref_lookups_found",
        "ref_lookup_records",
        "ref_lookup_failures",
        "order_rebuilds",
        "order_rebuild_records",
        "order_rebuild_failures",
    ),
    JOURNAL_REPLAYS: ("in_progress", "started", "finished", "failed", "cancelled", "steps"),
    DESCRIPTORS: ("open", "peak", "limit", "pending_hello", "max_pending_hello"),
    ADMIN_CONNECTIONS: (
        "open",
        "closing",
        "max",
        "idle_timeout_s",
        "request_timeout_s",
        "closed_idle",
        "closed_past_max",
        "closed_request_timeout",
        "closed_unread",
    ),
    MEMORY: ("capacity", "used", "slots", "bytes", "grown"),  # shown as memory.released_ids
}
"""Per tag (the section's name): the section's keys, in the order of the tuple's numbers after the tag."""


def word_numbers(raw: Sequence[Any] | dict[str, Any]) -> dict[str, Any]:
    """Return the status section(s) of a provider's tagged tuple (a dict, a provider without the section, as is)."""
    if isinstance(raw, dict):
        return raw
    tag = raw[0]
    keys = SECTIONS[tag]
    if len(raw) != len(keys) + 1:
        raise ValueError(
            f"status section {tag!r} with {len(raw) - 1} numbers, not {len(keys)}: run the gateway's version"
        )
    section = dict(zip(keys, raw[1:], strict=True))
    if tag == MEMORY:
        return {MEMORY: {"released_ids": section}}
    return {tag: section}

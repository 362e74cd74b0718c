"""Status sections their owner publishes when they change, so that a ``status`` request does not build them.

A status provider (``GatewayProcess.add_status_provider``) is called by every ``status`` request: on a host
where the order path evicts the caches between two requests, each provider costs the event loop a few cold
microseconds whatever it holds (stop 60: the eight providers were ~50 us of a ~170 us request). A section
whose values only change at its owner's own events (the disk watch's 5 s sample) is better built there:
the owner calls ``publish`` with the section after each such event, which encodes it only when it differs
from the last one, and the snapshot (``gateway.snapshot.SnapshotWriter``) takes the encoded bytes as they are
(``parts``: a ``msgspec.Raw``, decoded by the reader like any other live section). Nothing is built, read or
encoded per request.

A published section is only right if every change of what it shows goes through ``publish``: keep it for
sections with one owner that changes them at a few known places (never per order, never per request).
"""

from __future__ import annotations

from typing import Any, Final

import msgspec

NO_SECTIONS: Final[dict[str, Any]] = {}
"""The part a provider without sections that change rarely gives (one object: the snapshot compares by identity)."""

_encode: Final = msgspec.msgpack.Encoder(enc_hook=str).encode
"""As the snapshot encodes its live part (``gateway.snapshot``)."""


class PublishedSections:
    """The status sections an owner published last, and their MessagePack bytes (see the module)."""

    __slots__ = ("_parts", "sections")

    def __init__(self, sections: dict[str, Any] | None = None) -> None:
        self.sections: dict[str, Any] = {}
        """What the owner published last (the same object until it publishes something different)."""
        self._parts: tuple[dict[str, Any], msgspec.Raw] = (NO_SECTIONS, msgspec.Raw(_encode(self.sections)))
        if sections is not None:
            self.publish(sections)

    def publish(self, sections: dict[str, Any]) -> bool:
        """Take ``sections`` as the ones to show; encode them only when they differ from the last (return True)."""
        if sections == self.sections:
            return False
        self._parts = (NO_SECTIONS, msgspec.Raw(_encode(sections)))
        self.sections = sections
        return True

    def parts(self) -> tuple[dict[str, Any], msgspec.Raw]:
        """Return the sections as a status provider's parts: none that change rarely, the live ones encoded."""
        return self._parts

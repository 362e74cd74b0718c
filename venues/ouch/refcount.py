"""The numbers of a ``UserRefNumStore`` that the OUCH adapter reads per order, in a class of their own.

``UserRefNumStore`` is interpreted (a thread, a msgspec Struct, file I/O), so each read of one of
its attributes from compiled code is a generic lookup. This module is compiled (``obs.native``):
``RefCounter`` is then a native class, and the adapter's ``send_order`` / ``check_new``, which hold
the store's counter, read and write these fields natively. The store keeps using them as its own
state (``venues.ouch.refstore``), from the event loop and from its prefetch thread.
"""

from __future__ import annotations


class RefCounter:
    """Where a UserRefNum store's numbering stands: the next number, the end of the reserved block."""

    def __init__(self) -> None:
        self.next = 1
        """The next UserRefNum to hand out."""
        self.reserved = 0
        """The highest number the state file allows (the end of the current block)."""
        self.prefetch_at = 0
        """Handing out this number starts the background reservation of the next block (0: none due).

        Set only by the event loop (the store posts reservations from it), never by the background writer."""
        self.error: str | None = None
        """Why the last write of the state file failed (None when the file is current)."""

    def __repr__(self) -> str:
        return (
            f"RefCounter(next={self.next}, reserved={self.reserved}, prefetch_at={self.prefetch_at}, "
            f"error={self.error!r})"
        )

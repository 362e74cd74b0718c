"""When a file is forced to stable storage: one policy for the order journal and the FIX message store."""

from __future__ import annotations

import enum


class FsyncPolicy(enum.StrEnum):
    """When written data is fdatasync'ed (``journal.fsync`` in gateway.yaml, ``fsync`` of a FIX venue).

    ``never`` and ``always``, the FIX store's former spellings, still load as ``none`` and ``batch``.
    """

    NONE = "none"
    """Leave it to the kernel's writeback: survives a killed process, not a machine crash."""
    INTERVAL = "interval"
    """fdatasync from a background thread at most every interval: a power failure loses at most that window."""
    BATCH = "batch"
    """fdatasync before the data may leave the gateway: the journal once per batch, before the batch's
    bytes reach any socket; the FIX store after every record (survives power loss)."""

    @classmethod
    def _missing_(cls, value: object) -> FsyncPolicy | None:
        """Map the former spellings ``never`` and ``always`` to their policies."""
        return _ALIASES.get(value) if isinstance(value, str) else None


_ALIASES = {"never": FsyncPolicy.NONE, "always": FsyncPolicy.BATCH}

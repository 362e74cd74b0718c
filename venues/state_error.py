"""The error a venue raises at start-up when a state file it keeps cannot be read or trusted."""

from __future__ import annotations


class VenueStateError(Exception):
    """A venue's state file exists but cannot be read or trusted: the venue, so the gateway, does not start.

    The message names the file and what the operator should do (``gateway run`` logs it as one "failed to start"
    line and exits 1).
    """

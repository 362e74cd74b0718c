"""Login credentials and timers of a SoupBinTCP client (kept out of the compiled ``soup_client``).

mypyc drops the class keywords of a ``msgspec.Struct`` subclass (``gc=False``, ``frozen=True``, ...), so the
Structs of a compiled module live in an interpreted sibling like this one (see ``obs.native``).
"""

from __future__ import annotations

from typing import Final

import msgspec

from venues.ouch.soupbin import VERSION_3_00

MS: Final = 1_000_000


class SoupClientConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Login credentials and timers of a SoupBinTCP client."""

    username: str
    password: str
    session: str = ""
    """Session to join; blank = the server's current session."""
    version: str = VERSION_3_00
    """Login Request layout: "3.00" (46-byte payload) or "4.10" (51 bytes, with heartbeat timeout)."""
    heartbeat_interval_ns: int = 1_000 * MS
    """Send a Client Heartbeat after this long without sending anything."""
    server_timeout_ns: int = 5_000 * MS
    """Drop the connection after this long without any byte from the server (also bounds the login)."""
    heartbeat_timeout_ms: int = 15_000
    """Value of the 4.10 Heartbeat Timeout field: how long the server may wait for us."""
    reconnect_initial_ns: int = 100 * MS
    reconnect_max_ns: int = 10_000 * MS
    max_login_refusals: int = 3
    """Stop reconnecting after this many Login Rejected ``A`` (not authorized) in a row; 0 = never stop."""
    max_refetches: int = 3
    """Log in again at most this many times in a row asking for the same sequenced packet that could not be read
    (wrong length for its type, unknown type, the stream out of frame); then it is taken as lost."""
    first_sequence: int = 1
    """Sequence number requested on the first login (1 = everything since the start of the session)."""

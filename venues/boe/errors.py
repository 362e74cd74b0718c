"""The one result type every BOE decoder returns for bad bytes (never an exception)."""

from __future__ import annotations

from typing import Final

import msgspec

TRUNCATED: Final = "truncated"
"""Fewer bytes than the message's fixed part, its bitfields or its optional fields need."""
BAD_LENGTH: Final = "length"
"""MessageLength disagrees with the layout (fixed part + bitfields + present optional fields)."""
BAD_FRAME: Final = "frame"
"""StartOfMessage is not ``BA BA`` or MessageLength is below the 8-byte minimum: the stream is out of sync."""
UNKNOWN_TYPE: Final = "type"
"""A MessageType not defined for this direction."""
BAD_BITFIELD: Final = "bitfield"
"""A bitfield sets a bit we do not know the field of (so the following fields cannot be located)."""
OUT_OF_RANGE: Final = "range"
"""A quantity or price the venue may send but the gateway cannot carry (docs/strategy-protocol.md, section 2)."""
BAD_GROUP: Final = "group"
"""A Login Request / Response parameter group is malformed (length below its minimum or past the end)."""


class DecodeError(msgspec.Struct, frozen=True, gc=False):
    """Why a peer's bytes could not be decoded (the peer's fault, never ours).

    Decoders return this instead of raising; callers count and log it and carry on.
    """

    kind: str
    text: str

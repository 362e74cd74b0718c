"""The one result type every OUCH/SoupBinTCP decoder returns for bad bytes."""

from __future__ import annotations

from typing import Final, final

import msgspec

TRUNCATED: Final = "truncated"
"""Fewer bytes than the fixed part of the message or packet."""
BAD_LENGTH: Final = "length"
"""The length does not match the layout (fixed part + Appendage Length)."""
UNKNOWN_TYPE: Final = "type"
"""A type byte not defined for this direction."""
BAD_ENUM: Final = "enum"
"""A code field holds a value outside its enumeration."""
BAD_NUMBER: Final = "number"
"""An ASCII numeric field holds something other than digits and spaces."""
OUT_OF_RANGE: Final = "range"
"""A quantity or price the venue may send but the gateway cannot carry (docs/strategy-protocol.md, section 2)."""
BAD_APPENDAGE: Final = "appendage"
"""The TagValue appendage is malformed (short element, wrong option size, repeated tag)."""


@final  # no subclass: ``type(result) is not DecodeError`` narrows a decoder's result (no isinstance call)
class DecodeError(msgspec.Struct, frozen=True, gc=False):
    """Why a peer's bytes could not be decoded (the peer's fault, never ours).

    Decoders return this instead of raising; callers count and log it and carry on.
    """

    kind: str
    text: str

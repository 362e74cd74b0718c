"""A strategy request answered without being carried out (a msgspec Struct: kept out of the compiled session).

mypyc drops the class keywords of a ``msgspec.Struct`` subclass (``gc=False``, ``frozen=True``, ...), so the
Structs of a compiled module live in an interpreted sibling like this one (see ``obs.native``).
"""

from __future__ import annotations

import msgspec


class InvalidRequest(msgspec.Struct, frozen=True, gc=False):
    """A request that is answered without being carried out.

    ``kind`` is NewOrder, Cancel, Replace or MassCancel; ``cl_ord_id`` is the order's id (a
    MassCancel's ``request_id``, possibly empty). ``code`` is ``INVALID_FIELD`` for a request
    that breaks a field rule, ``TOO_MANY_ERRORS`` for one read after the error budget ran out.
    """

    kind: str
    cl_ord_id: str
    text: str
    code: str = "INVALID_FIELD"
    req_seq: int = 0
    """(Version 3) The request's number if it could be read (0: it takes no place in the sequence)."""

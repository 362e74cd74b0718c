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


class UnreadableRequest(msgspec.Struct, frozen=True, gc=False):
    """A version-3 request whose id cannot be read but whose ``req_seq`` can: answered with a non-fatal Error.

    It takes its place in the request sequence (the Error is its answer), so the strategy's next request,
    numbered one more, is no gap; a duplicate of it gets the same Error again (it is not replayed, like a
    MassCancel's answer). ``code`` is empty for one read after the error budget ran out: no Error is sent.
    """

    code: str
    text: str
    req_seq: int

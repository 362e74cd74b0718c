"""The FIX session layer, sans-IO: bytes and an injected ``now_ns`` in, bytes and callbacks out.

One file per concern: ``state`` (the states and their transitions), ``session`` (the
state machine), ``admin`` (session-level message encoders), ``timers`` (heartbeat and
test request), ``resend`` (gap detection and answering ResendRequest), ``schedule``
(session hours and the daily reset) and ``backoff`` (reconnect delays).
"""

from obs.native import native_path

__path__ = native_path(__name__, __path__)

from venues.fix.session.backoff import ReconnectBackoff
from venues.fix.session.config import SessionConfig
from venues.fix.session.schedule import SessionSchedule
from venues.fix.session.session import FixSession, SessionHandler
from venues.fix.session.state import FixSessionState

__all__ = [
    "FixSession",
    "FixSessionState",
    "ReconnectBackoff",
    "SessionConfig",
    "SessionHandler",
    "SessionSchedule",
]

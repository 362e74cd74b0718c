"""Session states and the transitions between them.

::

    DISCONNECTED --connection_made--> LOGON_SENT --Logon, seq as expected--> ACTIVE
    (acceptor)   --connection_made--> AWAITING_LOGON --Logon (answered with a Logon)--> ACTIVE or RESYNCING
                                          |      \\--Logon, seq too high--> RESYNCING --gap filled--> ACTIVE
                                          \\--timeout / bad Logon / seq too low (acceptor)--> (close) DISCONNECTED
    ACTIVE | RESYNCING --logout() / end of schedule--> LOGOUT_SENT --Logout or timeout--> (close)
    ACTIVE | RESYNCING --peer Logout--> (Logout reply, close)
    ACTIVE | RESYNCING --peer Logon with ResetSeqNumFlag=Y--> (Logon reply, both numbers restart) ACTIVE
    any connected state --connection_lost--> DISCONNECTED
    DISCONNECTED --connection_made outside the schedule--> ENDED (close; reconnect at the next start)
    LOGON_SENT --Logout "MsgSeqNum too low"--> (close) LOGIN_REFUSED --reconnect()--> DISCONNECTED
    LOGON_SENT --the venue's Logon, seq too low--> (Logout, close) LOGIN_REFUSED (fixlogon56)
    LOGIN_REFUSED --connection_made once the schedule's window has ended--> ENDED (close), or in a later window
        --> LOGON_SENT (a new session: the daily reset first) (fix53)

Only ACTIVE lets orders onto the wire; in every other state they are persisted and go
out when the venue asks for them with a ResendRequest (or are gap-filled when stale).
"""

from __future__ import annotations

import enum


class FixSessionState(enum.StrEnum):
    """Where a FIX session stands."""

    DISCONNECTED = "DISCONNECTED"
    LOGON_SENT = "LOGON_SENT"
    AWAITING_LOGON = "AWAITING_LOGON"
    """Acceptor only: connected, waiting for the initiator's Logon."""
    RESYNCING = "RESYNCING"
    """Logged on, waiting for the venue to fill a sequence gap found at logon."""
    ACTIVE = "ACTIVE"
    LOGOUT_SENT = "LOGOUT_SENT"
    ENDED = "ENDED"
    """Outside the session schedule: no logon until the next start."""
    LOGIN_REFUSED = "LOGIN_REFUSED"
    """The venue refused our Logon for a cause no retry cures (its Logout: our MsgSeqNum too low), or we refused the
    venue's Logon as numbered too low (its numbers went back, fixlogon56): no logon until
    an operator's ``gateway venue reconnect`` (``FixSession.reconnect``) (fixfix52) or, with a session schedule, the
    end of the refused window (fix53)."""


LOGGED_ON_STATES = frozenset({FixSessionState.RESYNCING, FixSessionState.ACTIVE})

"""The free text an operator gives a command (``--reason``, the caller's name): bounded, one line.

A kill's reason and its author reach every strategy the halt refuses, inside each ``OrderRejected`` text, and the
journal keeps them (rev54risk: a 70,000-character reason made a 100 KB frame, over the protocol's 65,536-byte
bound, that the strategies' clients could not read, in every replay after it). A text with a control character
(a newline) could also forge lines of ``gateway status`` and of the log. Such texts are refused where they enter
(the command line: exit 2, ``gateway.commands.admin.operator_text``; the admin socket: refused, nothing
changed), and the risk engine clips what a journal
written before this check may still hold (``clip``).
"""

from __future__ import annotations

import unicodedata
from typing import Final

MAX_OPERATOR_TEXT: Final = 500
"""Characters an operator's reason (or name) may have."""
CLIPPED_AT: Final = 200
"""Characters of an older, longer text that a strategy's refusal quotes (``clip``)."""


def operator_text_problem(text: str, what: str = "the reason") -> str | None:
    """Return why ``text`` cannot be taken (too long, a control character), or None."""
    if len(text) > MAX_OPERATOR_TEXT:
        return (
            f"{what} has {len(text):,} characters; at most {MAX_OPERATOR_TEXT} are taken (it is quoted to strategies)"
        )
    for at, char in enumerate(text):
        category = unicodedata.category(char)
        if category[0] == "C" or category in ("Zl", "Zp"):  # Zl/Zp: U+2028/U+2029 break a line too (rev55diff)
            return (
                f"{what} has a control character ({char!r} at {at + 1}); give it on one line, printable characters only"
            )
    return None


def clip(text: str, limit: int = CLIPPED_AT, marker: str = "…") -> str:
    """Return ``text`` on one line and at most ``limit`` characters (``marker`` at the end says it was cut).

    Cut on characters, never inside one (its UTF-8 stays whole). A venue's text longer than the venue events'
    bound is clipped with this too (``model.venue_events.bounded_texts``, fix55), its marker naming the length.
    """
    if len(text) <= limit and text.isprintable():
        return text
    one_line = "".join(c if c.isprintable() else " " for c in text[: limit + 1])
    return one_line if len(one_line) <= limit else one_line[: limit - len(marker)] + marker

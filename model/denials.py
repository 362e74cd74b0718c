"""Refusals as data: what risk (and the gateway's own checks) answer instead of raising."""

from __future__ import annotations

import msgspec


class Denial(msgspec.Struct, frozen=True, gc=False):
    """A refusal: a stable machine-readable ``code`` and a human ``text``."""

    code: str
    text: str

"""Core types shared by every layer: enums, clocks, the order record, venue events, denials.

This package imports nothing of the project (only the standard library and msgspec), so
``risk``, ``venues`` and ``gateway`` can all depend on it without depending on each other.
"""

"""Observability helpers any layer may use (standard library only, imports nothing of the project)."""

from obs.native import native_path

__path__ = native_path(__name__, __path__)

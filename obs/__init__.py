"""Observability helpers any layer may use (standard library only, imports nothing of the project)."""

"""Venue adapters: protocol codecs, sessions, transports (simulators are in ``simulators``)."""

from obs.native import native_path

__path__ = native_path(__name__, __path__)

"""Venue adapters: protocol codecs, sessions, transports and simulators."""

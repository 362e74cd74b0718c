"""Venue adapters: protocol codecs, sessions, transports (simulators are in ``simulators``)."""

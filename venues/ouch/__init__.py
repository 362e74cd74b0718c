"""Nasdaq OUCH 5.0 over SoupBinTCP: codecs, the client session, the gateway adapter and its UserRefNum store."""

from obs.native import native_path

__path__ = native_path(__name__, __path__)

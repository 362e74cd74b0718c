"""Nasdaq OUCH 5.0 over SoupBinTCP: codecs, sessions, the gateway adapter and an exchange simulator."""

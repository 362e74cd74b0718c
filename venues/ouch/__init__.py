"""Nasdaq OUCH 5.0 over SoupBinTCP: codecs, the client session, the gateway adapter and its UserRefNum store."""

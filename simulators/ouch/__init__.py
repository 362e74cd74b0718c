"""Nasdaq OUCH 5.0 exchange simulator: the exchange core, the SoupBinTCP server session, the process."""

"""Tests of the OUCH 5.0 / SoupBinTCP venue."""

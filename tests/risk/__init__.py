"""Tests of the pre-trade risk engine, its limits file and the officer's tools."""

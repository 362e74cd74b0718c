"""FIX venue tests: codec, store, session (fake clock), adapter, simulator and QuickFIX conformance."""

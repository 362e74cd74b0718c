"""FIX 4.2/4.4 venues: sans-IO session layer, persistent store, dialects, adapter and simulator.

Nothing here imports ``quickfix`` at module level: the package is only needed for strict
validation (``venues.fix.dictionary``), the simulator and the conformance tests.
"""

"""Venue simulators for development, paper trading, tests and benchmarks (``gateway sim``, ``gateway demo``).

Beside the runtime packages, not inside them: ``gateway run`` never imports this package. A
simulator may use the venue codecs (``venues.*``) and the core types (``model``), nothing of
``gateway``.
"""

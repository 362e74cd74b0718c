"""FIX 4.2/4.4 venues: sans-IO session layer, persistent store, dialects and the adapter.

Nothing here imports ``quickfix`` at module level: the package is only needed for strict
validation (``venues.fix.dictionary``); the simulator (``simulators.fix``) and the
conformance tests use it too.
"""

from obs.native import native_path

__path__ = native_path(__name__, __path__)

"""FIX 4.2/4.4 venue simulator: a real QuickFIX acceptor, its order book and the raw side channel.

Nothing here imports ``quickfix`` at module level: ``gateway sim`` lists the FIX simulator even
without the ``fix`` extra, and the simulator class imports it when constructed.
"""

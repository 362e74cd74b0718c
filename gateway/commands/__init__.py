"""Sub-commands of the ``gateway`` command line."""

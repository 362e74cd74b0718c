"""Benchmarks: the ``gateway bench`` harness (``benchmarks.harness``) and single-component scripts.

Beside the runtime packages, not inside them: ``gateway run`` never imports this package.
The ``bench_*.py`` scripts are run as files (``.venv/bin/python benchmarks/bench_hotpath.py``).
"""

"""Benchmarks of the core, run as modules (``python -m benchmarks.lifecycle``)."""

"""Benchmarks (run as scripts, e.g. `python benchmarks/fanout.py`); see README.md here."""

"""Benchmarks that print figures: run ``python -m tests.benchmarks.pipeline``."""

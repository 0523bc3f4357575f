"""Benchmarks: measured figures, printed, never asserted by timed tests."""

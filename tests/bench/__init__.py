"""Smoke tests of the benchmark scripts (the repository root is on pytest's pythonpath)."""

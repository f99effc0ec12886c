"""Benchmarks: scripts that print figures. Not tests, not timed assertions."""

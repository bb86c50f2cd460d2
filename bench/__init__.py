"""Benchmarks that print figures (not tests). Run one with: python -m bench.<name>."""

"""Benchmarks (docs/benchmarks.md); run as scripts, importable for the smoke test."""

"""Helpers the test tiers (and the benchmarks) share: API client, local services,
the worker pipeline, lab machines and clusters. No tests and no fixtures here."""

"""Reproducible benchmarks. ``stockmesh.bench.ledger`` is the ledger benchmark of issue 2."""

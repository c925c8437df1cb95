"""Reproducible benchmarks. ``stockmesh.bench.ledger`` is the ledger benchmark (``stockmesh bench ledger``)."""

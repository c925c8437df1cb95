"""Rebuilding every read model from the whole ledger: ``replay``.

A small ledger, or a backend other processes cannot open, is refolded here batch by batch after
dropping the read models. A large one is folded by worker processes into staging read models
swapped in at the end (``parallel.parallel_replay``), then caught up with the events appended
meanwhile. The workers open the store with ``open_spec``, the function the caller passes:
``bootstrap.open_spec`` (only bootstrap knows the concrete stores).
"""

from __future__ import annotations

from typing import Any

from stockmesh.ledger.port import EventStore
from stockmesh.projections.parallel import StoreOpener, default_workers, parallel_replay
from stockmesh.projections.runner import Progress, catch_up


def replay(store: EventStore, progress: Progress | None = None, *, workers: int | None = None,
           stats: dict[str, Any] | None = None, open_spec: StoreOpener | None = None) -> int:
    """Fold the whole ledger again into fresh read models; return the events folded.

    With ``open_spec`` and ``workers`` > 1 (by default: one per core for a large ledger on SQLite
    or PostgreSQL, see ``parallel.default_workers``) the streams are folded by that many processes
    into staging read models that replace the read models at the end in one transaction; else
    (and always without ``open_spec``) the read models are dropped and refolded here."""
    if open_spec is None:
        if workers is not None and workers > 1:
            raise ValueError("a replay on more than one process needs open_spec (bootstrap.open_spec)")
        count = 1
    else:
        count = default_workers(store) if workers is None else workers
    if count > 1:
        folded = parallel_replay(store, count, open_spec=open_spec, progress=progress, stats=stats)
        return folded + catch_up(store, progress=progress)
    store.reset_views()
    return catch_up(store, progress=progress)

"""The catch-up runner: folds events after the saved checkpoint into the read models, and saves
rows and checkpoint together. ``verify`` rebuilds into a scratch in-memory copy and compares it
with the live tables; ``rebuild.replay`` rebuilds the live ones from zero."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from stockmesh.ledger import scratch_store
from stockmesh.ledger.bulk.gc_pause import gc_paused
from stockmesh.ledger.port import EventStore
from stockmesh.ledger.views import VIEWS
from stockmesh.projections.fold import ViewFolder

Progress = Callable[[int], None]


def catch_up(store: EventStore, *, batch_size: int = 100_000, progress: Progress | None = None,
             source: EventStore | None = None) -> int:
    """Bring ``store``'s read models up to the ledger head; return how many events were folded.

    ``source`` reads the events from another store (used to rebuild into a scratch copy)."""
    source = source or store
    folder = ViewFolder(store)
    checkpoint = store.view_checkpoint()
    folded = 0
    while True:
        with gc_paused():  # reading a batch builds a hundred thousand tuples: no cycles among them
            rows = source.read_fold_rows(after=checkpoint, limit=batch_size)
        if not rows:
            return folded
        with gc_paused():
            changes = folder.fold(rows)
        checkpoint = rows[-1][0]
        store.save_views(changes, checkpoint)
        folder.saved(checkpoint)
        folded += len(rows)
        if progress:
            progress(len(rows))


def _normalise(value: Any) -> Any:
    return int(value) if isinstance(value, bool) else value


def view_digest(store: EventStore) -> str:
    """A hash of every read-model row: two rebuilds of the same ledger must give the same digest."""
    digest = hashlib.sha256()
    for view in VIEWS:
        for row in store.load_view(view):
            digest.update(repr(tuple(_normalise(v) for v in row)).encode())
    return digest.hexdigest()


@dataclass(frozen=True, slots=True)
class VerifyReport:
    ok: bool
    events: int
    rows: dict[str, int]
    difference: str | None = None


def verify(store: EventStore, progress: Progress | None = None) -> VerifyReport:
    """Rebuild every read model from the log into a scratch copy and compare with the live ones."""
    scratch = scratch_store()
    events = catch_up(scratch, source=store, progress=progress)
    live_checkpoint = store.view_checkpoint()
    head = store.head()[0]
    rows = {}
    if live_checkpoint != head:
        return VerifyReport(False, events, rows,
                            f"live read models stop at position {live_checkpoint}, the ledger at {head}")
    for view, spec in VIEWS.items():
        live = [tuple(_normalise(v) for v in r) for r in store.load_view(view)]
        fresh = [tuple(_normalise(v) for v in r) for r in scratch.load_view(view)]
        rows[view] = len(live)
        live_map = {r[:len(spec.key)]: r for r in live}
        fresh_map = {r[:len(spec.key)]: r for r in fresh}
        for key in sorted(set(live_map) | set(fresh_map), key=repr):
            a, b = live_map.get(key), fresh_map.get(key)
            if a != b:
                return VerifyReport(False, events, rows,
                                    f"{view} {key}: live {a} but rebuilt from the ledger {b}")
    return VerifyReport(True, events, rows)

"""Bulk-work helpers that need only the standard library."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector during a bulk pass.

    A million-command batch keeps millions of small containers alive; the collector would walk
    all of them again and again (a third of an ingest's time, measured). Nothing here builds
    reference cycles that need collecting before the pass ends, and reference counting still frees
    everything else at once."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()

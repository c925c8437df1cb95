"""The event store port (``port``), its backends (``memory``, ``sqlite``, ``postgres``), the codec,
the hash chain and the upcasters. Outside this package only ``bootstrap.py`` names a backend."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from stockmesh.ledger.port import EventStore


def scratch_store() -> EventStore:
    """A new, empty in-memory store: a scratch copy to rebuild read models into and compare."""
    from stockmesh.ledger.memory import MemoryEventStore

    return MemoryEventStore()

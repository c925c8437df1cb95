"""The one composition root: settings -> store (and, as they land, bus, adapters, agents).

Nothing connects at import time; ``open_store`` is called by the entry points with a URL from
``--db`` or ``STOCKMESH_DB``.
"""

from __future__ import annotations

import os

from stockmesh.domain.errors import InvalidInput
from stockmesh.ledger.port import EventStore

DEFAULT_DB = "sqlite:///stockmesh.db"


def database_url(explicit: str | None = None) -> str:
    return explicit or os.environ.get("STOCKMESH_DB") or DEFAULT_DB


def open_store(url: str | None = None, *, create: bool = True) -> EventStore:
    """Open the store a URL names: ``sqlite:///path``, ``postgresql://...`` or ``memory://``."""
    url = database_url(url)
    store: EventStore
    if url.startswith("memory://"):
        from stockmesh.ledger.memory import MemoryEventStore

        store = MemoryEventStore()
    elif url.startswith("sqlite:///"):
        from stockmesh.ledger.sqlite import SqliteEventStore

        path = url.removeprefix("sqlite:///")
        if not path:
            raise InvalidInput("sqlite URL needs a path, e.g. sqlite:///stockmesh.db", field="db")
        store = SqliteEventStore(path)
    elif url.startswith(("postgresql://", "postgres://")):
        try:
            from stockmesh.ledger.postgres import PostgresEventStore
        except ImportError as exc:  # the [pg] extra is not installed
            raise InvalidInput("PostgreSQL needs the [pg] extra: pip install 'stockmesh[pg]'", field="db") from exc
        store = PostgresEventStore(url)
    else:
        raise InvalidInput(f"unsupported database URL {url!r}: use sqlite:///PATH, postgresql://... or memory://",
                           field="db")
    from stockmesh.ledger.chain import key_from_env

    store.head_key = key_from_env()  # STOCKMESH_LEDGER_KEY_FILE: every write signs the new head
    if create:
        store.init()
    return store

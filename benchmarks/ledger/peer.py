"""The peer: the ``eventsourcing`` library (9.x, the ``[bench]`` extra) on SQLite, appending the same
events as stockmesh did."""

from __future__ import annotations

import contextlib
import gc
import sqlite3
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.ledger.ui import Ui

try:  # the peer; the [bench] extra installs it
    from eventsourcing.application import Application as _EsApplication
    from eventsourcing.domain import Aggregate as _EsAggregate
    from eventsourcing.domain import event as _es_event
except ImportError:  # pragma: no cover - depends on the environment
    _EsApplication = None  # type: ignore[assignment,misc]

if _EsApplication is not None:

    class PeerStream(_EsAggregate):  # type: ignore[misc]
        """One stockmesh stream as an eventsourcing aggregate: each event carries its type and data."""

        @_es_event("Started")
        def __init__(self, kind: str, data: dict[str, Any]) -> None:
            self.last_kind = kind
            self.events = 1

        @_es_event("Recorded")
        def record(self, kind: str, data: dict[str, Any]) -> None:
            self.last_kind = kind
            self.events += 1


@contextlib.contextmanager
def _es_sqlite_settings(pragmas: Sequence[str]) -> Iterator[None]:
    """Apply ``pragmas`` to every SQLite connection eventsourcing opens inside the block."""
    from eventsourcing.sqlite import SQLiteConnectionPool

    original = SQLiteConnectionPool._create_connection

    def create(self: Any) -> Any:
        conn = original(self)
        for pragma in pragmas:
            conn._sqlite_conn.execute(pragma)
        return conn

    SQLiteConnectionPool._create_connection = create  # type: ignore[method-assign]
    try:
        yield
    finally:
        SQLiteConnectionPool._create_connection = original  # type: ignore[method-assign]


SAME_SETTINGS = ("PRAGMA synchronous=NORMAL", "PRAGMA cache_size=-65536")


def _es_app(db: Path) -> Any:
    return _EsApplication(env={"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(db)})


def _es_rows(source_db: Path, first: int, last: int, chunk: int) -> Iterator[list[tuple[str, str, Any]]]:
    """(stream_id, type, data as a dict) of positions first..last, a chunk at a time (not timed)."""
    import orjson

    src = sqlite3.connect(source_db)
    try:
        cur = src.execute("SELECT stream_id, type, data FROM events WHERE position BETWEEN ? AND ? "
                          "ORDER BY position", (first, last))
        while True:
            rows = cur.fetchmany(chunk)
            if not rows:
                return
            yield [(sid, kind, orjson.loads(data)) for sid, kind, data in rows]
    finally:
        src.close()


@dataclass(slots=True)
class PeerRun:
    batched_events: int = 0
    batched_s: float = 0.0
    single_events: int = 0
    single_s: float = 0.0
    single_default_events: int = 0
    single_default_s: float = 0.0


def peer_eventsourcing(source_db: Path, work: Path, *, batch_last: int, single_first: int, single_count: int,
                       batch_size: int, default_count: int, ui: Ui) -> PeerRun:
    """Append the events of ``source_db`` with eventsourcing: positions 1..``batch_last`` batched
    (``batch_size`` events per ``save``, all aggregates they touch saved together), then
    ``single_count`` from ``single_first`` one ``save`` per event, with the same SQLite settings as
    stockmesh (WAL, synchronous=NORMAL, 64 MiB cache); then ``default_count`` one at a time with
    the library's default settings (synchronous=FULL: a sync per commit), for information."""
    out = PeerRun()
    with _es_sqlite_settings(SAME_SETTINGS):
        app = _es_app(work / "peer.db")
        try:
            aggregates: dict[str, Any] = {}
            with ui.task("eventsourcing: batched append", batch_last) as advance:
                for rows in _es_rows(source_db, 1, batch_last, batch_size):
                    started = time.perf_counter()
                    touched: dict[str, Any] = {}
                    for sid, kind, data in rows:
                        agg = aggregates.get(sid)
                        if agg is None:
                            agg = aggregates[sid] = PeerStream(kind, data)
                        else:
                            agg.record(kind, data)
                        touched[sid] = agg
                    app.save(*touched.values())
                    out.batched_s += time.perf_counter() - started
                    out.batched_events += len(rows)
                    advance(len(rows))
            singles = [row for rows in _es_rows(source_db, single_first, single_first + single_count - 1,
                                                single_count) for row in rows]
            gc.collect()
            with ui.task("eventsourcing: one save per event", len(singles)) as advance:
                started = time.perf_counter()
                for sid, kind, data in singles:
                    agg = aggregates.get(sid)
                    if agg is None:
                        agg = aggregates[sid] = PeerStream(kind, data)
                    else:
                        agg.record(kind, data)
                    app.save(agg)
                out.single_s = time.perf_counter() - started
                out.single_events = len(singles)
                advance(len(singles))
        finally:
            app.close()
    if default_count > 0:
        app = _es_app(work / "peer-default.db")
        try:
            singles = singles[:default_count]
            fresh: dict[str, Any] = {}
            gc.collect()
            with ui.task("eventsourcing (default settings): one save per event", len(singles)) as advance:
                started = time.perf_counter()
                for sid, kind, data in singles:
                    agg = fresh.get(sid)
                    if agg is None:
                        agg = fresh[sid] = PeerStream(kind, data)
                    else:
                        agg.record(kind, data)
                    app.save(agg)
                out.single_default_s = time.perf_counter() - started
                out.single_default_events = len(singles)
                advance(len(singles))
        finally:
            app.close()
    return out

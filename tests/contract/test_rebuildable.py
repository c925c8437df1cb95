"""The ``Rebuildable`` port over SQLite and PostgreSQL (memory does not claim it): staging read
models beside the live ones, swapped in or dropped in one transaction, stores other processes open
from ``reopen_spec``, and the sample the ranges of streams are cut at."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest

from stockmesh.ledger import codec
from stockmesh.ledger.port import Rebuildable, ReopenSpec, ViewStore
from stockmesh.ledger.records import NewEvent

LIVE, STAGED = ("OAT-MILK-1L", "STORE-LYON-02"), ("COFFEE-1KG", "STORE-NICE-01")


def _position(on_hand: int) -> tuple[Any, ...]:
    return (on_hand, 0, 0, 0, 0, 0, 0, None, "", 0, None)


def _reopen(spec: ReopenSpec) -> Any:
    """What another process does with a spec it was sent as JSON."""
    backend, args, kwargs = json.loads(json.dumps(spec))
    if backend == "sqlite":
        from stockmesh.ledger.sqlite import SqliteEventStore

        return SqliteEventStore(*args, **kwargs)
    from stockmesh.ledger.postgres import PostgresEventStore

    return PostgresEventStore(*args, **kwargs)


@pytest.fixture
def rebuildable(rebuildable_store: Any) -> Any:
    assert isinstance(rebuildable_store, Rebuildable)
    rebuildable_store.save_views({"stock_positions": {LIVE: _position(12)}}, 3)
    return rebuildable_store


def test_staging_is_invisible_until_swapped_in(rebuildable: Any) -> None:
    targets = rebuildable.prepare_staging(2)
    assert len(targets) == 2 and all(isinstance(t, Rebuildable) and isinstance(t, ViewStore) for t in targets)
    assert rebuildable.staging_left()
    worker = _reopen(targets[1].reopen_spec())  # a worker's process opens its target from the spec
    try:
        worker.save_views({"stock_positions": {STAGED: _position(40)}}, 99)
    finally:
        worker.close()
    assert rebuildable.load_view("stock_positions") == [LIVE + _position(12)]
    assert rebuildable.view_checkpoint() == 3  # a staging save does not move the live checkpoint
    rebuildable.swap_in_staging(8)
    assert rebuildable.load_view("stock_positions") == [STAGED + _position(40)]
    assert rebuildable.view_checkpoint() == 8
    assert not rebuildable.staging_left()


def test_dropped_staging_leaves_the_live_read_models(rebuildable: Any) -> None:
    target = rebuildable.prepare_staging(1)[0]
    target.save_views({"stock_positions": {STAGED: _position(40)}}, 0)
    rebuildable.drop_staging()
    assert not rebuildable.staging_left()
    assert rebuildable.load_view("stock_positions") == [LIVE + _position(12)]
    assert rebuildable.view_checkpoint() == 3


def test_prepare_drops_what_a_killed_replay_left(rebuildable: Any) -> None:
    rebuildable.prepare_staging(1)[0].save_views({"stock_positions": {STAGED: _position(40)}}, 0)
    fresh = rebuildable.prepare_staging(1)[0]
    assert fresh.load_view("stock_positions") == []
    rebuildable.swap_in_staging(5)
    assert rebuildable.load_view("stock_positions") == []


def test_the_reopened_source_reads_the_same_ledger(rebuildable: Any) -> None:
    with rebuildable.write() as s:
        s.append([NewEvent("stock:A@S", "StockReceived", 1, codec.dumps({"qty": 1, "lot": None, "expiry": None}),
                           "{}", "2026-01-01T00:00:00+00:00")], {}, [], {})
    other = _reopen(rebuildable.reopen_spec())
    try:
        assert other.head() == rebuildable.head()
        assert other.view_checkpoint() == 3
    finally:
        other.close()


def test_the_sample_follows_the_streams_share_of_the_events(rebuildable: Any) -> None:
    def events(stream: str, n: int) -> list[NewEvent]:
        return [NewEvent(stream, "StockReceived", 1, codec.dumps({"qty": 1, "lot": None, "expiry": None}), "{}",
                         "2026-01-01T00:00:00+00:00") for _ in range(n)]

    with rebuildable.write() as s:
        s.append(events("stock:A@S", 300) + events("stock:B@S", 100), {}, [], {})
    counts = Counter(rebuildable.sample_stream_ids(40))
    assert set(counts) == {"stock:A@S", "stock:B@S"} and 36 <= sum(counts.values()) <= 40
    assert 2.5 <= counts["stock:A@S"] / counts["stock:B@S"] <= 3.5
    assert set(rebuildable.sample_stream_ids(40, upto=300)) == {"stock:A@S"}  # B's events come after 300

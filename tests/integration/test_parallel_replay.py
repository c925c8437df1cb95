"""Parallel replay: several processes fold partitions of the streams into staging tables that are
swapped in at the end. Same read models as a replay in one process; a failure leaves the live
read models as they were."""

from __future__ import annotations

from functools import partial

import pytest

from stockmesh.bootstrap import open_spec
from stockmesh.domain.errors import LedgerError
from stockmesh.projections import rebuild
from stockmesh.projections.parallel import partitions
from stockmesh.projections.runner import catch_up, verify, view_digest
from stockmesh.service.execute import execute
from tests.support.commands import STORE, c
from tests.unit.projections.test_fold import SKUS, _random_ledger

replay = partial(rebuild.replay, open_spec=open_spec)  # the workers open the stores as `stockmesh replay`'s do


@pytest.fixture(params=["sqlite", "postgres"])
def sql_store(request: pytest.FixtureRequest, tmp_path):  # type: ignore[no-untyped-def]
    from tests.conftest import drop_store, make_store

    store = make_store(request.param, tmp_path)
    yield store
    drop_store(store)


def test_partitions_cover_every_event_once(sql_store) -> None:  # type: ignore[no-untyped-def]
    """Ranges computed in Python select the same rows in SQL (PostgreSQL compares in byte order too)."""
    _random_ledger(sql_store, 5, commands=300)
    execute(sql_store, [c("RegisterSku", sku=sku, unit_cost=1.0, pack_size=1) for sku in ("abc", "ABC", "a.b", "Z-9", "9z", "a#1")])
    head = sql_store.head()[0]
    seen: list[int] = []
    counts: list[int] = []
    for streams in partitions(sql_store.sample_stream_ids(1000), 3):
        rows = sql_store.read_fold_rows(limit=10**6, upto=head, streams=streams)
        seen.extend(r[0] for r in rows)
        counts.append(len(rows))
        assert all((streams[0] is None or r[1] >= streams[0]) and (streams[1] is None or r[1] < streams[1])
                   for r in rows)
    assert sorted(seen) == list(range(1, head + 1))  # every event once
    assert min(counts) > head / 6  # and about a third each


@pytest.mark.parametrize("workers", [2, 3])
def test_parallel_replay_builds_the_same_read_models(sql_store, workers: int) -> None:  # type: ignore[no-untyped-def]
    _random_ledger(sql_store, 6)
    assert replay(sql_store, workers=1) == sql_store.head()[0]
    expected = view_digest(sql_store)
    assert replay(sql_store, workers=workers) == sql_store.head()[0]
    assert view_digest(sql_store) == expected
    assert sql_store.view_checkpoint() == sql_store.head()[0]
    assert not sql_store.staging_left()
    assert verify(sql_store).ok


def test_events_appended_during_a_parallel_replay_are_folded_after_the_swap(sql_store) -> None:  # type: ignore[no-untyped-def]
    _random_ledger(sql_store, 8)
    appended = []

    def progress(_n: int) -> None:
        if not appended:  # the workers are running: write more events
            appended.append(execute(sql_store, [c("ReceiveStock", sku=SKUS[0], site=STORE, qty=7)])[0])

    before = sql_store.head()[0]
    folded = replay(sql_store, progress=progress, workers=2)
    assert appended and folded == before + 1 == sql_store.head()[0]
    assert sql_store.view_checkpoint() == sql_store.head()[0]
    parallel = view_digest(sql_store)
    replay(sql_store, workers=1)
    assert view_digest(sql_store) == parallel


@pytest.mark.slow
def test_a_failed_worker_leaves_the_live_read_models_untouched(sql_store, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    _random_ledger(sql_store, 9, commands=200)
    catch_up(sql_store)
    before, checkpoint = view_digest(sql_store), sql_store.view_checkpoint()
    backend, args, kwargs = sql_store.reopen_spec()
    broken = (backend, ("/no/such/folder/ledger.db",) if backend == "sqlite" else ("postgresql://nobody@127.0.0.1:1/x",),
              kwargs)
    monkeypatch.setattr(type(sql_store), "reopen_spec", lambda self: broken)  # the workers cannot open the ledger
    with pytest.raises(LedgerError, match="replay worker"):
        replay(sql_store, workers=2)
    monkeypatch.undo()
    assert view_digest(sql_store) == before and sql_store.view_checkpoint() == checkpoint
    assert not sql_store.staging_left()


def test_staging_left_by_a_killed_replay_changes_nothing(sql_store) -> None:  # type: ignore[no-untyped-def]
    """A replay killed before its swap leaves its staging read models behind: the live read models
    still verify, and the next replay drops the leftovers and rebuilds."""
    _random_ledger(sql_store, 10, commands=200)
    catch_up(sql_store)
    junk = sql_store.prepare_staging(2)[0]
    junk.save_views({"stock_positions": {("JUNK", "NOWHERE"): (999, 0, 0, 0, 0, 0, 0, None, None, 0, None)}}, 0)
    junk.close()
    assert sql_store.staging_left()
    assert verify(sql_store).ok
    replay(sql_store, workers=2)
    assert verify(sql_store).ok
    assert not sql_store.load_view("stock_positions", {"sku": "JUNK"})
    assert not sql_store.staging_left()

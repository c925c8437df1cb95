"""Concurrent reservations never oversell: 100 on hand, N racers reserving 3 each -> exactly 33 granted."""

from __future__ import annotations

import multiprocessing as mp
import threading
from pathlib import Path

import pytest

from stockmesh.domain.errors import StockmeshError
from stockmesh.projections.runner import catch_up
from stockmesh.projections.stock_positions import positions
from stockmesh.service.execute import BatchRejected, execute
from tests.conftest import drop_store, make_store
from tests.support.commands import SKU, STORE, c, network


def _seed(store) -> None:  # type: ignore[no-untyped-def]
    execute(store, network() + [c("ReceiveStock", sku=SKU, site=STORE, qty=100)])


def _reserve(store, i: int) -> bool:  # type: ignore[no-untyped-def]
    try:
        execute(store, [c("ReserveStock", idempotency_key=f"race-{i}", reservation_id=f"R-{i}", sku=SKU,
                          site=STORE, qty=3)])
        return True
    except BatchRejected:
        return False


def _check(store, granted: int) -> None:  # type: ignore[no-untyped-def]
    assert granted == 33
    catch_up(store)
    row = positions(store, sku=SKU, site=STORE)[0]
    assert (row["reserved"], row["available"]) == (99, 1)
    assert len(store.load_view("documents", {"kind": "reservation"})) == 33


@pytest.mark.parametrize("racers", [50, 200])
@pytest.mark.parametrize("backend", ["sqlite", "postgres", "memory"])
def test_threads(backend: str, racers: int, tmp_path: Path) -> None:
    store = make_store(backend, tmp_path)
    try:
        _seed(store)
        barrier = threading.Barrier(racers)
        results: list[bool] = []
        lock = threading.Lock()

        def run(i: int) -> None:
            barrier.wait()
            ok = _reserve(store, i)
            with lock:
                results.append(ok)

        threads = [threading.Thread(target=run, args=(i,)) for i in range(racers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(results) == racers
        _check(store, sum(results))
    finally:
        drop_store(store)


def _process_worker(url: str, schema: str | None, start: int, count: int, barrier, out) -> None:  # type: ignore[no-untyped-def]
    from stockmesh.ledger.postgres import PostgresEventStore
    from stockmesh.ledger.sqlite import SqliteEventStore

    store = SqliteEventStore(url) if schema is None else PostgresEventStore(url, schema=schema, pool_size=4)
    barrier.wait()
    granted = 0
    threads_results: list[bool] = []
    # Each process runs a few threads so that 200 racers need only a handful of processes.
    def run(i: int) -> None:
        threads_results.append(_reserve(store, i))
    threads = [threading.Thread(target=run, args=(i,)) for i in range(start, start + count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    granted = sum(threads_results)
    store.close()
    out.put(granted)


@pytest.mark.parametrize("racers", [50, 200])
@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
@pytest.mark.slow
def test_processes(backend: str, racers: int, tmp_path: Path) -> None:
    store = make_store(backend, tmp_path)
    try:
        _seed(store)
        processes = 10
        per = racers // processes
        ctx = mp.get_context("spawn")
        barrier = ctx.Barrier(processes)
        out = ctx.Queue()
        target = (store.path, None) if backend == "sqlite" else (store.url, store.schema)
        procs = [ctx.Process(target=_process_worker, args=(*target, p * per, per, barrier, out))
                 for p in range(processes)]
        for p in procs:
            p.start()
        granted = sum(out.get(timeout=120) for _ in procs)
        for p in procs:
            p.join(timeout=60)
            assert p.exitcode == 0
        _check(store, granted)
    finally:
        drop_store(store)


def test_errors_inside_racers_are_domain_errors(tmp_path: Path) -> None:
    store = make_store("sqlite", tmp_path)
    _seed(store)
    with pytest.raises(BatchRejected) as info:
        execute(store, [c("ReserveStock", reservation_id="BIG", sku=SKU, site=STORE, qty=101)])
    assert isinstance(info.value.error, StockmeshError)
    drop_store(store)

"""The SQLite WAL stays bounded under a writer that never pauses (the background checkpointer
truncates it once it passes its limit), and nothing written is lost on the way."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from stockmesh.ledger.chain import verify_chain
from stockmesh.ledger.sqlite import SqliteEventStore, _Checkpointer
from stockmesh.service.execute import execute
from tests.support.commands import SKU, STORE, c, network


def _write_for(store: SqliteEventStore, path: Path, seconds: float) -> tuple[int, list[int]]:
    """Commit receipts back to back for ``seconds``; return the commands written and the WAL's size
    after each commit."""
    written, sizes = 0, []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        execute(store, [c("ReceiveStock", sku=SKU, site=STORE, qty=1) for _ in range(50)])
        written += 50
        sizes.append(os.path.getsize(str(path) + "-wal"))
    return written, sizes


@pytest.mark.parametrize("limit_kib, bounded", [(256, True), (10**9, False)])
@pytest.mark.slow
def test_the_wal_is_truncated_past_its_limit_under_a_busy_writer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                 limit_kib: int, bounded: bool) -> None:
    monkeypatch.setattr(_Checkpointer, "truncate_bytes", limit_kib * 1024)
    path = tmp_path / "ledger.db"
    store = SqliteEventStore(str(path))
    store.init()
    execute(store, network())
    written, sizes = _write_for(store, path, 4.0)
    grown = sum(max(0, b - a) for a, b in zip(sizes, sizes[1:], strict=False))  # the WAL without truncation
    checkpointer = store._checkpointer
    assert checkpointer is not None
    if bounded:
        assert checkpointer.truncations >= 2
        assert sum(1 for a, b in zip(sizes, sizes[1:], strict=False) if b < a) >= 2  # it shrank, twice or more
        assert sizes[-1] < grown / 3
    else:  # the control: the same writer without the limit only grows the WAL
        assert checkpointer.truncations == 0 and sizes[-1] >= 0.9 * grown
    assert store.count_events() == written + len(network())
    assert verify_chain(store.read_all(), store.head()).ok
    store.close()

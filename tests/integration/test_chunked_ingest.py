"""A file bigger than one chunk is read, parsed and decided a chunk at a time: the parsed commands
are never all in memory, all or nothing still writes the ledger one chunk would (keys repeated
across chunks included) or nothing, and --continue-on-error lets other writers in between parts."""

from __future__ import annotations

import sqlite3
import tracemalloc
from pathlib import Path
from typing import Any

import orjson
import pytest

from stockmesh.domain.commands import parse_command
from stockmesh.domain.errors import Rejected
from stockmesh.ledger.chain import verify_chain
from stockmesh.ledger.sqlite import SqliteEventStore
from stockmesh.service import execute as execute_module
from stockmesh.service import ingest as ingest_module
from stockmesh.service.execute import execute
from stockmesh.service.ingest import ingest_file
from stockmesh.simulation.synthetic_ledger import CommandGenerator
from tests.support.sqlite_ledgers import fresh_store, ledger_contents, workload

CHUNK = 16_384  # bytes: a 3,000-event workload is ~25 chunks


@pytest.fixture(autouse=True)
def small_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(execute_module, "STREAM_EVERY", 300)








def _with_repeats(path: Path) -> list[bytes]:
    """The workload, then a line of it again far from its first (a duplicate, chunks later)."""
    lines = [line for line in path.read_bytes().split(b"\n") if line]
    path.write_bytes(b"\n".join([*lines, lines[40]]) + b"\n")
    return lines


@pytest.mark.parametrize("writer_process", [True, False])
def test_all_or_nothing_in_chunks_writes_the_ledger_one_chunk_does(tmp_path: Path, writer_process: bool,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    path = workload(tmp_path)
    lines = _with_repeats(path)
    sizes: list[int] = []
    parse = ingest_module.parse_lines

    def counting(data: bytes, first_line: int = 1) -> Any:
        parsed = parse(data, first_line)
        sizes.append(len(parsed[0]))
        return parsed

    monkeypatch.setattr(ingest_module, "parse_lines", counting)
    chunked, whole = fresh_store(tmp_path, "chunked"), fresh_store(tmp_path, "whole")
    try:
        a = ingest_file(chunked, path, update_views=False, writer_process=writer_process, fingerprint_worker=True,
                        chunk_bytes=CHUNK)
        assert len(sizes) > 10 and max(sizes) < len(lines) / 5  # never all the commands at once
        assert sum(sizes) == len(lines) + 1
        b = ingest_file(whole, path, update_views=False, writer_process=False, chunk_bytes=1 << 30)
        assert (a.applied, a.duplicates, a.events) == (b.applied, b.duplicates, b.events) == (len(lines), 1, a.events)
        assert ledger_contents(tmp_path / "chunked.db") == ledger_contents(tmp_path / "whole.db")
        assert verify_chain(chunked.read_all(), chunked.head()).ok
        again = ingest_file(chunked, path, update_views=False, writer_process=writer_process, chunk_bytes=CHUNK)
        assert again.applied == 0 and again.duplicates == len(lines) + 1
    finally:
        chunked.close()
        whole.close()


@pytest.mark.parametrize("writer_process", [True, False])
def test_a_failure_in_a_late_chunk_writes_nothing(tmp_path: Path, writer_process: bool) -> None:
    path = workload(tmp_path)
    lines = _with_repeats(path)
    store = fresh_store(tmp_path, "l")
    try:
        conflict = orjson.loads(lines[40])
        conflict["qty"] = conflict.get("qty", 1) + 1  # the key of line 41 again, chunks later, another payload
        path.write_bytes(b"\n".join([*lines, orjson.dumps(conflict)]) + b"\n")
        with pytest.raises(Rejected) as refused:
            ingest_file(store, path, update_views=False, writer_process=writer_process, chunk_bytes=CHUNK)
        assert refused.value.errors[0][0] == len(lines) + 1 and "already used" in str(refused.value.errors[0][1])
        # invalid lines in two chunks far apart: both named, nothing written
        path.write_bytes(b"\n".join([b"{oops", *lines, b'{"command": "ShipStock"}']) + b"\n")
        with pytest.raises(Rejected) as invalid:
            ingest_file(store, path, update_views=False, writer_process=writer_process, chunk_bytes=CHUNK)
        assert [line for line, _ in invalid.value.errors] == [1, len(lines) + 2]
        assert ledger_contents(tmp_path / "l.db")["events"] == [] and store.head()[0] == 0
    finally:
        store.close()


def test_the_memory_of_a_chunked_ingest_does_not_grow_with_the_file(tmp_path: Path) -> None:
    path = tmp_path / "pos.jsonl"  # receipts and shipments over 100 positions: the streams do not grow
    CommandGenerator(25, 4, seed=5).write(path, 30_000, kinds="receive_ship")
    size = path.stat().st_size
    store = fresh_store(tmp_path, "l")  # in process: what SQLite holds of the transaction is not Python's heap
    tracemalloc.start()
    try:
        report = ingest_file(store, path, update_views=False, fingerprint_worker=False, writer_process=False,
                             chunk_bytes=32 << 10)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        store.close()
    assert report.events >= 30_000
    assert peak < size / 2, (peak, size)  # before: the whole file parsed at once, 9-28x its size


def test_continue_on_error_lets_another_writer_in_between_parts(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    path = workload(tmp_path)
    store = fresh_store(tmp_path, "l")
    other = SqliteEventStore(str(tmp_path / "l.db"), busy_timeout_s=0.2)  # another process, in effect
    monkeypatch.setattr(ingest_module, "COMMIT_EVERY", 500)
    run = ingest_module.execute
    calls: list[int] = []

    def interleaved(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 3:  # between two parts: the lock is free, a write goes in at once
            execute(other, [parse_command({"command": "RegisterSite", "site": "STORE-LYON-02",
                                           "idempotency_key": "interactive"})])
        return run(*args, **kwargs)

    monkeypatch.setattr(ingest_module, "execute", interleaved)
    try:
        report = ingest_file(store, path, continue_on_error=True, update_views=False, fingerprint_worker=False)
        with sqlite3.connect(tmp_path / "l.db") as conn:
            (position,) = conn.execute("SELECT first_position FROM idempotency WHERE key = 'interactive'").fetchone()
        assert 0 < position < report.events  # in the middle of the file's events, not after them
        assert verify_chain(store.read_all(), store.head()).ok
    finally:
        other.close()
        store.close()

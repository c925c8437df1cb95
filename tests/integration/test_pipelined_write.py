"""A big ingest's SQL runs in a writer process (``ledger.bulk.writer``) while this one decides: it
writes exactly the ledger the in-process write does, and when anything goes wrong (a rule broken
mid-batch, the writer killed, another writer holding the lock) nothing of the batch is written and
the ledger takes the next write as usual."""

from __future__ import annotations

import os
import signal
import sqlite3
from pathlib import Path
from typing import Any

import orjson
import pytest

from stockmesh.domain.errors import LedgerError, Rejected
from stockmesh.ledger.bulk.writer import PipelinedWriteSession, can_pipeline, pipelined_write
from stockmesh.ledger.chain import verify_chain
from stockmesh.ledger.sqlite import SqliteEventStore
from stockmesh.service import execute as execute_module
from stockmesh.service.execute import execute
from stockmesh.service.ingest import ingest_file, parse_lines, read_file
from tests.support.sqlite_ledgers import fresh_store, ledger_contents, workload


@pytest.fixture(autouse=True)
def small_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(execute_module, "STREAM_EVERY", 300)  # many parts, even in a small file








def _chain_ok(store: SqliteEventStore) -> bool:
    return verify_chain(store.read_all(), store.head()).ok


@pytest.mark.parametrize("fingerprint_worker", [True, False])
def test_the_writer_process_writes_the_ledger_the_in_process_write_does(tmp_path: Path,
                                                                         fingerprint_worker: bool) -> None:
    path = workload(tmp_path)
    lines = path.read_bytes().split(b"\n")
    with path.open("ab") as handle:  # a duplicate, a bad line, a key reused with another payload
        handle.write(lines[0] + b"\n{oops\n" + lines[0].replace(b'"kind":"dc"', b'"kind":"store"') + b"\n")
    piped, local = fresh_store(tmp_path, "piped"), fresh_store(tmp_path, "local")
    try:
        # twice each: the second time every command is a duplicate and nothing is written
        reports = [ingest_file(store, path, continue_on_error=True, update_views=False,
                               fingerprint_worker=fingerprint_worker, writer_process=use)
                   for store, use in ((piped, True), (local, False), (piped, True), (local, False))]
        assert [(r.applied, r.duplicates, r.events, [line for line, _ in r.rejected]) for r in reports[:2]] == [
            (reports[1].applied, reports[1].duplicates, reports[1].events, [line for line, _ in reports[1].rejected])
        ] * 2
        assert [line for line, _ in reports[0].rejected] == [len(lines) + 1, len(lines) + 2]
        assert reports[0].events > 3 * 300  # it went to the writer in many parts
        assert reports[2].applied == 0 and reports[2].duplicates == reports[0].applied + reports[0].duplicates
        assert ledger_contents(tmp_path / "piped.db") == ledger_contents(tmp_path / "local.db")
        assert _chain_ok(piped)
        # the state cache and the next in-process write carry on from the writer's commit
        more = [c for c in parse_lines(read_file(path))[0]][:5]
        assert {o.status for o in execute(piped, more)} == {"duplicate"}
    finally:
        piped.close()
        local.close()


def test_a_rule_broken_mid_batch_writes_nothing(tmp_path: Path) -> None:
    path = workload(tmp_path)
    with path.open("a") as handle:  # the last line ships more than there is
        sku, site = "SKU-0000", "DC-00"
        handle.write(orjson.dumps({"command": "ShipStock", "idempotency_key": "too-much", "sku": sku,
                                   "site": site, "qty": 10**9}).decode() + "\n")
    store = fresh_store(tmp_path, "piped")
    try:
        with pytest.raises(Rejected):
            ingest_file(store, path, update_views=False, writer_process=True)
        assert ledger_contents(tmp_path / "piped.db")["events"] == []
        assert store.head()[0] == 0
        # the writer let go of the lock: the same file without its bad line goes in
        path.write_text("".join(path.read_text().splitlines(keepends=True)[:-1]))
        assert ingest_file(store, path, update_views=False, writer_process=True).events > 0
        assert _chain_ok(store)
    finally:
        store.close()


def test_a_killed_writer_writes_nothing_and_the_next_write_goes_in(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    path = workload(tmp_path)
    stream = PipelinedWriteSession.stream
    parts: list[int] = []

    def kill_after_two_parts(self: PipelinedWriteSession, *args: Any) -> None:
        stream(self, *args)
        parts.append(1)
        if len(parts) == 2:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    monkeypatch.setattr(PipelinedWriteSession, "stream", kill_after_two_parts)
    store = fresh_store(tmp_path, "piped")
    try:
        with pytest.raises(LedgerError, match="writer process stopped"):
            ingest_file(store, path, update_views=False, writer_process=True)
        assert ledger_contents(tmp_path / "piped.db")["events"] == []
        monkeypatch.setattr(PipelinedWriteSession, "stream", stream)
        report = ingest_file(store, path, update_views=False, writer_process=True)
        assert report.events > 0 and store.head()[0] == report.events
        with sqlite3.connect(tmp_path / "piped.db") as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert _chain_ok(store)
    finally:
        store.close()


def test_the_writer_waits_for_another_writer_and_gives_up_cleanly(tmp_path: Path) -> None:
    store = fresh_store(tmp_path, "busy")
    store.close()
    waiting = SqliteEventStore(str(tmp_path / "busy.db"), busy_timeout_s=0.3)
    holder = sqlite3.connect(tmp_path / "busy.db", isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")  # someone else is writing
        with pytest.raises(LedgerError, match="locked"), pipelined_write(waiting):
            pytest.fail("the pipelined write must not start while another writer holds the lock")
        holder.execute("ROLLBACK")
        commands = parse_lines(read_file(workload(tmp_path, 200)))[0]
        outcomes = execute(waiting, commands, write=lambda: pipelined_write(waiting))
        assert all(o.status == "applied" for o in outcomes)
        assert waiting.head()[0] == sum(o.events for o in outcomes)
    finally:
        holder.close()
        waiting.close()


def test_only_sqlite_files_are_pipelined(tmp_path: Path) -> None:
    from stockmesh.ledger.memory import MemoryEventStore

    assert can_pipeline(SqliteEventStore(str(tmp_path / "x.db")))
    assert not can_pipeline(SqliteEventStore(":memory:"))
    assert not can_pipeline(MemoryEventStore())

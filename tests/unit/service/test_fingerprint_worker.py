"""A big ingest's idempotency fingerprints come from a worker process (``service.bulk.fingerprints``):
the ledger it writes is the one the in-process path writes, and a worker that fails or answers
wrongly is caught and costs nothing but time."""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from benchmarks.ledger.config import BenchConfig
from benchmarks.ledger.workload import build_workload
from stockmesh.domain.errors import Rejected
from stockmesh.ledger.codec import command_fingerprint
from stockmesh.ledger.sqlite import SqliteEventStore
from stockmesh.service.bulk import fingerprints
from stockmesh.service.bulk.fingerprints import FingerprintWorker, decode_answer, fingerprint_lines
from stockmesh.service.ingest import ingest_file, parse_lines


def _file(tmp_path: Path, extra: list[str] = ()) -> Path:  # type: ignore[assignment]
    """A generated valid workload, then ``extra`` lines (bad ones, repeated keys...)."""
    cfg = BenchConfig(skus=20, sites=3, single=1, reserve=1)
    wl = build_workload(tmp_path / "w.jsonl", cfg, 1_500, seed=11)
    with wl.path.open("a") as handle:
        for line in extra:
            handle.write(line + "\n")
    return wl.path


def _first_line(path: Path) -> dict[str, Any]:
    return orjson.loads(path.read_bytes().split(b"\n")[2])  # a RegisterSite or RegisterSku


def _ledger(db: Path) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """The idempotency records and the events, without the times and hashes of the write."""
    with sqlite3.connect(db) as conn:
        keys = conn.execute("SELECT key, payload_hash, first_position, last_position FROM idempotency "
                            "ORDER BY key").fetchall()
        events = conn.execute("SELECT position, stream_id, version, type, data, metadata FROM events "
                              "ORDER BY position").fetchall()
    return keys, events


def _ingest(tmp_path: Path, name: str, path: Path, worker: bool, **kwargs: Any) -> Any:
    store = SqliteEventStore(str(tmp_path / f"{name}.db"))
    store.init()
    try:
        return ingest_file(store, path, update_views=False, fingerprint_worker=worker, **kwargs)
    finally:
        store.close()


BAD_LINES = [
    "{not json",
    '{"command": "ReceiveStock", "idempotency_key": "bad-1", "sku": "S", "site": "X", "qty": "12"}',
    "",
]


def test_the_worker_fingerprints_the_valid_lines_as_the_ingest_does(tmp_path: Path) -> None:
    data = _file(tmp_path, BAD_LINES).read_bytes()
    commands, _, _, errors = parse_lines(data)
    assert len(errors) == 2
    assert fingerprint_lines(data) == [command_fingerprint(c) for c in commands]


def test_ingest_with_the_worker_writes_the_same_ledger(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    answers: list[list[str] | None] = []
    result = FingerprintWorker.result

    def spy(self: FingerprintWorker, commands: Any, wait: bool = True) -> list[str] | None:
        answers.append(result(self, commands, wait))
        return answers[-1]

    monkeypatch.setattr(FingerprintWorker, "result", spy)
    path = _file(tmp_path)
    repeat = orjson.dumps(_first_line(path)).decode()
    conflict = orjson.dumps({**_first_line(path), "kind": "supplier"} if "kind" in _first_line(path)
                            else {**_first_line(path), "unit_cost": 99.5}).decode()
    with path.open("a") as handle:
        handle.write("\n".join([repeat, *BAD_LINES, conflict]) + "\n")
    with_worker = _ingest(tmp_path, "worker", path, True, continue_on_error=True)
    in_process = _ingest(tmp_path, "inproc", path, False, continue_on_error=True)
    assert answers and answers[-1] is not None  # the worker's fingerprints were the ones used
    assert (with_worker.applied, with_worker.duplicates, with_worker.events) == (
        in_process.applied, in_process.duplicates, in_process.events)
    assert with_worker.duplicates == 1  # the repeated line
    # the two bad lines and the conflicting payload, each at its own line
    assert [(line, type(e).__name__) for line, e in with_worker.rejected] == [
        (line, type(e).__name__) for line, e in in_process.rejected]
    assert [type(e).__name__ for _, e in with_worker.rejected][-1] == "IdempotencyConflict"
    assert _ledger(tmp_path / "worker.db") == _ledger(tmp_path / "inproc.db")
    assert len(_ledger(tmp_path / "worker.db")[0]) == with_worker.applied


def test_a_conflicting_key_rejects_the_batch_with_the_worker(tmp_path: Path) -> None:
    path = _file(tmp_path)
    line = _first_line(path)
    changed = {**line, "kind": "supplier"} if "kind" in line else {**line, "unit_cost": 99.5}
    with path.open("a") as handle:
        handle.write(orjson.dumps(changed).decode() + "\n")
    with pytest.raises(Rejected) as caught:
        _ingest(tmp_path, "worker", path, True)
    assert type(caught.value.errors[0][1]).__name__ == "IdempotencyConflict"
    assert _ledger(tmp_path / "worker.db") == ([], [])  # nothing written


@pytest.mark.parametrize("script", [
    "import sys; sys.stdin.buffer.read(); sys.exit(3)",  # dies
    "import sys; sys.stdin.buffer.read(); sys.stdout.write('2\\n' + 'ab' * 32)",  # too few
    "import sys; sys.exit(0)",  # never reads its input
])
def test_a_failing_worker_costs_time_not_correctness(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     script: str) -> None:
    path = _file(tmp_path)
    monkeypatch.setattr(FingerprintWorker, "argv", (sys.executable, "-c", script))
    report = _ingest(tmp_path, "broken", path, True)
    _ingest(tmp_path, "inproc", path, False)
    assert report.applied > 0
    assert _ledger(tmp_path / "broken.db") == _ledger(tmp_path / "inproc.db")


def test_an_answer_that_does_not_line_up_is_refused(tmp_path: Path) -> None:
    commands = parse_lines(_file(tmp_path).read_bytes())[0]
    prints = [command_fingerprint(c) for c in commands]

    def answer(items: list[str]) -> bytes:
        return b"%d\n" % len(items) + "".join(items).encode()

    assert decode_answer(answer(prints), commands) == prints
    shifted = prints[1:] + prints[:1]  # one line lost at the start, the count still right
    assert decode_answer(answer(shifted), commands) is None
    swapped = list(prints)
    swapped[-1], swapped[-2] = swapped[-2], swapped[-1]  # the last one is always checked
    assert decode_answer(answer(swapped), commands) is None
    assert decode_answer(answer(prints[:-1]), commands) is None
    assert decode_answer(b"x\n" + answer(prints), commands) is None


def test_only_big_files_get_a_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(fingerprints.THRESHOLD_ENV, raising=False)
    monkeypatch.setattr(fingerprints.os, "cpu_count", lambda: 2)
    assert not fingerprints.worth_a_worker(fingerprints.MIN_BYTES - 1)
    assert fingerprints.worth_a_worker(fingerprints.MIN_BYTES)
    monkeypatch.setenv(fingerprints.THRESHOLD_ENV, "0")  # always
    assert fingerprints.worth_a_worker(1)
    monkeypatch.setenv(fingerprints.THRESHOLD_ENV, "-1")  # never
    assert not fingerprints.worth_a_worker(10 * fingerprints.MIN_BYTES)
    monkeypatch.setenv(fingerprints.THRESHOLD_ENV, "lots")  # not a number: the default
    assert fingerprints.worth_a_worker(fingerprints.MIN_BYTES)
    monkeypatch.setattr(fingerprints.os, "cpu_count", lambda: 1)
    monkeypatch.setenv(fingerprints.THRESHOLD_ENV, "0")
    assert not fingerprints.worth_a_worker(10 * fingerprints.MIN_BYTES)

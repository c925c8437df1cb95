"""Ingesting a JSON-lines file of commands: write all of it or nothing (or, with
``continue_on_error``, exactly the valid lines), then bring the read models up to date.

A file is read, parsed and decided a chunk at a time (``command_file.CHUNK_BYTES`` of whole lines),
so memory does not grow with the file (see docs/commands.md for the bound):
- all or nothing: the chunks go into one transaction, each written (or handed to the writer
  process) once it is decided; an invalid line or a refused command anywhere rolls the whole file
  back. A file bigger than one chunk is first read once for its idempotency keys, so that a key
  given again chunks later is recognised without keeping every key (``repeated_keys``);
- ``continue_on_error``: each line stands alone, so every ``COMMIT_EVERY`` commands are a
  transaction of their own and the ledger's write lock is let go between them: other writers (the
  API, another ingest) wait for one such part, not for the file. If the ingest stops half way
  (killed, the disk full), the parts before are written; ingesting the same file again writes the
  rest, the written lines being recognised by their idempotency keys.

Why all or nothing stays one transaction, holding the write lock while it decides and writes: the
hash chain forbids taking events back, so a file committed in parts could not be rolled back when
a later part fails or the process is killed, and readers would see half a file meanwhile.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import orjson

from stockmesh.domain.commands import Command
from stockmesh.domain.errors import InvalidInput, LedgerError, Problem, Rejected, StockmeshError
from stockmesh.ledger.bulk.writer import can_pipeline, pipelined_write
from stockmesh.ledger.port import EventStore
from stockmesh.projections.runner import catch_up
from stockmesh.service.bulk import command_file
from stockmesh.service.bulk.command_file import file_size, parse_lines, read_chunks, read_file, split_lines
from stockmesh.service.bulk.fingerprints import FingerprintWorker, worth_a_worker
from stockmesh.service.execute import BatchRejected, Chunk, Outcome, execute, execute_chunks

__all__ = ["IngestReport", "describe", "ingest_file", "parse_lines", "read_file"]


@dataclass(slots=True)
class IngestReport:
    applied: int = 0
    duplicates: int = 0
    events: int = 0
    rejected: list[tuple[int, StockmeshError]] = field(default_factory=list)  # (line, error)

    @property
    def ok(self) -> bool:
        return not self.rejected

    def add(self, outcomes: list[Outcome], lines: list[int]) -> None:
        for o in outcomes:
            if o.status == "applied":
                self.applied += 1
                self.events += o.events
            elif o.status == "duplicate":
                self.duplicates += 1
            elif o.error is not None:
                self.rejected.append((lines[o.index], o.error))


class _InvalidLines(Exception):
    """Raised into the transaction at the first chunk with invalid lines: it rolls back, and the
    rest of the file is checked outside the write lock."""


def _refused(errors: list[tuple[int, StockmeshError]]) -> Rejected:
    """The file refused: each problem by its line (``errors[n]`` unpacks as ``line, error``)."""
    return Rejected([Problem(line, error) for line, error in errors], summary=f"{len(errors)} invalid line(s)")


def describe(error: StockmeshError) -> str:
    """An error as one line naming its field; the caller names the line."""
    message = error.message if isinstance(error, InvalidInput) else str(error)
    field_name = getattr(error, "field", None)
    return f"field '{field_name}': {message}" if field_name else message


COMMIT_EVERY = 10_000  # commands per transaction with continue_on_error (about half a second of the lock)


def _part_of(worker: FingerprintWorker, commands: list[Command], start: int, count: int,
             wait: bool) -> Sequence[str] | None:
    """The fingerprints of ``commands[start:start + count]`` from the worker's answer for all of them."""
    prints = worker.result(commands, wait)
    return None if prints is None else prints[start:start + count]


def repeated_keys(path: Path, chunk_bytes: int | None = None) -> Callable[[str], bool]:
    """Whether a key may appear on more than one line of the file: one cheap pass that keeps 8 bytes
    per line (the key's hash); a hash seen twice marks its keys (a collision only costs a key
    remembered for nothing)."""
    hashes = array("q")
    for first_line, data in read_chunks(path, chunk_bytes):
        for raw in split_lines(data, at_start=first_line == 1):
            try:
                obj = orjson.loads(raw)
            except orjson.JSONDecodeError:
                continue  # blank or invalid: the parse reports it
            key = obj.get("idempotency_key") if isinstance(obj, dict) else None
            if isinstance(key, str):
                hashes.append(hash(key))
    ordered = np.sort(np.frombuffer(hashes, dtype=np.int64)) if hashes else np.zeros(0, dtype=np.int64)
    del hashes
    twice = set(ordered[1:][ordered[1:] == ordered[:-1]].tolist())
    return lambda key: hash(key) in twice


def ingest_file(store: EventStore, path: Path, *, continue_on_error: bool = False,
                progress: Callable[[int], None] | None = None, update_views: bool = True,
                fingerprint_worker: bool | None = None, writer_process: bool | None = None,
                chunk_bytes: int | None = None) -> IngestReport:
    """``fingerprint_worker``: have a second process fingerprint each chunk's commands while this
    one decides them; ``writer_process``: have another seal and insert them meanwhile (SQLite files,
    ``ledger.bulk.writer``). None: each when the file is big enough and there is a second core.
    ``chunk_bytes``: the chunk size (``command_file.CHUNK_BYTES`` by default)."""
    size = file_size(path)
    big = worth_a_worker(size)
    workers = big if fingerprint_worker is None else fingerprint_worker
    write = (partial(pipelined_write, store)
             if can_pipeline(store) and (big if writer_process is None else writer_process) else None)
    metadata = {"source": f"ingest:{path.name}"}
    report = IngestReport()
    if continue_on_error:
        every = COMMIT_EVERY
        for first_line, data in read_chunks(path, chunk_bytes):
            worker = FingerprintWorker(data) if workers else None
            try:
                commands, _, lines, errors = parse_lines(data, first_line)
                del data
                report.rejected += [(e.line or 0, e) for e in errors]
                whole = first_line == 1 and len(commands) <= every and size <= (chunk_bytes or command_file.CHUNK_BYTES)
                for start in range(0, max(1, len(commands)), every):
                    part = commands[start:start + every]
                    prints = None if worker is None else partial(_part_of, worker, commands, start, len(part))
                    try:  # a transaction per part: other writers wait for one part at most
                        outcomes = execute(store, part, all_or_nothing=False, metadata=metadata, fingerprints=prints,
                                           write=write if whole else None)
                    except LedgerError as exc:
                        if first_line > 1 or start:
                            raise LedgerError(
                                f"{exc} (from line {lines[start]} on nothing was written, the lines before were: "
                                f"ingest the same file again to write the rest; the written lines count as "
                                f"duplicates)") from exc
                        raise
                    report.add(outcomes, lines[start:start + every])
            finally:
                if worker is not None:
                    worker.close()
    else:
        invalid: list[tuple[int, StockmeshError]] = []
        current: list[list[int]] = [[]]  # the lines of the chunk being decided
        chunks = read_chunks(path, chunk_bytes)

        def decided() -> Iterator[Chunk]:
            for first_line, data in chunks:
                worker = FingerprintWorker(data) if workers else None
                try:
                    commands, _, lines, errors = parse_lines(data, first_line)
                    del data
                    if errors:
                        invalid.extend((e.line or 0, e) for e in errors)
                        raise _InvalidLines
                    current[0] = lines
                    yield commands, None if worker is None else partial(worker.result, commands)
                finally:
                    if worker is not None:
                        worker.close()

        try:
            execute_chunks(store, decided(), lambda outcomes: report.add(outcomes, current[0]), metadata=metadata,
                           write=write, repeats=repeated_keys(path, chunk_bytes) if size > (chunk_bytes or command_file.CHUNK_BYTES)
                           else None)
        except BatchRejected as exc:
            raise _refused([(current[0][exc.index], exc.error)]) from exc
        except _InvalidLines:
            for first_line, data in chunks:  # rolled back; the rest of the file outside the lock
                invalid.extend((e.line or 0, e) for e in parse_lines(data, first_line)[3])
            raise _refused(invalid) from None
    if update_views:
        catch_up(store, progress=progress)
    report.rejected.sort(key=lambda item: item[0])
    return report

"""Ingesting a JSON-lines file of commands: validate every line first, then write all or nothing
(or, with ``continue_on_error``, exactly the valid lines), then bring the read models up to date."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from stockmesh.domain.errors import InvalidInput, StockmeshError
from stockmesh.ledger.port import EventStore
from stockmesh.ledger.writer import can_pipeline, pipelined_write
from stockmesh.projections.runner import catch_up
from stockmesh.service.command_file import parse_lines, read_file
from stockmesh.service.execute import BatchRejected, execute
from stockmesh.service.fingerprints import FingerprintWorker, worth_a_worker

__all__ = ["IngestRejected", "IngestReport", "describe", "ingest_file", "parse_lines", "read_file"]


@dataclass(slots=True)
class IngestReport:
    applied: int = 0
    duplicates: int = 0
    events: int = 0
    rejected: list[tuple[int, StockmeshError]] = field(default_factory=list)  # (line, error)

    @property
    def ok(self) -> bool:
        return not self.rejected


class IngestRejected(StockmeshError):
    """The file had invalid lines (or a command that broke a rule) and nothing was written."""

    def __init__(self, errors: list[tuple[int, StockmeshError]]) -> None:
        self.errors = errors
        super().__init__(f"{len(errors)} invalid line(s); nothing written")


def describe(error: StockmeshError) -> str:
    """An error as one line naming its field; the caller names the line."""
    message = error.message if isinstance(error, InvalidInput) else str(error)
    field_name = getattr(error, "field", None)
    return f"field '{field_name}': {message}" if field_name else message


def ingest_file(store: EventStore, path: Path, *, continue_on_error: bool = False,
                progress: Callable[[int], None] | None = None, update_views: bool = True,
                fingerprint_worker: bool | None = None, writer_process: bool | None = None) -> IngestReport:
    """``fingerprint_worker``: have a second process fingerprint the commands while this one
    decides them; ``writer_process``: have another seal and insert them meanwhile (SQLite files,
    ``ledger.writer``). None: each when the file is big enough and there is a second core."""
    data = read_file(path)
    big = worth_a_worker(len(data))
    worker = FingerprintWorker(data) if (big if fingerprint_worker is None else fingerprint_worker) else None
    write = (partial(pipelined_write, store)
             if can_pipeline(store) and (big if writer_process is None else writer_process) else None)
    try:
        commands, payloads, lines, errors = parse_lines(data)
        del data
        invalid: list[tuple[int, StockmeshError]] = [(e.line or 0, e) for e in errors]
        if invalid and not continue_on_error:
            raise IngestRejected(invalid)
        try:
            outcomes = execute(store, commands, all_or_nothing=not continue_on_error,
                               metadata={"source": f"ingest:{path.name}"},
                               fingerprints=None if worker is None else partial(worker.result, commands),
                               write=write)
        except BatchRejected as exc:
            raise IngestRejected([(lines[exc.index], exc.error)]) from exc
    finally:
        if worker is not None:
            worker.close()
    if update_views:
        catch_up(store, progress=progress)
    report = IngestReport(rejected=invalid)
    for o in outcomes:
        if o.status == "applied":
            report.applied += 1
            report.events += o.events
        elif o.status == "duplicate":
            report.duplicates += 1
        elif o.error is not None:
            report.rejected.append((lines[o.index], o.error))
    report.rejected.sort(key=lambda item: item[0])
    return report

"""Rebuilding the read models on several cores: one process per partition of the streams.

Every read model is a fold per stream (a stock position, a document), so streams can be folded
independently. The streams are cut into ranges of stream ids holding about as many events each
(``partitions``, at quantiles of a sample of the events); each worker reads the events of its
range (the database filters them, see ``read_fold_rows(streams=...)``), folds them with the same
``ViewFolder`` as ``catch_up``, and writes the rows into *staging* read models (tables
``VIEW_rebuild``). When every worker has finished, one transaction puts them in place of the live
read models (SQLite renames them, PostgreSQL copies them) and sets the checkpoint: until then the
live read models are untouched (still consistent with their own checkpoint), so a crash or a kill
at any point leaves them as they were, and the next replay drops the staging a crash left behind.
Events appended while the workers run are folded afterwards by an ordinary ``catch_up`` (see
``rebuild.replay``, the caller). The workers open the stores with the function the caller passes
(``bootstrap.open_spec``; it reaches them by reference, its module and name): this module knows
no concrete store.
"""

from __future__ import annotations

import importlib
import json
import os
import queue as queue_module
import subprocess
import sys
import threading
from collections.abc import Callable
from typing import IO, Any

from stockmesh.domain.errors import LedgerError
from stockmesh.ledger.bulk.gc_pause import gc_paused
from stockmesh.ledger.port import EventStore, Rebuildable, ReopenSpec
from stockmesh.projections.fold import ViewFolder

Progress = Callable[[int], None]
PARALLEL_MIN_EVENTS = 250_000  # below this, starting processes costs more than it saves
Spec = ReopenSpec
StoreOpener = Callable[[Spec], Any]  # a spec (``reopen_spec()``) -> the store it names, open


def default_workers(store: EventStore) -> int:
    """How many processes a replay of ``store`` uses: one per core (at most 4) for a ledger large
    enough to gain from it, on a backend other processes can open; else 1 (fold in this process)."""
    configured = os.environ.get("STOCKMESH_REPLAY_WORKERS")
    if configured:
        return max(1, int(configured))
    if (not isinstance(store, Rebuildable) or getattr(store, "path", None) == ":memory:"
            or store.head()[0] < PARALLEL_MIN_EVENTS):
        return 1
    return max(1, min(4, os.cpu_count() or 1))


def opener_reference(open_spec: StoreOpener) -> list[str]:
    """How a worker finds ``open_spec``: its module and name (a function at a module's top level)."""
    module, name = getattr(open_spec, "__module__", None), getattr(open_spec, "__qualname__", "")
    if not module or not name or "<" in name:
        raise ValueError(f"open_spec must be a function at the top level of a module, not {open_spec!r}")
    return [module, name]


def resolve_opener(reference: list[str]) -> StoreOpener:
    module, name = reference
    target: Any = importlib.import_module(module)
    for part in name.split("."):
        target = getattr(target, part)
    return target  # type: ignore[no-any-return]


def partitions(sample: list[str], count: int) -> list[tuple[str | None, str | None]]:
    """``count`` ranges [low, high) of stream ids (None: unbounded) that cover every string and hold
    about as many events each, cut at quantiles of a sample of the events' streams (a stream is
    never split, so a stream heavier than a share leaves fewer ranges)."""
    ordered = sorted(sample)
    bounds: list[str] = []
    for k in range(1, count):
        cut = ordered[k * len(ordered) // count] if ordered else None
        if cut is not None and (not bounds or cut > bounds[-1]) and cut > ordered[0]:
            bounds.append(cut)
    edges: list[str | None] = [None, *bounds, None]
    return [(edges[i], edges[i + 1]) for i in range(len(edges) - 1)]


def sample_size(events: int) -> int:
    """Events whose streams place the cuts between partitions: 5,000 up to a million events (0.01 s;
    the largest partition ~0.7 % over its share with two workers, measured), growing to 20,000 from
    four million, where balance is worth more than the 0.1 s the sample costs."""
    return min(20_000, max(5_000, events // 200))


def fold_partition(open_spec: StoreOpener, source_spec: Spec, target_spec: Spec,
                   streams: tuple[str | None, str | None], upto: int, batch_size: int,
                   report: Callable[[int], None]) -> int:
    """Fold the events up to ``upto`` of the streams in ``streams`` (a range of ids), read from the
    store ``open_spec(source_spec)`` opens, into the staging read models of the store
    ``open_spec(target_spec)`` opens; ``report`` hears each batch's size. Returns the events folded."""
    source, target = open_spec(source_spec), open_spec(target_spec)
    try:
        folder = ViewFolder(target, fresh=True)
        after = total = 0
        while True:
            with gc_paused():  # reading a batch builds a few hundred thousand tuples: no cycles among them
                rows = source.read_fold_rows(after=after, limit=batch_size, upto=upto, streams=streams)
            if not rows:
                with gc_paused():
                    target.save_views(folder.flush(), after)
                return total
            with gc_paused():  # and saving builds as many parameter tuples as the fold built rows
                changes = folder.fold(rows)
                after = rows[-1][0]
                target.save_views(changes, after)
            folder.saved(after)
            total += len(rows)
            report(len(rows))
    finally:
        source.close()
        target.close()


def _pump(index: int, stream: IO[str], messages: queue_module.Queue[tuple[int, str]]) -> None:
    for line in stream:
        messages.put((index, line))
    messages.put((index, ""))  # end of output


def parallel_replay(store: Any, workers: int, *, open_spec: StoreOpener, progress: Progress | None = None,
                    batch_size: int = 200_000, stats: dict[str, Any] | None = None) -> int:
    """Rebuild every read model of ``store`` up to its head with ``workers`` processes, which open
    the stores with ``open_spec``; return the events folded (the caller catches up the events
    appended meanwhile).

    The workers are fresh interpreters (``python -m stockmesh.projections.parallel``), not forks:
    nothing of this process (threads, open connections, the caller's ``__main__``) goes with them.
    They are started first and import while this process cuts the ranges and prepares the staging
    read models; each then reads its job (one JSON line) from its stdin.
    ``stats``, when given, receives ``worker_peak_rss_kib``: each worker's own peak RSS (VmHWM)."""
    opener = opener_reference(open_spec)
    processes: list[subprocess.Popen[str]] = []
    messages: queue_module.Queue[tuple[int, str]] = queue_module.Queue()
    folded = 0
    try:
        for index in range(workers):
            process = subprocess.Popen([sys.executable, "-m", "stockmesh.projections.parallel"],
                                       stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                       text=True)
            processes.append(process)
            assert process.stdout is not None
            threading.Thread(target=_pump, args=(index, process.stdout, messages), daemon=True).start()
        upto = store.head()[0]
        ranges = partitions(store.sample_stream_ids(sample_size(upto), upto), workers)
        targets = store.prepare_staging(len(ranges))
        source = store.reopen_spec()
        for index, process in enumerate(processes):
            # a range per worker; a heavy stream can leave fewer ranges than workers: the rest exit
            job = ({"opener": opener, "source": source, "target": targets[index].reopen_spec(),
                    "streams": ranges[index], "upto": upto, "batch_size": batch_size} if index < len(ranges) else {})
            assert process.stdin is not None
            try:
                process.stdin.write(json.dumps(job) + "\n")
                process.stdin.close()
            except BrokenPipeError:
                pass  # the worker died before reading: its exit code and stderr say why, below
        open_outputs = len(processes)
        while open_outputs:
            index, line = messages.get()
            if not line:
                open_outputs -= 1
            elif line.startswith("P "):
                count = int(line[2:])
                folded += count
                if progress:
                    progress(count)
            elif line.startswith("M ") and stats is not None:
                stats.setdefault("worker_peak_rss_kib", []).append(int(line[2:]))
        for index, process in enumerate(processes):
            if process.wait() != 0:
                error = process.stderr.read() if process.stderr else ""
                raise LedgerError(f"replay worker {index} failed (exit code {process.returncode}): {error[-2000:]}")
    except BaseException:
        for process in processes:
            if process.poll() is None:
                process.kill()
            process.wait()
        store.drop_staging()
        raise
    finally:
        for process in processes:
            for stream in (process.stdin, process.stdout, process.stderr):
                if stream is not None and not stream.closed:
                    try:
                        stream.close()
                    except OSError:  # a worker that died early: its stdin pipe is broken
                        pass
    if folded != upto:
        store.drop_staging()
        raise LedgerError(f"replay workers folded {folded} events of {upto}")
    store.swap_in_staging(upto)
    return folded


def main() -> int:
    """A worker: read one job (JSON) from stdin, fold it, report progress ("P n") and peak RSS ("M kib")."""
    job = json.loads(sys.stdin.readline() or "{}")
    if not job:
        return 0  # more workers than ranges: nothing to do

    def spec(value: list[Any]) -> Spec:
        backend, args, kwargs = value
        return backend, tuple(args), kwargs

    def report(count: int) -> None:
        print(f"P {count}", flush=True)

    low, high = job["streams"]
    fold_partition(resolve_opener(job["opener"]), spec(job["source"]), spec(job["target"]), (low, high),
                   int(job["upto"]), int(job["batch_size"]), report)
    print(f"M {_peak_rss_kib()}", flush=True)
    return 0


def _peak_rss_kib() -> int:
    """This process's own peak resident set (VmHWM; exec resets it, unlike ru_maxrss)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    import resource

    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


if __name__ == "__main__":
    sys.exit(main())

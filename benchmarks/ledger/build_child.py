"""Child program of the large replay: build a SQLite ledger of ~N events in chunks.

    python benchmarks/ledger/build_child.py DB EVENTS SKUS SITES SEED CHUNK_LINES

Run in a process of its own so the benchmark's process stays small. It prints ``P <n>`` progress
lines and one ``R <json>`` line with the events, commands, chunks and timings.
"""

from __future__ import annotations

import gc
import json
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from stockmesh.simulation.synthetic_ledger import CommandGenerator


def build_large_ledger(db: Path, target_events: int, *, skus: int, sites: int, seed: int, chunk_lines: int,
                       progress: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Build a SQLite ledger of ~``target_events`` events: generate ``chunk_lines`` commands at a
    time and ingest each chunk (``update_views=False``), one transaction per chunk."""
    from stockmesh.ledger.sqlite import SqliteEventStore
    from stockmesh.service.ingest import ingest_file

    chunk = db.with_name(db.name + ".chunk.jsonl")
    gen = CommandGenerator(skus, sites, seed=seed, prefix="m")
    store = SqliteEventStore(str(db))
    store.init()
    events = commands = chunks = 0
    generate_s = ingest_s = 0.0
    try:
        while events < target_events:
            started = time.perf_counter()
            n_commands, n_events = gen.write(chunk, target_events - events, max_lines=chunk_lines)
            generate_s += time.perf_counter() - started
            started = time.perf_counter()
            report = ingest_file(store, chunk, update_views=False)
            ingest_s += time.perf_counter() - started
            if report.events != n_events or report.rejected:
                raise RuntimeError(f"chunk {chunks + 1} did not apply as generated")
            events += n_events
            commands += n_commands
            chunks += 1
            if progress:
                progress(n_events)
            del report
            gc.collect()
    finally:
        store.close()
        chunk.unlink(missing_ok=True)
    return {"events": events, "commands": commands, "chunks": chunks, "chunk_lines": chunk_lines,
            "generate_seconds": generate_s, "build_ingest_seconds": ingest_s,
            "build_append_events_per_s": events / ingest_s if ingest_s else None,
            "build_process_peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}



def main(argv: list[str]) -> None:
    db, target, skus, sites, seed, chunk_lines = argv[:6]

    def progress(n: int) -> None:
        print("P", n, flush=True)

    out = build_large_ledger(Path(db), int(target), skus=int(skus), sites=int(sites), seed=int(seed),
                             chunk_lines=int(chunk_lines), progress=progress)
    print("R", json.dumps(out), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])

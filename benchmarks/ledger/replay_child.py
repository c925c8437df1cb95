"""Child program of the large replay: replay the SQLite ledger ``argv[1]`` in this fresh process.

Only the store and the replay are imported, so the RSS it reports is the replay's own. It prints
``P <n>`` progress lines and one ``R <json>`` line with the events, seconds, workers and peak RSS.
"""

import json
import resource
import sys
import time


def hwm_kib() -> int | None:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def main(path: str) -> None:
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    baseline_hwm = hwm_kib()
    from stockmesh.bootstrap import open_spec
    from stockmesh.ledger.sqlite import SqliteEventStore
    from stockmesh.projections.parallel import default_workers
    from stockmesh.projections.rebuild import replay

    store = SqliteEventStore(path)

    def progress(n: int) -> None:
        print("P", n, flush=True)

    workers = default_workers(store)
    started = time.perf_counter()
    stats: dict[str, list[int]] = {}
    events = replay(store, progress=progress, workers=workers, stats=stats, open_spec=open_spec)
    seconds = time.perf_counter() - started
    store.close()
    print("R", json.dumps({"events": events, "seconds": seconds, "workers": workers,
                           "peak_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                           "worker_peak_rss_kib": stats.get("worker_peak_rss_kib", []),
                           "rss_after_imports_kib": baseline, "vm_hwm_kib": hwm_kib(),
                           "vm_hwm_after_imports_kib": baseline_hwm}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1])

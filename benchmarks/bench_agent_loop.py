"""Benchmark of the full agent loop through the ledger.

    python benchmarks/bench_agent_loop.py [--sites 10] [--skus 1000] [--days 365] [--db sqlite|memory]

Builds the throughput world of ``bench_twin.py`` (the smooth scenario widened to N stores x M
SKUs, no warm-up), then runs, in the same process: the agents policy in the array twin (the peer:
no ledger, no governance) and the same policy through the whole loop (world reports recorded as
ledger commands, proposals, the governance policy's guardrails, ledger execution, outcomes).
Prints SKU-site-days per second, events written per second, wall and CPU seconds, and whether the
two runs agree (they must: every proposal is reviewed, queued ones approved the same day).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import tempfile
import time
from pathlib import Path

# The twin's matrix products are small ([7 x days] @ [days x rows]): OpenBLAS threads only spin
# there, and on a 2-core machine they fight the ledger's checkpoint thread for the second core
# (the weekday index took 13 ms a day with threads, 2 ms without; results are identical). Set
# before numpy loads, for the peer and the loop alike.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sites", type=int, default=10)
    parser.add_argument("--skus", type=int, default=1000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--db", choices=("sqlite", "memory"), default="sqlite")
    parser.add_argument("--policy", type=Path, default=REPO / "policies" / "default.yaml")
    args = parser.parse_args()

    from stockmesh.governance.policy import load_policy_text
    from stockmesh.ledger.memory import MemoryEventStore
    from stockmesh.ledger.sqlite import SqliteEventStore
    from stockmesh.projections.runner import catch_up
    from stockmesh.simulation.build import build_world
    from stockmesh.simulation.kpis import compute_kpis
    from stockmesh.simulation.ledger_twin import LedgerTwin
    from stockmesh.simulation.scenario import load_scenario
    from stockmesh.simulation.simulate import make_policy, simulate

    scenario = load_scenario(REPO / "scenarios" / "smooth.yaml")
    template = scenario.stores[0]
    stores = tuple(dataclasses.replace(template, id=f"STORE-{i + 1:02d}") for i in range(args.sites))
    scenario = dataclasses.replace(
        scenario, stores=stores, skus=dataclasses.replace(scenario.skus, count=args.skus),
        horizon=dataclasses.replace(scenario.horizon, warmup_days=0, measured_days=args.days))
    spec = build_world(scenario, 1)
    row_days = spec.n_rows * args.days

    started = time.perf_counter()
    peer = simulate(spec, "agents")
    peer_wall = time.perf_counter() - started

    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteEventStore(str(Path(tmp) / "loop.db")) if args.db == "sqlite" else MemoryEventStore()
        store.init()
        policy = load_policy_text(args.policy.read_text())
        twin = LedgerTwin(spec, make_policy("agents", spec), store, policy, run_id="bench")
        started, cpu = time.perf_counter(), time.process_time()
        world = twin.run()
        loop_wall, loop_cpu = time.perf_counter() - started, time.process_time() - cpu
        events = twin.stats.events_after - twin.stats.events_before
        started = time.perf_counter()
        catch_up(store)
        views_wall = time.perf_counter() - started
        kpis = compute_kpis(world)
        store.close()

    result = {
        "command": "python benchmarks/bench_agent_loop.py " + " ".join(
            f"--{k} {v}" for k, v in vars(args).items() if k != "policy"),
        "machine": {"cpus": os.cpu_count(), "openblas_threads": os.environ["OPENBLAS_NUM_THREADS"], "python": platform.python_version(),
                    "processor": platform.processor() or platform.machine()},
        "date": time.strftime("%Y-%m-%d"),
        "rows": spec.n_rows, "days": args.days, "sku_site_days": row_days,
        "array_twin": {"wall_s": round(peer_wall, 2), "sku_site_days_per_s": round(row_days / peer_wall)},
        "agent_loop": {"wall_s": round(loop_wall, 2), "cpu_s": round(loop_cpu, 2),
                       "sku_site_days_per_s": round(row_days / loop_wall),
                       "events": events, "events_per_s": round(events / loop_wall),
                       "proposals": twin.stats.proposals, "auto_approved": twin.stats.approved,
                       "queued": twin.stats.queued, "failed": twin.stats.failed},
        "read_models_catch_up_s": round(views_wall, 2),
        "same_kpis": abs(kpis["total_cost"] - peer.kpis["total_cost"]) < 1e-6 * max(1.0, peer.kpis["total_cost"]),
        "target": "full loop <= 120 s (about 30,000 SKU-site-days/s)",
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

"""Digital-twin benchmark: decision quality over scenarios x seeds x policies, and throughput.

    python benchmarks/bench_twin.py quality [--seeds 1 2 3 4 5] [--scenarios smooth ...] [--json out.json]
    python benchmarks/bench_twin.py throughput [--sites 10 --skus 1000 --days 365]

``quality`` prints a Markdown table: per scenario and policy, mean and spread (sample standard
deviation over seeds) of the fill rate and total cost, and the agents' cost ratios against each
baseline with the issue's "must" bounds. ``throughput`` times the agents policy through the world.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SCENARIOS = ("smooth", "intermittent", "promotions", "supplier-outage", "random-lead-times", "default")
POLICIES = ("minmax", "reorder-level", "oracle", "hindsight", "agents")
# acceptance figures per scenario: (fill rate, cost / minmax, cost / reorder-level, cost / oracle); None = not required
MUST = {
    "smooth": (0.99, 0.85, 0.55, 1.15),
    "intermittent": (0.99, 0.45, 0.20, 1.25),
    "promotions": (0.99, 0.45, 0.15, 1.25),
    "supplier-outage": (0.97, 0.85, 0.50, 1.05),
    "random-lead-times": (0.99, 0.95, 0.40, 1.10),
    "default": (0.98, 0.85, None, None),
}


def spread(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def quality(scenarios: list[str], seeds: list[int], policies: list[str], out: Path | None) -> None:
    from stockmesh.simulation.build import build_world
    from stockmesh.simulation.scenario import load_scenario
    from stockmesh.simulation.simulate import simulate

    runs = []
    for name in scenarios:
        scenario = load_scenario(REPO / "scenarios" / f"{name}.yaml")
        for seed in seeds:
            spec = build_world(scenario, seed)
            for policy in policies:
                result = simulate(spec, policy)
                row = result.headline() | {"elapsed_seconds": result.elapsed_seconds}
                runs.append(row)
                print(f"# {name} seed {seed} {policy}: fill {row['fill_rate']:.4f} cost {row['total_cost']:,.0f} "
                      f"({result.elapsed_seconds:.1f} s)", flush=True)
    if out:
        out.write_text(json.dumps(runs, indent=1))
    report(runs, scenarios, seeds, policies)


def report(runs: list[dict], scenarios: list[str], seeds: list[int], policies: list[str]) -> None:
    by = {(r["scenario"], r["seed"], r["policy"]): r for r in runs}
    print("\n| scenario | policy | fill rate mean ± sd | total cost mean ± sd | bullwhip (mean) |")
    print("|---|---|---|---|---|")
    for name in scenarios:
        for policy in policies:
            rows = [by[(name, s, policy)] for s in seeds if (name, s, policy) in by]
            if not rows:
                continue
            fill, fill_sd = spread([r["fill_rate"] for r in rows])
            cost, cost_sd = spread([r["total_cost"] for r in rows])
            echelons = rows[0]["bullwhip"].keys()
            whip = ", ".join(f"{e} {statistics.fmean(r['bullwhip'][e] for r in rows):.2f}" for e in echelons)
            print(f"| {name} | {policy} | {fill:.2%} ± {fill_sd:.2%} | {cost:,.0f} ± {cost_sd:,.0f} | {whip} |")
    if "agents" not in policies:
        return
    print("\n| scenario | agents fill rate (must) | cost / minmax (must) | cost / reorder-level (must) "
          "| cost / oracle (must) | cost / hindsight | verdict |")
    print("|---|---|---|---|---|---|---|")
    for name in scenarios:
        agents = [by[(name, s, "agents")] for s in seeds if (name, s, "agents") in by]
        if not agents:
            continue
        must = MUST.get(name, (None, None, None, None))
        fill, fill_sd = spread([r["fill_rate"] for r in agents])
        cells = [f"{fill:.2%} ± {fill_sd:.2%} (>= {must[0]:.0%})" if must[0] else f"{fill:.2%}"]
        ok = must[0] is None or fill >= must[0]
        for index, base in enumerate(("minmax", "reorder-level", "oracle", "hindsight"), start=1):
            ratios = [by[(name, s, "agents")]["total_cost"] / by[(name, s, base)]["total_cost"]
                      for s in seeds if (name, s, base) in by and (name, s, "agents") in by]
            if not ratios:
                cells.append("—")
                continue
            mean, sd = spread(ratios)
            bound = must[index] if index < len(must) else None
            cells.append(f"{mean:.3f} ± {sd:.3f}" + (f" (<= {bound})" if bound else ""))
            if bound is not None and mean > bound:
                ok = False
        print(f"| {name} | " + " | ".join(cells) + f" | {'meets' if ok else 'MISSES'} |")


def throughput(sites: int, skus: int, days: int) -> None:
    from stockmesh.simulation.build import build_world
    from stockmesh.simulation.scenario import load_scenario
    from stockmesh.simulation.simulate import simulate

    scenario = load_scenario(REPO / "scenarios" / "smooth.yaml")
    template = scenario.stores[0]
    stores = tuple(dataclasses.replace(template, id=f"STORE-{i + 1:02d}") for i in range(sites))
    scenario = dataclasses.replace(
        scenario, stores=stores, skus=dataclasses.replace(scenario.skus, count=skus),
        horizon=dataclasses.replace(scenario.horizon, warmup_days=0, measured_days=days))
    started = time.perf_counter()
    spec = build_world(scenario, 1)
    built = time.perf_counter() - started
    result = simulate(spec, "agents")
    row_days = spec.n_rows * days
    print(f"world: {sites} sites x {skus} SKUs x {days} days = {row_days:,} SKU-site-days; built in {built:.1f} s")
    print(f"agents policy through the simulated world: {result.elapsed_seconds:.1f} s, "
          f"{row_days / result.elapsed_seconds:,.0f} SKU-site-days/s; fill {result.kpis['fill_rate']:.4f}")
    result = simulate(spec, "minmax")
    print(f"minmax through the simulated world: {result.elapsed_seconds:.1f} s, "
          f"{row_days / result.elapsed_seconds:,.0f} SKU-site-days/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    q = sub.add_parser("quality")
    q.add_argument("--scenarios", nargs="+", default=list(SCENARIOS))
    q.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3, 4, 5])
    q.add_argument("--policies", nargs="+", default=list(POLICIES))
    q.add_argument("--json", type=Path, default=None)
    t = sub.add_parser("throughput")
    t.add_argument("--sites", type=int, default=10)
    t.add_argument("--skus", type=int, default=1000)
    t.add_argument("--days", type=int, default=365)
    args = parser.parse_args()
    if args.command == "quality":
        quality(args.scenarios, args.seeds, args.policies, args.json)
    else:
        throughput(args.sites, args.skus, args.days)


if __name__ == "__main__":
    main()

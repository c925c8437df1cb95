"""Allocation, rebalancing and consolidation benchmarks: decision quality in the twin (five seeds) and solver speed at scale.

    nice -n 5 .venv/bin/python benchmarks/bench_allocation.py quality [--seeds 1 2 3 4 5]
    nice -n 5 .venv/bin/python benchmarks/bench_allocation.py speed [--skus 10000 --sites 50]

``quality`` runs four experiments, each on five seeds, every policy of an experiment on the same
world (common random numbers):

- imbalance: agents vs agents + rebalancing (lateral transfers);
- dc-shortage: the DC's stock shared proportionally, by fair share (days of cover), by the one-day
  LP, and by the horizon LP (ships today what the interval until the DC's next receipt calls for,
  keeps the rest for the stores that will need it more); ``agents`` alone is the world's own
  proportional rationing on un-rounded requests;
- consolidation: agents (each SKU on its own, blind to shipment costs), agents pricing a whole
  shipment per SKU, agents + joint replenishment with truck fill;
- supplier-outage with an expedited mode on every lane (an overlay of ``scenarios/supplier-outage.yaml``
  that adds lanes with ``expedited: {lead_time_factor: 0.34, cost_per_unit: 0.5, cost_per_shipment: 40}``
  and leaves the standard mode free, as in the original): agents vs agents + expediting.

``speed`` times allocation (5 DCs x 9 stores) and rebalancing (45 stores, 4 lateral lanes each)
on a synthetic network of SKUs x sites, per SKU blocks, and reports time per solve and fallbacks.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from stockmesh.planning.allocation import AllocationProblem, allocate  # noqa: E402
from stockmesh.planning.allocation.rebalance import Lanes, RebalanceProblem, rebalance  # noqa: E402
from stockmesh.simulation.build import build_world  # noqa: E402
from stockmesh.simulation.policies.allocating import (  # noqa: E402
    AgentsWithAllocation,
    AgentsWithHorizonAllocation,
)
from stockmesh.simulation.policies.consolidating import (  # noqa: E402
    AgentsOwnShipment,
    AgentsWithExpediting,
    JointReplenishment,
)
from stockmesh.simulation.policies.transshipping import AgentsWithRebalancing  # noqa: E402
from stockmesh.simulation.scenario import Scenario, load_scenario, parse_scenario  # noqa: E402
from stockmesh.simulation.simulate import simulate  # noqa: E402

EXPEDITED = {"lead_time_factor": 0.34, "cost_per_unit": 0.5, "cost_per_shipment": 40}


def outage_with_expediting() -> Scenario:
    raw = yaml.safe_load((REPO / "scenarios" / "supplier-outage.yaml").read_text())
    raw["network"]["lanes"] = [{"from": s["id"], "to": st["id"], "expedited": dict(EXPEDITED)}
                               for s in raw["network"]["suppliers"] for st in raw["network"]["stores"]]
    return parse_scenario(raw, default_name="supplier-outage+expedited")


EXPERIMENTS: dict[str, tuple[Callable[[], Scenario], list[tuple[str, Callable[[], Any]]]]] = {
    "imbalance": (lambda: load_scenario(REPO / "scenarios" / "imbalance.yaml"), [
        ("agents", lambda: "agents"), ("agents+rebalancing", AgentsWithRebalancing)]),
    "dc-shortage": (lambda: load_scenario(REPO / "scenarios" / "dc-shortage.yaml"), [
        ("agents (world rations)", lambda: "agents"),
        ("agents+proportional", lambda: AgentsWithAllocation("proportional")),
        ("agents+fair-share", lambda: AgentsWithAllocation("fair-share")),
        ("agents+lp", lambda: AgentsWithAllocation("lp")),
        ("agents+horizon-lp", AgentsWithHorizonAllocation)]),
    "consolidation": (lambda: load_scenario(REPO / "scenarios" / "consolidation.yaml"), [
        ("agents", lambda: "agents"), ("agents-own-shipment", AgentsOwnShipment),
        ("agents+consolidation", JointReplenishment)]),
    "supplier-outage+expedited": (outage_with_expediting, [
        ("agents", lambda: "agents"), ("agents+expediting", AgentsWithExpediting)]),
}


def quality(seeds: list[int], names: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in names:
        make_scenario, policies = EXPERIMENTS[name]
        scenario = make_scenario()
        runs: dict[str, list[dict[str, float]]] = {label: [] for label, _ in policies}
        for seed in seeds:
            spec = build_world(scenario, seed)
            for label, make in policies:
                started = time.perf_counter()
                policy = make()
                result = simulate(spec, policy)
                k = result.kpis
                totals = result.world.totals
                runs[label].append({
                    "seed": seed, "fill_rate": k["fill_rate"], "lost_sales_units": k["lost_sales_units"],
                    "total_cost": k["total_cost"], "transport_cost": k["transport_cost"],
                    "holding_cost": k["holding_cost"], "stockout_cost": k["stockout_cost"],
                    "ordering_cost": k["ordering_cost"], "trucks": float(totals.trucks.sum()),
                    "lateral_units": float(totals.lateral_units.sum()),
                    "expedited_units": float(totals.expedited_units.sum()),
                    "seconds": time.perf_counter() - started,
                    "solves": float(getattr(getattr(policy, "stats", policy), "solves", 0) or 0),
                    "fallbacks": float(getattr(getattr(policy, "stats", policy), "fallbacks", 0) or 0),
                })
                print(f"{name} seed {seed} {label}: fill {k['fill_rate']:.4f} lost {k['lost_sales_units']:.0f} "
                      f"cost {k['total_cost']:,.0f}", flush=True)
        out[name] = runs
    return out


def _mean_sd(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def quality_table(results: dict[str, Any]) -> str:
    lines = ["| scenario | policy | fill rate mean ± sd | lost sales (units) | total cost mean ± sd | transport | "
             "holding | cost / first policy (per seed, mean) |", "|---|---|---|---|---|---|---|---|"]
    for name, runs in results.items():
        labels = list(runs)
        reference = runs[labels[0]]
        for label in labels:
            rows = runs[label]
            fill = _mean_sd([r["fill_rate"] for r in rows])
            cost = _mean_sd([r["total_cost"] for r in rows])
            lost = statistics.fmean(r["lost_sales_units"] for r in rows)
            ratio = statistics.fmean(r["total_cost"] / ref["total_cost"] for r, ref in zip(rows, reference, strict=True))
            lines.append(f"| {name} | {label} | {fill[0]:.2%} ± {fill[1]:.2%} | {lost:,.0f} | {cost[0]:,.0f} ± "
                         f"{cost[1]:,.0f} | {statistics.fmean(r['transport_cost'] for r in rows):,.0f} | "
                         f"{statistics.fmean(r['holding_cost'] for r in rows):,.0f} | {ratio:.3f} |")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------- speed
def speed(n_skus: int, n_sites: int, seed: int, time_budget: float) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    n_dcs = max(n_sites // 10, 1)
    n_stores = n_sites - n_dcs
    # allocation: each DC supplies n_stores / n_dcs stores; a third of the (DC, SKU) pairs are short
    stores_per_dc = n_stores // n_dcs
    n_groups = n_skus * n_dcs
    group = np.repeat(np.arange(n_groups), stores_per_dc)
    n = group.size
    daily = rng.uniform(0.2, 8, n)
    horizon = rng.integers(3, 11, n) + 7.0
    position = np.floor(daily * horizon * rng.uniform(0, 1, n))
    requested = np.ceil(np.maximum(daily * horizon * 1.5 - position, 0))
    asked = np.bincount(group, weights=requested, minlength=n_groups)
    available = np.floor(asked * np.where(rng.random(n_groups) < 1 / 3, rng.uniform(0.3, 0.95, n_groups), 1.2))
    penalty = rng.uniform(0.5, 100, n_skus)[np.repeat(np.arange(n_skus), n_dcs * stores_per_dc) % n_skus]
    problem = AllocationProblem(group=group, requested=requested, available=available, position=position,
                                demand_mean=daily * horizon, demand_sd=np.sqrt(daily * 2 * horizon),
                                shortage_cost=penalty, overage_cost=penalty * 0.01, daily_demand=daily)
    started = time.perf_counter()
    result = allocate(problem, "lp", time_limit=5.0, block_groups=400)
    allocation_seconds = time.perf_counter() - started
    started = time.perf_counter()
    greedy = allocate(problem, "greedy")
    greedy_seconds = time.perf_counter() - started
    lp_cost = float(result.expected_cost_after.sum())
    greedy_cost = float(greedy.expected_cost_after.sum())

    # rebalancing among the stores: each store linked to 4 neighbours; stock around its need
    sku = np.repeat(np.arange(n_skus), n_stores)
    site = np.tile(np.arange(n_stores), n_skus)
    rows = sku.size
    mean = rng.uniform(0.2, 8, rows)
    lead = rng.integers(3, 11, rows).astype(np.float64) + 1
    stock = np.floor(mean * lead * rng.lognormal(np.log(1.4), 0.45, rows))
    source, destination = [], []
    for a in range(n_stores):
        for step in (1, 2, -1, -2):
            source.append(a)
            destination.append((a + step) % n_stores)
    m = len(source)
    lanes = Lanes(source=np.array(source), destination=np.array(destination), cost_per_unit=np.full(m, 0.05),
                  cost_per_shipment=np.full(m, 8.0), capacity=np.full(m, 5000.0), transit_days=np.ones(m),
                  min_shipment=np.ones(m))
    rebalance_problem = RebalanceProblem(
        sku=sku, site=site, on_hand=stock, stock_in_horizon=stock, demand_mean=mean,
        demand_sd=np.sqrt(mean * 1.5), horizon_days=lead, safety_stock=1.3 * np.sqrt(mean * 1.5 * lead),
        shortage_cost=rng.uniform(0.5, 100, n_skus)[sku], lanes=lanes, n_sites=n_stores)
    started = time.perf_counter()
    moved = rebalance(rebalance_problem, time_limit=2.0, block_skus=25, time_budget=time_budget, hurdle=1.0)
    rebalance_seconds = time.perf_counter() - started
    solves = np.array(result.solve_seconds)
    mip = np.array(moved.solve_seconds)
    return {
        "skus": n_skus, "sites": n_sites, "dcs": n_dcs, "stores": n_stores,
        "allocation": {"requests": int(n), "short_sources": int(result.short_groups.sum()),
                       "seconds": allocation_seconds, "blocks": result.blocks,
                       "seconds_per_block_mean": float(solves.mean()) if solves.size else 0.0,
                       "seconds_per_block_p95": float(np.percentile(solves, 95)) if solves.size else 0.0,
                       "fallback_blocks": result.fallback_blocks,
                       "lp_cost": lp_cost, "greedy_cost": greedy_cost, "greedy_seconds": greedy_seconds},
        "rebalancing": {"rows": int(rows), "lanes": m, "candidate_skus": moved.candidate_skus,
                        "screen_seconds": moved.screen_seconds, "seconds": rebalance_seconds,
                        "blocks": moved.blocks, "fallback_blocks": moved.fallback_blocks,
                        "fallback_reason": moved.fallback_reason,
                        "seconds_per_block_mean": float(mip.mean()) if mip.size else 0.0,
                        "seconds_per_block_p95": float(np.percentile(mip, 95)) if mip.size else 0.0,
                        "transfers": len(moved.transfers), "units": int(moved.transfers.qty.sum()),
                        "expected_value": float(moved.transfers.expected_value.sum())},
        "total_seconds": allocation_seconds + rebalance_seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="what", required=True)
    q = sub.add_parser("quality")
    q.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    q.add_argument("--experiments", nargs="+", default=list(EXPERIMENTS), choices=list(EXPERIMENTS))
    q.add_argument("--out", default="reports/bench_allocation_quality.json")
    s = sub.add_parser("speed")
    s.add_argument("--skus", type=int, default=10_000)
    s.add_argument("--sites", type=int, default=50)
    s.add_argument("--seed", type=int, default=1)
    s.add_argument("--time-budget", type=float, default=40.0, help="seconds for all rebalancing MIP blocks")
    s.add_argument("--out", default="reports/bench_allocation_speed.json")
    args = parser.parse_args()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    if args.what == "quality":
        results = quality(args.seeds, args.experiments)
        Path(args.out).write_text(json.dumps(results, indent=1))
        print(quality_table(results))
    else:
        figures = speed(args.skus, args.sites, args.seed, args.time_budget)
        Path(args.out).write_text(json.dumps(figures, indent=1))
        print(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()

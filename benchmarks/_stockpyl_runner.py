"""Runs stockpyl on the policy instances; executed by bench_policies.py inside .venv-stockpyl.

Usage: python _stockpyl_runner.py INSTANCES.jsonl REPEATS  -> one JSON line per instance:
{"id", "answer": {...}, "median_ms"}. Not part of stockmesh; stockpyl needs numpy < 2.
"""

from __future__ import annotations

import json
import statistics
import sys
import time

from scipy import optimize
from stockpyl import gsm_tree, newsvendor, rq, ss, ssm_serial
from stockpyl.demand_source import DemandSource
from stockpyl.supply_chain_network import network_from_edges


def solve(record: dict) -> dict:
    kind, demand = record["type"], record.get("demand", {})
    h, p = record.get("holding_cost"), record.get("stockout_cost")
    if kind == "newsvendor":
        if demand["dist"] == "normal":
            level, cost = newsvendor.newsvendor_normal(
                h, p, demand["mean"], demand["sd"], lead_time=record["lead_time"]
            )
        else:
            level, cost = newsvendor.newsvendor_poisson(h, p, demand["mean"] * (record["lead_time"] + 1))
        return {"base_stock": level, "expected_cost": cost}
    if kind == "sS":
        s, S, cost = ss.s_s_discrete_exact(h, p, record["fixed_cost"], True, demand_mean=demand["mean"])
        return {"s": int(s), "S": int(S), "expected_cost": cost}
    if kind == "rQ":
        K, L = record["fixed_cost"], record["lead_time"]
        if demand["dist"] == "poisson":
            r, Q, cost = rq.r_q_poisson_exact(h, p, K, demand["rate"], L)
            return {"r": int(r), "Q": int(Q), "expected_cost": cost}
        mean, sd = demand["mean"], demand["sd"]

        def cost_for(Q: float) -> float:
            r = rq.r_q_optimal_r_for_q(Q, h, p, mean, sd, L)
            return rq.r_q_cost(r, Q, h, p, K, mean, sd, L)

        eoq = (2 * K * mean / h) ** 0.5
        best = optimize.minimize_scalar(cost_for, bounds=(eoq / 10, eoq * 10), method="bounded")
        Q = float(best.x)
        return {"r": rq.r_q_optimal_r_for_q(Q, h, p, mean, sd, L), "Q": Q, "expected_cost": float(best.fun)}
    if kind == "serial":
        stages = record["stages"]
        n = len(stages)
        if demand["dist"] == "normal":
            source = DemandSource(type="N", mean=demand["mean"], standard_deviation=demand["sd"])
        else:
            source = DemandSource(type="P", mean=demand["mean"])
        levels, cost = ssm_serial.optimize_base_stock_levels(
            num_nodes=n,
            echelon_holding_cost=[s["echelon_holding_cost"] for s in reversed(stages)],
            lead_time=[s["lead_time"] for s in reversed(stages)],
            stockout_cost=record["stockout_cost"],
            demand_source=source,
        )
        return {"echelon_base_stock": [levels[j] for j in range(1, n + 1)], "expected_cost": cost}
    if kind == "gsm_tree":
        nodes = record["nodes"]
        index = {node["id"]: i + 1 for i, node in enumerate(nodes)}
        edges = [(index[node["id"]], index[s]) for node in nodes for s in node.get("successors", [])]
        order = [index[node["id"]] for node in nodes]
        big = 10**9
        tree = network_from_edges(
            edges,
            node_order_in_lists=order,
            processing_time=[node["processing_time"] for node in nodes],
            holding_cost=[node["holding_cost"] for node in nodes],
            external_inbound_cst=[node.get("external_inbound_cst", 0) for node in nodes],
            external_outbound_cst=[node.get("external_outbound_cst", big) for node in nodes],
            demand_bound_constant=record["demand_bound_constant"],
            demand_source=[
                DemandSource(
                    type="N", mean=node["demand"].get("mean", 0), standard_deviation=node["demand"]["sd"]
                )
                if node.get("demand")
                else None
                for node in nodes
            ],
        )
        cst, cost = gsm_tree.optimize_committed_service_times(tree)
        names = {i: node_id for node_id, i in index.items()}
        return {
            "committed_service_times": {names[i]: int(v) for i, v in sorted(cst.items())},
            "expected_cost": cost,
        }
    raise ValueError(kind)


def main() -> None:
    path, repeats = sys.argv[1], int(sys.argv[2])
    with open(path, encoding="utf-8") as handle:
        records = [json.loads(line) for line in handle if line.strip()]
    for record in records:
        times = []
        try:
            for _ in range(repeats):
                start = time.perf_counter()
                answer = solve(record)
                times.append((time.perf_counter() - start) * 1000)
            line = {"id": record["id"], "answer": answer, "median_ms": statistics.median(times)}
        except Exception as exc:  # stockpyl failing on an instance is a result to report, not a crash
            line = {"id": record["id"], "error": f"{type(exc).__name__}: {exc}"}
        print(json.dumps(line, default=float), flush=True)


if __name__ == "__main__":
    main()

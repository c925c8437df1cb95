"""Policy benchmarks. Run: nice -n 5 .venv/bin/python benchmarks/bench_policies.py

(a) compute_policies on 1,000,000 SKU x site rows (normal, Poisson, negative binomial and
    empirical-quantile rows; cycle-service and fill-rate targets; all four policy kinds; pack, MOQ and
    capacity rounding): median of 3 runs and peak RSS, next to a plain per-row Python loop on a
    subsample, extrapolated per row.
(b) the exact solvers on the shared instances next to stockpyl (benchmarks/.venv-stockpyl, made by
    benchmarks/setup_stockpyl.sh), medians of repeated runs, with both answers checked.
Options: --rows N, --loop-rows N, --repeats N, --instances PATH, --skip-stockpyl.
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from scipy import special, stats

from stockmesh.planning.exact.instances import check_answer, solve_instance
from stockmesh.planning.policies import OrderConstraints, PolicyInputs, compute_policies

HERE = Path(__file__).resolve().parent
DEFAULT_INSTANCES = HERE.parent.parent / "shared" / "data" / "policy" / "instances.jsonl"
LEVELS = np.array([0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.975, 0.99])


def make_rows(rows: int, seed: int = 7) -> PolicyInputs:
    """A realistic mix: 55 % normal fast movers, 20 % Poisson, 10 % negative binomial, 15 % empirical."""
    rng = np.random.default_rng(seed)
    model = rng.choice(4, rows, p=[0.55, 0.20, 0.10, 0.15])
    mean = np.where(model == 0, rng.gamma(2.0, 20.0, rows), rng.gamma(0.8, 2.0, rows) + 0.05)
    sd = np.where(
        model == 2, np.sqrt(mean * (1.0 + rng.uniform(0.2, 3.0, rows))), mean * rng.uniform(0.2, 0.8, rows)
    )
    lead = rng.integers(1, 15, rows).astype(float)
    lead_sd = np.where(rng.random(rows) < 0.3, lead * 0.2, 0.0)
    empirical = int((model == 3).sum())
    base = rng.gamma(2.0, 10.0, empirical)
    quantiles = np.sort(base[:, None] * rng.uniform(0.5, 2.5, (empirical, len(LEVELS))), axis=1)
    return PolicyInputs(
        demand_mean=mean,
        demand_sd=sd,
        lead_time_mean=lead,
        lead_time_sd=lead_sd,
        review_period=rng.choice([0.0, 1.0, 7.0], rows),
        service_level=rng.uniform(0.8, 0.995, rows),
        service_target=(rng.random(rows) < 0.25).astype(np.int8),
        demand_model=model.astype(np.int8),
        policy=rng.choice(4, rows).astype(np.int8),
        fixed_order_cost=rng.uniform(0.0, 50.0, rows),
        holding_cost=rng.uniform(0.05, 1.0, rows),
        inventory_position=np.round(rng.normal(1.0, 1.0, rows) * mean * lead),
        constraints=OrderConstraints(
            pack_size=rng.choice([1, 6, 12], rows),
            order_multiple=rng.choice([1, 2], rows),
            minimum_order_quantity=rng.choice([0.0, 24.0, 100.0], rows),
            maximum_order_quantity=np.where(rng.random(rows) < 0.1, 200.0, np.inf),
            supplier_capacity=np.where(rng.random(rows) < 0.2, 500.0, np.inf),
        ),
        empirical_levels=LEVELS,
        empirical_quantiles=quantiles,
    )


def per_row_loop(inputs: PolicyInputs, rows: np.ndarray) -> list[float]:
    """The same chain written as a plain loop, one row at a time (scalar scipy calls)."""
    empirical_index = np.cumsum(np.asarray(inputs.demand_model) == 3) - 1
    quantities = []
    for i in rows:
        mu_d, sd_d = float(inputs.demand_mean[i]), float(inputs.demand_sd[i])
        lead, lead_sd, review = (
            float(inputs.lead_time_mean[i]),
            float(inputs.lead_time_sd[i]),
            float(inputs.review_period[i]),
        )
        alpha, model, kind = (
            float(inputs.service_level[i]),
            int(inputs.demand_model[i]),
            int(inputs.policy[i]),
        )
        fill = int(inputs.service_target[i]) == 1
        K, h = float(inputs.fixed_order_cost[i]), float(inputs.holding_cost[i])
        periods = lead + review
        mean = mu_d * periods
        sd = math.sqrt(periods * sd_d**2 + mu_d**2 * lead_sd**2)
        eoq = math.sqrt(2 * K * mu_d / h) if K * mu_d > 0 else 0.0
        cycle = max(mu_d * review if kind == 0 else max(eoq, mu_d * review), mu_d)
        allowed = (1 - alpha) * cycle
        if model == 3:
            q = inputs.empirical_quantiles[empirical_index[i]]
            level = float(np.interp(alpha, LEVELS, q))
        elif model == 0 or sd == 0:
            if fill:
                z = 0.0
                for _ in range(60):  # bisection on the loss function
                    lo_hi = special.erfc(z / math.sqrt(2)) / 2
                    loss = math.exp(-z * z / 2) / math.sqrt(2 * math.pi) - z * lo_hi
                    z += 0.1 if loss * sd > allowed else -0.1
                level = mean + z * sd
            else:
                level = mean + stats.norm.ppf(alpha) * sd
        elif model == 1 and not (lead_sd > 0 and sd**2 > mean):
            level = float(stats.poisson.ppf(alpha, mean))
        else:
            p = mean / sd**2 if sd**2 > mean else 0.999
            n = mean * p / (1 - p)
            level = float(stats.nbinom.ppf(alpha, n, p))
        position = float(inputs.inventory_position[i])
        lot = max(eoq, 1.0) if kind == 2 else eoq
        target = level + (max(lot, mu_d * review) if kind == 3 else (lot if kind in (1, 2) else 0.0))
        if kind == 0:
            need = target - position
        elif kind == 2:
            need = (math.floor((level - position) / lot) + 1) * lot if position <= level else 0.0
        else:
            need = target - position if position <= level else 0.0
        pack, multiple = int(inputs.constraints.pack_size[i]), int(inputs.constraints.order_multiple[i])
        unit = math.lcm(pack, multiple)
        quantity = math.ceil(need / unit) * unit if need > 0 else 0
        moq = float(inputs.constraints.minimum_order_quantity[i])
        if 0 < quantity < moq:
            quantity = math.ceil(moq / unit) * unit
        cap = min(
            float(inputs.constraints.maximum_order_quantity[i]),
            float(inputs.constraints.supplier_capacity[i]),
        )
        if quantity > cap:
            quantity = math.floor(cap / unit) * unit
        quantities.append(quantity)
    return quantities


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def bench_rows(rows: int, loop_rows: int, repeats: int) -> dict:
    inputs = make_rows(rows)
    rss_inputs = peak_rss_mib()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = compute_policies(inputs)
        times.append(time.perf_counter() - start)
        del result
    median = statistics.median(times)
    sample = np.random.default_rng(1).choice(rows, loop_rows, replace=False)
    start = time.perf_counter()
    per_row_loop(inputs, sample)
    loop_seconds = time.perf_counter() - start
    loop_per_row = loop_seconds / loop_rows
    return {
        "rows": rows,
        "median_s": median,
        "runs_s": times,
        "peak_rss_mib": peak_rss_mib(),
        "rss_after_inputs_mib": rss_inputs,
        "loop_rows": loop_rows,
        "loop_s": loop_seconds,
        "loop_extrapolated_s": loop_per_row * rows,
        "speedup": loop_per_row * rows / median,
    }


def solver_call(record: dict):  # noqa: ANN201
    """The bare solver call for a (valid) instance: what the stockpyl side times, no validation."""
    from stockmesh.planning.exact import (
        GsmNode,
        solve_gsm_tree,
        solve_newsvendor_normal,
        solve_newsvendor_poisson,
        solve_rq_normal,
        solve_rq_poisson,
        solve_serial_normal,
        solve_serial_poisson,
        solve_ss_poisson,
    )

    kind, demand = record["type"], record.get("demand", {})
    h, p = record.get("holding_cost"), record.get("stockout_cost")
    if kind == "newsvendor" and demand["dist"] == "normal":
        return lambda: solve_newsvendor_normal(demand["mean"], demand["sd"], h, p, record["lead_time"])
    if kind == "newsvendor":
        return lambda: solve_newsvendor_poisson(demand["mean"], h, p, record["lead_time"])
    if kind == "sS":
        return lambda: solve_ss_poisson(demand["mean"], h, p, record["fixed_cost"])
    if kind == "rQ" and demand["dist"] == "poisson":
        return lambda: solve_rq_poisson(demand["rate"], h, p, record["fixed_cost"], record["lead_time"])
    if kind == "rQ":
        return lambda: solve_rq_normal(
            demand["mean"], demand["sd"], h, p, record["fixed_cost"], record["lead_time"]
        )
    if kind == "serial":
        holding = [s["echelon_holding_cost"] for s in record["stages"]]
        leads = [s["lead_time"] for s in record["stages"]]
        if demand["dist"] == "poisson":
            return lambda: solve_serial_poisson(holding, leads, p, demand["mean"])
        return lambda: solve_serial_normal(holding, leads, p, demand["mean"], demand["sd"])
    nodes = [
        GsmNode(
            n["id"],
            n["processing_time"],
            n["holding_cost"],
            tuple(n.get("successors", [])),
            (n.get("demand") or {}).get("sd", 0.0),
            n.get("external_inbound_cst", 0),
            n.get("external_outbound_cst"),
        )
        for n in record["nodes"]
    ]
    return lambda: solve_gsm_tree(nodes, record["demand_bound_constant"])


def _median_ms(function, repeats: int) -> float:  # noqa: ANN001
    function()  # warm-up (imports, caches)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def bench_exact(instances: Path, repeats: int, skip_stockpyl: bool) -> list[dict]:
    records = [
        json.loads(line) for line in instances.read_text(encoding="utf-8").splitlines() if line.strip()
    ]
    ours = {}
    for record in records:
        solved = solve_instance(record)
        end_to_end = _median_ms(lambda record=record: solve_instance(record), repeats)
        ours[record["id"]] = (solved, _median_ms(solver_call(record), repeats), end_to_end)
    theirs: dict[str, dict] = {}
    python = HERE / ".venv-stockpyl" / "bin" / "python"
    if not skip_stockpyl and python.exists():
        output = subprocess.run(
            [str(python), str(HERE / "_stockpyl_runner.py"), str(instances), str(repeats)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        theirs = {line["id"]: line for line in map(json.loads, output.splitlines())}
    rows = []
    for record in records:
        solved, our_ms, end_to_end_ms = ours[record["id"]]
        other = theirs.get(record["id"], {})
        other_ok = None
        if "answer" in other and "expected" in record:
            other_ok = not check_answer(other["answer"], record["expected"], record.get("tolerance", {}))
        rows.append(
            {
                "id": record["id"],
                "type": record["type"],
                "ours_ms": our_ms,
                "ours_end_to_end_ms": end_to_end_ms,
                "ours_ok": solved.ok,
                "stockpyl_ms": other.get("median_ms"),
                "stockpyl_ok": other_ok,
                "stockpyl_error": other.get("error"),
                "same_policy": _same_policy(solved.answer, other.get("answer")),
            }
        )
    return rows


def _same_policy(ours: dict, theirs: dict | None) -> bool | None:
    if theirs is None:
        return None
    for key, value in ours.items():
        if key == "expected_cost":
            continue
        other = theirs.get(key)
        if isinstance(value, dict):
            if {k: int(v) for k, v in value.items()} != {k: int(v) for k, v in other.items()}:
                return False
        elif isinstance(value, list):
            if not np.allclose(value, other, atol=0.05):
                return False
        elif abs(float(value) - float(other)) > 0.05:
            return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--loop-rows", type=int, default=5_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--instances", type=Path, default=DEFAULT_INSTANCES)
    parser.add_argument("--skip-stockpyl", action="store_true")
    args = parser.parse_args()

    exact = bench_exact(args.instances, max(args.repeats, 5), args.skip_stockpyl)
    print("## (b) exact solvers vs stockpyl (median ms per instance)")
    print(
        "stockmesh = bare solver call (as timed on the stockpyl side); e2e = solve_instance incl. validation and tolerance check"
    )
    print(
        f"{'id':34} {'type':10} {'stockmesh':>10} {'e2e':>8} {'stockpyl':>10} {'ratio':>8}  ok(ours/stockpyl) same-policy"
    )
    by_type: dict[str, list[tuple[float, float]]] = {}
    for row in exact:
        ratio = row["stockpyl_ms"] / row["ours_ms"] if row["stockpyl_ms"] else float("nan")
        if row["stockpyl_ms"]:
            by_type.setdefault(row["type"], []).append((row["ours_ms"], row["stockpyl_ms"]))
        theirs = f"{row['stockpyl_ms']:10.3f}" if row["stockpyl_ms"] else f"{'n/a':>10}"
        print(
            f"{row['id']:34} {row['type']:10} {row['ours_ms']:10.3f} {row['ours_end_to_end_ms']:8.3f} {theirs} {ratio:8.1f}  "
            f"{row['ours_ok']}/{row['stockpyl_ok']} {row['same_policy']}"
            + (f"  {row['stockpyl_error']}" if row["stockpyl_error"] else "")
        )
    for kind, pairs in by_type.items():
        ours_total = sum(p[0] for p in pairs)
        theirs_total = sum(p[1] for p in pairs)
        worst = min(p[1] / p[0] for p in pairs)
        print(
            f"type {kind:10}: stockmesh {ours_total:9.3f} ms, stockpyl {theirs_total:10.3f} ms, total ratio {theirs_total / ours_total:7.1f}x, worst instance {worst:6.1f}x"
        )

    result = bench_rows(args.rows, args.loop_rows, args.repeats)
    print("\n## (a) compute_policies over SKU x site rows")
    print(json.dumps(result, indent=1))
    print(
        f"{result['rows']:,} rows: median {result['median_s']:.3f} s over {args.repeats} runs; peak RSS "
        f"{result['peak_rss_mib']:.0f} MiB (inputs alone {result['rss_after_inputs_mib']:.0f} MiB); per-row loop "
        f"{result['loop_s']:.2f} s for {result['loop_rows']:,} rows -> {result['loop_extrapolated_s']:.0f} s extrapolated, "
        f"ratio {result['speedup']:.0f}x"
    )
    sys.stdout.flush()


if __name__ == "__main__":
    main()

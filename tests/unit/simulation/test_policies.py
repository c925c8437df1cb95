"""Baselines follow the issue's definitions; the agents policy beats minmax on smooth demand."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from stockmesh.adapters.simulated.world import SimulatedWorld
from stockmesh.simulation.build import build_world
from stockmesh.simulation.policies.baselines import MinMax, ReorderLevel
from stockmesh.simulation.policies.hindsight import grid
from stockmesh.simulation.policies.numerics import negative_binomial_quantile
from stockmesh.simulation.policies.oracle import Oracle
from stockmesh.simulation.scenario import load_scenario, parse_scenario
from stockmesh.simulation.simulate import simulate

REPO = Path(__file__).resolve().parents[3]


def first_observation(small_raw):
    spec = build_world(parse_scenario(small_raw), 4)
    world = SimulatedWorld(spec)
    return spec, world.observe()


def test_minmax_follows_days_of_cover(small_raw) -> None:
    spec, obs = first_observation(small_raw)
    rows = np.flatnonzero(spec.row_echelon == 0)
    decision = MinMax().decide(obs, rows)
    mu = obs.history(56, rows)[0].mean(axis=0)
    lead = spec.lane_lead_time_mean[spec.row_lane[rows]]
    np.testing.assert_array_equal(decision.reorder_point, np.ceil(mu * (lead + 7)))
    np.testing.assert_array_equal(decision.order_up_to, np.ceil(mu * (lead + 21)))
    position = obs.inventory_position[rows]
    expected = np.where(position <= decision.reorder_point, decision.order_up_to - position, 0)
    np.testing.assert_array_equal(decision.order_quantity, expected)


def test_reorder_level_is_fixed_from_the_warm_up(small_raw) -> None:
    spec = build_world(parse_scenario(small_raw), 4)
    policy = ReorderLevel(warmup_days=spec.warmup_days)
    seen = {}

    def decide(obs, rows):
        decision = policy.decide(obs, rows)
        seen[(obs.day, int(rows[0]))] = decision
        return decision.order_quantity

    world = SimulatedWorld(spec)
    world.run(decide)
    store_rows = np.flatnonzero(spec.row_echelon == 0)
    first_measured = spec.first_measured_day
    levels = [seen[(day, int(store_rows[0]))].reorder_point for day in range(first_measured, spec.n_days)]
    assert all(np.array_equal(levels[0], other) for other in levels)
    decision = seen[(first_measured, int(store_rows[0]))]
    mu = decision.inputs["mu"]
    np.testing.assert_array_equal(decision.reorder_point, np.ceil(1.25 * mu * decision.inputs["L"]))
    np.testing.assert_array_equal(decision.order_up_to - decision.reorder_point, np.ceil(14 * mu))


def test_oracle_uses_the_true_lead_time_demand(small_raw) -> None:
    small_raw["network"] = {"suppliers": [{"id": "SUP-OATLY", "lead_time": 4}],
                            "stores": [{"id": "STORE-LYON-01"}]}
    small_raw["demand"]["promotions"] = {}
    spec = build_world(parse_scenario(small_raw), 4)
    obs = SimulatedWorld(spec).observe()
    rows = np.arange(spec.n_rows)
    decision = Oracle(spec).decide(obs, rows)
    day = obs.day
    mean = spec.demand_mean[day + 1: day + 5].sum(axis=0)
    variance = spec.demand_variance[day + 1: day + 5].sum(axis=0)
    np.testing.assert_allclose(decision.inputs["lead_time_demand_mean"], mean, rtol=1e-5)
    ratio = decision.parameters["critical_ratio"]
    np.testing.assert_array_equal(decision.reorder_point, negative_binomial_quantile(mean, variance, ratio))
    daily = mean / 4
    eoq = np.sqrt(2 * spec.order_cost * daily / spec.holding_cost_per_day)
    np.testing.assert_allclose(decision.order_up_to - decision.reorder_point, np.ceil(np.maximum(eoq, daily)))
    expected_ratio = spec.lost_sale_penalty * daily / (
        spec.lost_sale_penalty * daily + spec.holding_cost_per_day * np.maximum(eoq, daily))
    np.testing.assert_allclose(ratio, np.clip(expected_ratio, 0.5, 0.9999))


def test_hindsight_picks_the_cheapest_grid_point(small_raw) -> None:
    small_raw["network"] = {"suppliers": [{"id": "SUP-OATLY", "lead_time": 3}], "stores": [{"id": "STORE-LYON-01"}]}
    spec = build_world(parse_scenario(small_raw), 4)
    best = simulate(spec, "hindsight").kpis["total_cost"]
    s_grid, big_s_grid = grid(spec)
    from stockmesh.simulation.policies.hindsight import StaticSS

    for point in (0, 17, s_grid.shape[0] - 1):
        other = simulate(spec, StaticSS(s_grid[point], big_s_grid[point])).kpis["total_cost"]
        assert best <= other + 1e-6


def test_quantile_matches_scipy() -> None:
    from scipy.stats import nbinom, poisson

    rng = np.random.default_rng(0)
    mean = rng.uniform(0.05, 200, 3000)
    variance = mean * rng.uniform(0.8, 6, 3000)
    probability = rng.uniform(0.5, 0.999, 3000)
    got = negative_binomial_quantile(mean, variance, probability)
    variance = np.maximum(variance, mean)
    over = variance > mean * 1.001
    expected = np.where(over, nbinom.ppf(probability, mean**2 / np.maximum(variance - mean, 1e-12), mean / variance),
                        poisson.ppf(probability, mean))
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("seed", [1, 2])
def test_agents_beat_minmax_on_smooth_demand(seed) -> None:
    scenario = load_scenario(REPO / "scenarios" / "smooth.yaml")
    scenario = replace(scenario, skus=replace(scenario.skus, count=60),
                       horizon=replace(scenario.horizon, measured_days=90))
    spec = build_world(scenario, seed)
    agents = simulate(spec, "agents").kpis
    minmax = simulate(spec, "minmax").kpis
    assert agents["fill_rate"] >= 0.99
    assert agents["total_cost"] <= 0.85 * minmax["total_cost"]


def test_agents_explain_their_orders(small_raw) -> None:
    spec = build_world(parse_scenario(small_raw), 4)
    result = simulate(spec, "agents", record_decisions=True)
    day, decision = result.decisions[0]
    row = int(decision.rows[np.flatnonzero(decision.order_quantity)[0]])
    explanation = result.explain(day, row)
    assert explanation["policy"] == "agents"
    assert explanation["order_quantity"] > 0
    assert {"level", "lead_time_mean", "inventory_position"} <= set(explanation["inputs"])
    assert "critical_ratio" in explanation["parameters"]

"""Allocation over the interval until the DC's next receipt: keeping back, the one-day limit, fallbacks, the twin."""

from __future__ import annotations

import copy
import importlib
from typing import Any

import numpy as np
import pytest
from scipy.optimize import brentq
from scipy.stats import norm

from stockmesh.adapters.simulated.world import SimulatedWorld
from stockmesh.planning.allocation import AllocationInputError, AllocationProblem, allocate
from stockmesh.planning.allocation.horizon import HorizonProblem, allocate_over_horizon, demand_scenarios
from stockmesh.simulation.build import build_world
from stockmesh.simulation.policies.allocating import AgentsWithHorizonAllocation
from stockmesh.simulation.scenario import parse_scenario
from stockmesh.simulation.simulate import simulate

horizon_module = importlib.import_module("stockmesh.planning.allocation.horizon")


def lyon_and_paris(**overrides: object) -> HorizonProblem:
    """DC-LYON holds 25 units of "OAT-MILK-1L"; STORE-LYON-01 (sells 10 a window, lost sale 1) asks for 40
    today; STORE-PARIS-01 (lost sale 3) does not order today, holds 10 for its first window and will need
    15 more before the DC's next receipt. Deterministic demand, so the optimum is known."""
    fields: dict[str, object] = dict(
        group=np.array([0, 0]), requested=np.array([40, 0]), available=np.array([25]),
        position=np.array([0.0, 10.0]), first_mean=np.array([10.0, 10.0]), first_sd=np.zeros(2),
        later_mean=np.array([10.0, 15.0]), later_sd=np.zeros(2), shortage_cost=np.array([1.0, 3.0]))
    fields.update(overrides)
    return HorizonProblem(**fields)  # type: ignore[arg-type]


def test_the_dc_keeps_back_what_a_dearer_store_will_need_before_the_next_receipt() -> None:
    # Paris's 15 are worth 3 each, Lyon's 20 worth 1 each: the DC keeps 15 for Paris, and of Lyon's
    # units the ones it can send today go today (shipping later costs a little more). Proportional
    # ships all 25 to Lyon, the only store asking, and Paris loses 15 sales at 3.
    result = allocate_over_horizon(lyon_and_paris())
    assert result.allocated.tolist() == [10, 0]
    assert result.kept_back.tolist() == [15]
    assert result.expected_lost_after == pytest.approx([10.0, 0.0])
    assert result.expected_lost_before == pytest.approx([20.0, 15.0])
    assert result.shadow_price[0] == pytest.approx(1.0, rel=1e-3)  # one more unit saves a lost sale at Lyon
    assert result.binding.tolist() == ["kept at the source for sites that will need it more", "not ordering today"]
    explained = result.explain(0, 0)
    assert explained["kept_back_at_source"] == 15 and explained["fell_back_to_greedy"] is False
    proportional = allocate(AllocationProblem(group=np.array([0]), requested=np.array([40]), available=np.array([25]),
                                              position=np.zeros(1), demand_mean=np.array([20.0]),
                                              demand_sd=np.zeros(1), shortage_cost=np.ones(1)), "proportional")
    assert proportional.allocated.tolist() == [25]


def test_at_equal_costs_no_unit_is_stranded_where_it_cannot_sell() -> None:
    # Lyon can sell 20 before the receipt: the 21st unit there would sit unsold while Paris runs out
    result = allocate_over_horizon(lyon_and_paris(shortage_cost=np.array([1.0, 1.0])))
    assert result.allocated.tolist() == [20, 0] and result.kept_back.tolist() == [5]


def test_a_receipt_that_is_enough_later_means_the_request_ships_in_full() -> None:
    result = allocate_over_horizon(lyon_and_paris(available=np.array([100])))
    assert result.allocated.tolist() == [40, 0] and not result.at_risk[0]
    assert result.blocks == 0 and result.solved_with.tolist() == ["not short", "not short"]


def kkt_split(total: float, mean: np.ndarray, sd: np.ndarray, p: np.ndarray) -> np.ndarray:
    """min sum p E(D - y)+ s.t. sum y = total: p_i (1 - F_i(y_i)) = lambda for every site."""
    def y_of(lam: float) -> np.ndarray:
        return mean + sd * norm.ppf(1 - lam / p)

    return y_of(brentq(lambda lam: y_of(lam).sum() - total, 1e-9, float(p.min()) - 1e-9))


@pytest.mark.parametrize("available", [60, 120, 150])
def test_without_a_later_window_it_is_the_one_day_critical_ratio_split(available: int) -> None:
    mean, sd, p = np.array([100.0, 60.0]), np.array([30.0, 10.0]), np.array([4.0, 9.0])
    problem = HorizonProblem(group=np.array([0, 0]), requested=np.array([400, 400]), available=np.array([available]),
                             position=np.zeros(2), first_mean=mean, first_sd=sd, later_mean=np.zeros(2),
                             later_sd=np.zeros(2), shortage_cost=p, deferral_cost=0.0)
    # gamma scenarios against the normal optimum: 2,000 stratified draws agree within about a unit
    result = allocate_over_horizon(problem, scenarios=2000)
    assert result.allocated.sum() == available or result.allocated.sum() == available - 1
    assert np.abs(result.allocated - kkt_split(available, mean, sd, p)).max() <= 2.0


def random_problem(seed: int, groups: int = 12) -> HorizonProblem:
    rng = np.random.default_rng(seed)
    group = np.repeat(np.arange(groups), 5)
    n = group.size
    daily = rng.uniform(0.5, 8, n)
    transit, later_days = rng.integers(1, 4, n), rng.integers(0, 12, groups)[group]
    requested = np.where(rng.random(n) < 0.5, rng.integers(1, 60, n), 0)
    return HorizonProblem(
        group=group, requested=requested,
        available=np.floor(np.bincount(group, weights=daily * (transit + later_days)) * rng.uniform(0.2, 1.2, groups)),
        position=np.floor(daily * transit * rng.uniform(0, 1.5, n)), first_mean=daily * transit,
        first_sd=np.sqrt(2 * daily * transit), later_mean=daily * later_days, later_sd=np.sqrt(2 * daily * later_days),
        shortage_cost=rng.uniform(1, 20, n), deferral_cost=0.0, pack_size=rng.choice([1, 1, 4], groups)[group])


@pytest.mark.parametrize("seed", range(8))
def test_plans_respect_every_constraint_and_beat_shipping_the_requests_proportionally(seed: int) -> None:
    problem = random_problem(seed)
    result = allocate_over_horizon(problem, scenarios=30, seed=seed)
    y, pack, requested = result.allocated, np.asarray(problem.pack_size), np.asarray(problem.requested)
    assert (y >= 0).all() and (y % pack == 0).all() and (y <= np.ceil(requested / pack) * pack).all()
    assert (y[requested == 0] == 0).all()
    shipped = np.bincount(problem.group, weights=y, minlength=problem.available.size)
    assert (shipped <= problem.available).all()
    assert (result.kept_back == problem.available - shipped).all()
    # the same scenarios, today's requests shared proportionally and what is left kept for later
    sites = horizon_module._validated(problem)
    rng = np.random.default_rng(seed)
    first = demand_scenarios(sites.first_mean, sites.first_sd, 30, rng)
    later = demand_scenarios(sites.later_mean, sites.later_sd, 30, rng)
    share = allocate(AllocationProblem(group=problem.group, requested=requested, available=problem.available,
                                       position=problem.position, demand_mean=problem.first_mean,
                                       demand_sd=problem.first_sd, shortage_cost=problem.shortage_cost,
                                       pack_size=problem.pack_size), "proportional").allocated.astype(float)
    kept = problem.available - np.bincount(problem.group, weights=share, minlength=problem.available.size)
    lost = horizon_module._lost_with_best_recourse(sites, share, kept, first, later)
    rounding = float((sites.shortage * sites.pack).sum())  # each site may lose one pack to rounding down
    assert result.expected_cost_after.sum() <= (lost * sites.shortage).sum() + rounding


def test_demand_scenarios_match_their_moments() -> None:
    draws = demand_scenarios(np.array([5.0, 40.0, 0.0]), np.array([3.0, 8.0, 0.0]), 4000, np.random.default_rng(1))
    assert draws.mean(axis=1) == pytest.approx([5.0, 40.0, 0.0], abs=0.05)
    assert draws.std(axis=1) == pytest.approx([3.0, 8.0, 0.0], abs=0.1)
    assert (draws >= 0).all()


def test_a_solve_that_hits_its_time_limit_falls_back_to_the_one_day_greedy(monkeypatch: pytest.MonkeyPatch) -> None:
    class TimedOut:
        status, x, message = 1, None, "Time limit reached"

    monkeypatch.setattr(horizon_module, "linprog", lambda *a, **k: TimedOut())
    result = allocate_over_horizon(lyon_and_paris(), time_limit=0.001)
    assert result.fell_back and result.fallback_blocks == result.blocks == 1
    assert "time limit" in (result.fallback_reason or "")
    # the greedy shares today's requests only: Lyon gets what it can sell, nothing is kept for Paris
    assert result.allocated.tolist() == [20, 0]
    assert result.solved_with.tolist() == ["greedy (fallback)"] * 2


@pytest.mark.parametrize(("change", "field"), [
    ({"shortage_cost": np.array([-1.0, 2.0])}, "shortage_cost"),
    ({"group": np.array([0, 3])}, "group"),
    ({"later_sd": np.array([np.nan, 1.0])}, "later_sd"),
    ({"requested": np.array([-5, 3])}, "requested"),
    ({"position": np.array([np.inf, 0.0])}, "position"),
])
def test_bad_inputs_are_refused_naming_the_field(change: dict[str, object], field: str) -> None:
    with pytest.raises(AllocationInputError) as info:
        allocate_over_horizon(lyon_and_paris(**change))
    assert info.value.field == field


DC_OUTAGE: dict[str, Any] = {
    "name": "dc-outage-small", "seed": 4,
    "horizon": {"history_days": 28, "warmup_days": 14, "measured_days": 50},
    "initial_cover_days": 6,
    "network": {
        "suppliers": [{"id": "SUP-OATLY", "lead_time": {"uniform": [5, 8]}, "reliability": 0.7,
                       "late_days": {"uniform": [2, 6]}}],
        "dcs": [{"id": "DC-LYON", "supplied_by": "SUP-OATLY"}],
        "stores": [{"id": "STORE-LYON-01", "supplied_by": "DC-LYON", "demand_scale": 2.0, "lost_sale_factor": 2.5},
                   {"id": "STORE-LYON-02", "supplied_by": "DC-LYON"},
                   {"id": "STORE-BREST-01", "supplied_by": "DC-LYON", "demand_scale": 0.4, "lost_sale_factor": 0.5}],
        "lanes": [{"from": "DC-LYON", "to": s, "transit_time": t}
                  for s, t in (("STORE-LYON-01", 1), ("STORE-LYON-02", 1), ("STORE-BREST-01", 3))],
    },
    "skus": {"count": 8, "unit_cost": {"uniform": [1, 20]}, "fixed_order_cost": 10,
             "lost_sale_margin_factor": 1.0},
    "demand": {"level": {"loguniform": [1, 6]}, "dispersion": 3},
    "disruptions": [{"type": "supplier-outage", "suppliers": ["SUP-OATLY"], "start_day": 20, "days": 20,
                     "lead_time_factor": 3, "announced": False}],
}


def test_the_twin_policy_plans_short_dcs_conserves_stock_and_tracks_the_dcs_open_orders() -> None:
    spec = build_world(parse_scenario(copy.deepcopy(DC_OUTAGE)))
    policy = AgentsWithHorizonAllocation(scenarios=20)
    world = SimulatedWorld(spec)
    dc_rows = np.flatnonzero(spec.row_echelon == 1)
    kept = 0
    while world.day < spec.n_days - 1:
        world.step(lambda observation, rows: policy.decide(observation, rows).order_quantity)
        if policy.last is not None:
            kept += int(policy.last.kept_back[policy.last.at_risk].sum())
    t = world.totals
    flow = spec.initial_on_hand + t.flow_received - t.flow_sold - t.flow_expired - t.flow_shipped_out
    assert (flow == world.on_hand).all()
    assert policy.solves > 0 and policy.fallbacks == 0 and kept > 0
    # the open orders it remembers for each DC row add up to what the DC has on order
    policy._days_to_next_receipt(world.observe(), dc_rows)
    remembered = [sum(units for _, units in policy.open_orders.get(int(r), [])) for r in dc_rows]
    assert remembered == pytest.approx(world.on_order[dc_rows].astype(float).tolist())
    assert simulate(spec, AgentsWithHorizonAllocation(scenarios=20)).policy == "agents+horizon-lp"

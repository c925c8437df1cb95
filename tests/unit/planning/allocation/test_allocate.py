"""Allocation of a short DC: the analytic optimum, LP = greedy, the alternatives, limits and errors."""

from __future__ import annotations

import importlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import brentq
from scipy.stats import norm

from stockmesh.agents.allocation import AllocationAgent
from stockmesh.planning.allocation import AllocationInputError, AllocationProblem, allocate

allocate_module = importlib.import_module("stockmesh.planning.allocation.allocate")


def two_stores(available: int, **overrides: object) -> AllocationProblem:
    fields: dict[str, object] = dict(
        group=np.array([0, 0]), requested=np.array([400, 400]), available=np.array([available]),
        position=np.zeros(2), demand_mean=np.array([100.0, 60.0]), demand_sd=np.array([30.0, 10.0]),
        shortage_cost=np.array([4.0, 9.0]), overage_cost=np.array([1.0, 1.0]))
    fields.update(overrides)
    return AllocationProblem(**fields)  # type: ignore[arg-type]


def critical_ratio_split(total: float, mean: np.ndarray, sd: np.ndarray, p: np.ndarray, h: np.ndarray) -> np.ndarray:
    """KKT of min sum p E(D-y)+ + h E(y-D)+ s.t. sum y = total: (p+h)(1-F(y)) - h = lambda for all."""
    def y_of(lam: float) -> np.ndarray:
        return mean + sd * norm.ppf(1 - (lam + h) / (p + h))

    lam = brentq(lambda lam: y_of(lam).sum() - total, -0.9999, float((p).min()) - 1e-9)
    return y_of(lam)


@pytest.mark.parametrize("available", [60, 120, 150])
@pytest.mark.parametrize("method", ["lp", "greedy"])
def test_two_stores_normal_demand_reproduce_the_critical_ratio_split(available: int, method: str) -> None:
    problem = two_stores(available)
    optimum = critical_ratio_split(available, problem.demand_mean, problem.demand_sd,  # type: ignore[arg-type]
                                   problem.shortage_cost, np.asarray(problem.overage_cost))
    result = allocate(problem, method)
    assert result.allocated.sum() == available
    assert np.abs(result.allocated - optimum).max() <= 1.0  # integer units around the continuous optimum
    assert (result.binding == "source stock exhausted").all()
    assert result.shadow_price[0] > 0 and not result.fell_back


def test_equal_costs_equalise_the_z_scores() -> None:
    problem = two_stores(100, shortage_cost=np.array([5.0, 5.0]), overage_cost=np.array([0.0, 0.0]))
    y = allocate(problem).allocated
    z = (y - problem.demand_mean) / problem.demand_sd  # type: ignore[operator]
    assert abs(z[0] - z[1]) < 0.1


def random_problem(seed: int, groups: int = 30) -> AllocationProblem:
    rng = np.random.default_rng(seed)
    group = rng.integers(0, groups, groups * 6)
    requested = rng.integers(0, 60, group.size)
    available = np.floor(np.bincount(group, weights=requested, minlength=groups) * rng.uniform(0.2, 1.3, groups))
    return AllocationProblem(group=group, requested=requested, available=available,
                             position=rng.integers(-5, 30, group.size), demand_mean=rng.uniform(0, 50, group.size),
                             demand_sd=rng.uniform(0, 15, group.size), shortage_cost=rng.uniform(0.5, 40, group.size),
                             overage_cost=rng.uniform(0, 3, group.size), priority=rng.choice([1.0, 2.0], group.size),
                             pack_size=rng.choice([1, 1, 6], groups)[group])


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000))
def test_lp_equals_greedy_and_respects_every_constraint(seed: int) -> None:
    problem = random_problem(seed)
    lp, greedy = allocate(problem, "lp"), allocate(problem, "greedy")
    assert lp.expected_cost_after.sum() == pytest.approx(greedy.expected_cost_after.sum(), rel=1e-9, abs=1e-6)
    pack = np.asarray(problem.pack_size)
    for result in (lp, greedy, allocate(problem, "fair-share"), allocate(problem, "proportional")):
        a = result.allocated
        assert (a >= 0).all() and (a % pack == 0).all()
        assert (a <= np.ceil(np.asarray(problem.requested) / pack) * pack).all()
        assert (np.bincount(problem.group, weights=a, minlength=problem.available.size) <= problem.available).all()
        # not-short sources give every request in full
        assert (a[~result.short_groups[problem.group]] == (np.ceil(np.asarray(problem.requested) / pack)
                                                           * pack)[~result.short_groups[problem.group]]).all()
    assert lp.expected_cost_after.sum() <= allocate(problem, "proportional").expected_cost_after.sum() + 1e-6


def test_fair_share_levels_days_of_cover() -> None:
    problem = AllocationProblem(group=np.zeros(3, dtype=int), requested=np.array([100, 100, 100]),
                                available=np.array([90]), position=np.array([0.0, 10.0, 40.0]),
                                demand_mean=np.array([10.0, 10.0, 10.0]), demand_sd=np.ones(3),
                                shortage_cost=np.ones(3), daily_demand=np.array([1.0, 2.0, 4.0]))
    y = allocate(problem, "fair-share").allocated
    cover = (problem.position + y) / problem.daily_demand  # type: ignore[operator]
    assert y.sum() == 90 and cover.max() - cover.min() <= 1.0


def test_proportional_is_the_legacy_fair_share_rule() -> None:
    requested = np.array([7, 3, 10, 1])
    source = np.array([0, 0, 0, 0])
    available = np.array([9.0])
    legacy = AllocationAgent.fair_share(requested, source, available)
    result = allocate(AllocationProblem(group=source, requested=requested, available=available, position=np.zeros(4),
                                        demand_mean=np.ones(4), demand_sd=np.ones(4), shortage_cost=np.ones(4)),
                      "proportional")
    assert (result.allocated == legacy).all()


def test_a_solve_that_hits_its_time_limit_falls_back_to_greedy_and_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    class TimedOut:
        status, x, message = 1, None, "Time limit reached"

    monkeypatch.setattr(allocate_module, "linprog", lambda *a, **k: TimedOut())
    problem = random_problem(3)
    result = allocate(problem, "lp", time_limit=0.001)
    assert result.fell_back and result.fallback_blocks == result.blocks > 0
    assert "time limit" in (result.fallback_reason or "")
    assert set(result.solved_with[result.short_groups[problem.group]]) == {"greedy (fallback)"}
    assert result.expected_cost_after.sum() == pytest.approx(allocate(problem, "greedy").expected_cost_after.sum())
    assert result.explain(0)["fell_back_to_greedy"] is True


@pytest.mark.parametrize(("change", "field"), [
    ({"shortage_cost": np.array([-1.0, 2.0])}, "shortage_cost"),
    ({"group": np.array([0, 3])}, "group"),
    ({"demand_sd": np.array([np.nan, 1.0])}, "demand_sd"),
    ({"requested": np.array([-5, 3])}, "requested"),
])
def test_bad_inputs_are_refused_naming_the_field(change: dict[str, object], field: str) -> None:
    with pytest.raises(AllocationInputError) as info:
        allocate(two_stores(100, **change))
    assert info.value.field == field


def test_unknown_method_and_bad_time_limit() -> None:
    with pytest.raises(AllocationInputError, match="unknown allocation method"):
        allocate(two_stores(10), "magic")
    with pytest.raises(AllocationInputError, match="time_limit"):
        allocate(two_stores(10), time_limit=0)


def test_agent_proposals_claim_the_dc_stock_and_explain_themselves() -> None:
    from stockmesh.agents.allocation import AllocationRows

    agent = AllocationAgent("lp")
    result = agent.plan(two_stores(120))
    rows = AllocationRows(sku=["OAT-MILK-1L"] * 2, site=["STORE-LYON-01", "STORE-LYON-02"],
                          source_site=["DC-LYON"] * 2, unit_cost=np.array([1.2, 1.2]))
    proposals = agent.propose(rows, result, label="D1")
    assert [p.qty for p in proposals] == result.allocated.tolist()
    for p in proposals:
        assert p.claims == ("stock:OAT-MILK-1L@DC-LYON",) and p.command.from_site == "DC-LYON"
        assert {"expected_shortage_before", "expected_shortage_after", "expected_cost_after", "binding"} <= set(
            p.provenance)

"""Rebalancing: the MIP against brute force, the donor's floor, fixed costs, minimums, limits, errors."""

from __future__ import annotations

import importlib
import itertools

import numpy as np
import pytest

from stockmesh.agents.rebalancing import RebalancingAgent
from stockmesh.planning.allocation import AllocationInputError
from stockmesh.planning.allocation.rebalance import Lanes, RebalanceProblem, rebalance
from stockmesh.planning.allocation.shortage import expected_shortage

rebalance_module = importlib.import_module("stockmesh.planning.allocation.rebalance")
SITES = ["STORE-LYON-01", "STORE-LYON-02", "STORE-PARIS-01"]


def lanes(**overrides: object) -> Lanes:
    fields: dict[str, object] = dict(
        source=np.array([1, 2]), destination=np.array([0, 0]), cost_per_unit=np.array([0.1, 0.05]),
        cost_per_shipment=np.array([5.0, 30.0]), capacity=np.array([np.inf, 40.0]), transit_days=np.array([1.0, 2.0]),
        min_shipment=np.array([1.0, 5.0]))
    fields.update(overrides)
    return Lanes(**fields)  # type: ignore[arg-type]


def three_stores(**overrides: object) -> RebalanceProblem:
    """One SKU: LYON-01 has run dry, LYON-02 and PARIS-01 hold plenty."""
    fields: dict[str, object] = dict(
        sku=np.zeros(3, dtype=int), site=np.arange(3), on_hand=np.array([2.0, 80.0, 70.0]),
        stock_in_horizon=np.array([2.0, 80.0, 70.0]), demand_mean=np.array([6.0, 3.0, 2.0]),
        demand_sd=np.array([2.5, 1.5, 1.5]), horizon_days=np.array([5.0, 5.0, 5.0]),
        safety_stock=np.array([4.0, 4.0, 4.0]), shortage_cost=np.array([12.0, 12.0, 12.0]), lanes=lanes(), n_sites=3)
    fields.update(overrides)
    return RebalanceProblem(**fields)  # type: ignore[arg-type]


def net_value(problem: RebalanceProblem, x1: int, x2: int) -> float:
    """Brute-force objective: receiver gain - donors' loss - transport - transit risk (as the model)."""
    h = problem.horizon_days
    mean, sd = problem.demand_mean * h, problem.demand_sd * np.sqrt(h)
    p = problem.shortage_cost
    gain = p[0] * (expected_shortage(problem.stock_in_horizon[0], mean[0], sd[0])
                   - expected_shortage(problem.stock_in_horizon[0] + x1 + x2, mean[0], sd[0]))
    loss = sum(p[d] * (expected_shortage(problem.on_hand[d] - x, mean[d], sd[d])
                       - expected_shortage(problem.on_hand[d], mean[d], sd[d])) for d, x in ((1, x1), (2, x2)))
    ln = problem.lanes
    cost = 0.0
    need = np.floor(max(np.ceil(mean[0] + 3 * sd[0]) - problem.stock_in_horizon[0], 0))
    for lane, x in ((0, x1), (1, x2)):
        if x:
            t = ln.transit_days[lane]
            risk = p[0] * (expected_shortage(problem.on_hand[0], problem.demand_mean[0] * t, problem.demand_sd[0] * np.sqrt(t))
                           - expected_shortage(problem.on_hand[0] + need, problem.demand_mean[0] * t,
                                               problem.demand_sd[0] * np.sqrt(t))) / need
            cost += (ln.cost_per_unit[lane] + risk) * x + ln.cost_per_shipment[lane]
    return float(gain - loss - cost)


def test_mip_matches_brute_force_on_a_small_network() -> None:
    problem = three_stores()
    result = rebalance(problem, max_segments=64)
    got = {int(d): int(q) for d, q in zip(result.transfers.from_row, result.transfers.qty, strict=True)}
    x1, x2 = got.get(1, 0), got.get(2, 0)
    best = max(((net_value(problem, a, b), a, b) for a, b in itertools.product(range(0, 60), range(0, 41))
                if (b == 0 or b >= 5)), key=lambda t: t[0])
    assert net_value(problem, x1, x2) == pytest.approx(best[0], abs=0.5)
    assert result.transfers.expected_value.sum() > 0 and not result.fell_back


def test_donor_is_never_taken_below_its_reorder_level() -> None:
    problem = three_stores(on_hand=np.array([0.0, 22.0, 20.0]), stock_in_horizon=np.array([0.0, 22.0, 20.0]),
                           demand_mean=np.array([10.0, 3.0, 2.0]))
    result = rebalance(problem)
    floor = np.ceil(problem.demand_mean * problem.horizon_days + problem.safety_stock)
    out = np.bincount(result.transfers.from_row, weights=result.transfers.qty, minlength=3)
    assert (problem.on_hand - out >= np.where(out > 0, floor, -np.inf)).all()
    assert len(result.transfers) > 0
    assert any("donor reorder level" in b for b in result.transfers.binding)


def test_nothing_moves_when_the_fixed_cost_outweighs_the_stockout_avoided() -> None:
    result = rebalance(three_stores(lanes=lanes(cost_per_shipment=np.array([500.0, 500.0]))))
    assert len(result.transfers) == 0


def test_minimum_shipment_and_capacity_hold() -> None:
    problem = three_stores(lanes=lanes(source=np.array([2, 1]), cost_per_shipment=np.array([1.0, 900.0]),
                                       capacity=np.array([7.0, np.inf]), min_shipment=np.array([5.0, 1.0])))
    result = rebalance(problem)
    assert len(result.transfers) == 1
    assert 5 <= int(result.transfers.qty[0]) <= 7


def test_greedy_fallback_when_the_mip_hits_its_time_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    class TimedOut:
        status, x, message = 1, None, "Time limit reached"

    monkeypatch.setattr(rebalance_module, "milp", lambda *a, **k: TimedOut())
    result = rebalance(three_stores(), time_limit=0.01)
    assert result.fell_back and "time limit" in (result.fallback_reason or "")
    assert len(result.transfers) > 0 and (result.transfers.expected_value > 0).all()


@pytest.mark.parametrize(("change", "message"), [
    ({"lanes": lanes(cost_per_unit=np.array([-0.1, 0.05]))}, "must not be negative"),
    ({"lanes": lanes(destination=np.array([0, 7]))}, "unknown site 7"),
    ({"lanes": lanes(min_shipment=np.array([1.0, 50.0]))}, "infeasible"),
    ({"lanes": lanes(source=np.array([0, 2]))}, "from a site to itself"),
    ({"site": np.array([0, 1, 9])}, "unknown site 9"),
    ({"shortage_cost": np.array([1.0, -2.0, 1.0])}, "must not be negative"),
])
def test_bad_inputs_are_refused(change: dict[str, object], message: str) -> None:
    with pytest.raises(AllocationInputError, match=message):
        rebalance(three_stores(**change))


def test_agent_proposals_claim_the_donor_and_explain_the_transfer() -> None:
    problem = three_stores()
    agent = RebalancingAgent()
    result = agent.plan(problem)
    proposals = agent.propose(result, sku=["OAT-MILK-1L"] * 3, site=SITES, unit_cost=np.ones(3), label="D7")
    assert proposals
    for p in proposals:
        donor = p.command.from_site
        assert p.claims == (f"stock:OAT-MILK-1L@{donor}",) and p.site == "STORE-LYON-01"
        for key in ("receiver_expected_shortage_before", "receiver_expected_shortage_after", "transport_cost",
                    "transit_risk_cost", "expected_value", "binding"):
            assert key in p.provenance
    assert RebalancingAgent.stockout_rows(problem.stock_in_horizon, problem.demand_mean,
                                          problem.horizon_days).tolist() == [0]

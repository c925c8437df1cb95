"""The exact solvers on the worked examples of docs/policy-instances.md."""

from __future__ import annotations

import math

import pytest

from stockmesh.planning.exact import (
    GsmNode,
    solve_gsm_tree,
    solve_newsvendor_discrete,
    solve_newsvendor_normal,
    solve_newsvendor_poisson,
    solve_rq_normal,
    solve_rq_poisson,
    solve_serial_normal,
    solve_serial_poisson,
    solve_ss_poisson,
)
from stockmesh.planning.exact._poisson import single_period_cost


def test_newsvendor_normal_example_4_3() -> None:
    result = solve_newsvendor_normal(mean=50, sd=8, holding_cost=0.18, stockout_cost=0.70, lead_time=0)
    assert result.base_stock == pytest.approx(56.603956, abs=1e-5)
    assert result.expected_cost == pytest.approx(1.997605, rel=1e-6)


def test_newsvendor_normal_with_lead_time_example_4_4() -> None:
    result = solve_newsvendor_normal(mean=50, sd=8, holding_cost=0.18, stockout_cost=0.70, lead_time=4)
    assert result.base_stock == pytest.approx(264.766894, abs=1e-5)
    assert result.expected_cost == pytest.approx(4.466781, rel=1e-6)


def test_newsvendor_poisson_is_the_smallest_level_reaching_the_critical_ratio() -> None:
    result = solve_newsvendor_poisson(mean=50, holding_cost=0.18, stockout_cost=0.70)
    assert result.base_stock == 56
    assert result.expected_cost == pytest.approx(1.797235, rel=1e-6)


def test_newsvendor_discrete_matches_poisson_given_as_a_table() -> None:
    from scipy import stats

    values = list(range(0, 200))
    probabilities = stats.poisson.pmf(values, 50)
    result = solve_newsvendor_discrete(values, probabilities / probabilities.sum(), 0.18, 0.70)
    assert result.base_stock == 56
    assert result.expected_cost == pytest.approx(1.797235, rel=1e-6)


def test_ss_example_4_7() -> None:
    result = solve_ss_poisson(mean=6, holding_cost=1, stockout_cost=4, fixed_cost=5)
    assert (result.s, result.S) == (4, 10)
    assert result.expected_cost == pytest.approx(8.034112, rel=1e-6)


@pytest.mark.parametrize(
    ("mean", "s", "S", "cost"),
    [(10, 6, 40, 35.022), (20, 14, 62, 49.173), (30, 23, 66, 57.819), (70, 62, 81, 79.037)],
)
def test_ss_zheng_federgruen_table(mean: int, s: int, S: int, cost: float) -> None:
    result = solve_ss_poisson(mean=mean, holding_cost=1, stockout_cost=9, fixed_cost=64)
    assert (result.s, result.S) == (s, S)
    assert result.expected_cost == pytest.approx(cost, rel=2e-5)


def test_ss_tie_rule_holds_where_the_cost_is_flat_in_s() -> None:
    result = solve_ss_poisson(mean=70, holding_cost=1, stockout_cost=9, fixed_cost=64)
    G = single_period_cost([result.s, result.s + 1], 70, 1, 9)
    assert G[1] < result.expected_cost <= G[0]


def test_rq_poisson_example_5_8() -> None:
    result = solve_rq_poisson(rate=1.5, holding_cost=20, stockout_cost=150, fixed_cost=100, lead_time=2)
    assert (result.r, result.Q) == (3, 5)
    assert result.expected_cost == pytest.approx(107.923581, rel=1e-6)


def test_rq_normal_example_5_1_exact_optimum() -> None:
    result = solve_rq_normal(1300, 150, holding_cost=0.225, stockout_cost=7.5, fixed_cost=8, lead_time=1 / 12)
    assert result.r == pytest.approx(126.8671, abs=0.01)
    assert pytest.approx(328.4491, abs=0.01) == result.Q
    assert result.expected_cost == pytest.approx(78.071146, rel=1e-6)


def test_serial_normal_example_6_1() -> None:
    result = solve_serial_normal([3, 2, 2], [1, 1, 2], stockout_cost=37.12, mean=5, sd=1)
    assert result.echelon_base_stock == pytest.approx((6.4909, 12.0176, 22.7055), abs=0.005)
    assert result.expected_cost == pytest.approx(47.6602, rel=1e-4)


@pytest.mark.parametrize(
    ("holding", "levels", "cost"),
    [([0.25, 0.25, 0.25, 0.25], (8, 13, 18, 22), 12.688), ([0.25, 2.5, 2.5, 0.25], (9, 10, 13, 19), 53.008)],
)
def test_serial_poisson_shang_song(holding: list[float], levels: tuple[int, ...], cost: float) -> None:
    result = solve_serial_poisson(holding, [0.25] * 4, stockout_cost=9, mean=16)
    assert result.echelon_base_stock == levels
    assert result.expected_cost == pytest.approx(cost, rel=1e-4)


def test_gsm_example_6_5() -> None:
    nodes = [
        GsmNode("1", processing_time=2, holding_cost=1, successors=("3",), external_inbound_cst=1),
        GsmNode("2", processing_time=1, holding_cost=3, demand_sd=1, external_outbound_cst=0),
        GsmNode("3", processing_time=1, holding_cost=2, successors=("2", "4")),
        GsmNode("4", processing_time=1, holding_cost=3, demand_sd=1, external_outbound_cst=1),
    ]
    result = solve_gsm_tree(nodes, demand_bound_constant=1)
    assert result.committed_service_times == {"1": 0, "2": 0, "3": 0, "4": 1}
    assert result.expected_cost == pytest.approx(math.sqrt(6) + 3 + 2 * math.sqrt(2), rel=1e-9)


def test_gsm_example_6_3_serial() -> None:
    nodes = [
        GsmNode("1", processing_time=1, holding_cost=7, demand_sd=1, external_outbound_cst=1),
        GsmNode("2", processing_time=0, holding_cost=4, successors=("1",)),
        GsmNode("3", processing_time=1, holding_cost=2, successors=("2",), external_inbound_cst=1),
    ]
    result = solve_gsm_tree(nodes, demand_bound_constant=1)
    assert result.committed_service_times == {"1": 1, "2": 0, "3": 0}
    assert result.expected_cost == pytest.approx(2 * math.sqrt(2), rel=1e-9)


def test_large_means_and_fixed_costs_stay_exact() -> None:
    # Held-out style: a large mean and a large K; the cost must be a true local optimum in s and S.
    result = solve_ss_poisson(mean=150, holding_cost=1, stockout_cost=9, fixed_cost=400)
    from tests.unit.planning.exact.brute import ss_cost

    best = ss_cost(result.s, result.S, 150, 1, 9, 400)
    assert best == pytest.approx(result.expected_cost, rel=1e-10)
    for ds, dS in [(-1, 0), (1, 0), (0, -1), (0, 1), (-1, -1), (1, 1)]:
        assert ss_cost(result.s + ds, result.S + dS, 150, 1, 9, 400) >= best * (1 - 1e-12)

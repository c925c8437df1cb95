"""Exact solvers never lose to a brute-force search on small random instances."""

from __future__ import annotations

import itertools

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import stats

from stockmesh.planning.exact import (
    GsmNode,
    solve_gsm_tree,
    solve_newsvendor_discrete,
    solve_newsvendor_normal,
    solve_newsvendor_poisson,
    solve_rq_normal,
    solve_rq_poisson,
    solve_serial_poisson,
    solve_ss_poisson,
)
from stockmesh.planning.exact._poisson import single_period_cost
from tests.unit.planning.exact.brute import gsm_costs, poisson_G, rq_cost, serial_poisson_cost, ss_cost

FAST = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
costs = st.floats(min_value=0.1, max_value=20.0)


@FAST
@given(mean=st.floats(0.2, 40.0), h=costs, p=costs, lead=st.integers(0, 3))
def test_newsvendor_poisson_beats_every_level(mean: float, h: float, p: float, lead: int) -> None:
    result = solve_newsvendor_poisson(mean, h, p, lead)
    covered = mean * (lead + 1)
    brute = [poisson_G(level, covered, h, p) for level in range(0, int(covered + 8 * covered**0.5 + 10))]
    assert result.expected_cost <= min(brute) * (1 + 1e-9) + 1e-12
    assert abs(result.expected_cost - poisson_G(int(result.base_stock), covered, h, p)) <= 1e-9 * max(
        1, min(brute)
    )


@FAST
@given(mean=st.floats(0.0, 100.0), sd=st.floats(0.1, 30.0), h=costs, p=costs)
def test_newsvendor_normal_is_a_minimum(mean: float, sd: float, h: float, p: float) -> None:
    result = solve_newsvendor_normal(mean, sd, h, p)

    def cost(level: float) -> float:
        z = (level - mean) / sd
        loss = sd * (stats.norm.pdf(z) - z * stats.norm.sf(z))
        return h * (level - mean) + (h + p) * loss

    assert abs(cost(result.base_stock) - result.expected_cost) <= 1e-9 * result.expected_cost
    for delta in (-1.0, -0.01, 0.01, 1.0):
        assert cost(result.base_stock + delta * sd) >= result.expected_cost * (1 - 1e-12)


@FAST
@given(
    values=st.lists(st.integers(0, 50), min_size=1, max_size=8, unique=True),
    weights=st.lists(st.floats(0.01, 1.0), min_size=8, max_size=8),
    h=costs,
    p=costs,
)
def test_newsvendor_discrete_beats_every_support_point(
    values: list[int], weights: list[float], h: float, p: float
) -> None:
    probabilities = np.array(weights[: len(values)]) / sum(weights[: len(values)])
    result = solve_newsvendor_discrete(np.array(values), probabilities, h, p)
    values_array = np.array(values, dtype=float)

    def cost(level: float) -> float:
        return float(
            np.dot(
                probabilities,
                h * np.maximum(level - values_array, 0) + p * np.maximum(values_array - level, 0),
            )
        )

    assert result.expected_cost <= min(cost(v) for v in values) + 1e-9


@FAST
@given(mean=st.floats(0.5, 8.0), h=costs, p=costs, K=st.floats(0.0, 60.0))
def test_ss_beats_exhaustive_search(mean: float, h: float, p: float, K: float) -> None:
    result = solve_ss_poisson(mean, h, p, K)
    G = single_period_cost(np.array([result.s, result.s + 1]), mean, h, p)
    assert G[1] < result.expected_cost * (1 + 1e-12) and result.expected_cost <= G[0] * (1 + 1e-12)
    assert (
        abs(ss_cost(result.s, result.S, mean, h, p, K) - result.expected_cost) <= 1e-9 * result.expected_cost
    )
    upper = int(mean + 6 * mean**0.5 + (2 * K * mean / h) ** 0.5 + 6)
    best = min(ss_cost(s, S, mean, h, p, K) for s in range(-3, upper) for S in range(s + 1, upper + 1))
    assert result.expected_cost <= best * (1 + 1e-9)


@FAST
@given(rate=st.floats(0.2, 5.0), h=costs, p=costs, K=st.floats(0.0, 50.0), lead=st.floats(0.0, 2.0))
def test_rq_poisson_beats_exhaustive_search(rate: float, h: float, p: float, K: float, lead: float) -> None:
    result = solve_rq_poisson(rate, h, p, K, lead)
    assert (
        abs(rq_cost(int(result.r), int(result.Q), rate, h, p, K, lead) - result.expected_cost)
        <= 1e-9 * result.expected_cost
    )
    best = min(rq_cost(r, Q, rate, h, p, K, lead) for r in range(-4, 14) for Q in range(1, 25))
    assert result.expected_cost <= best * (1 + 1e-9)


@FAST
@given(
    mean=st.floats(100.0, 2000.0),
    sd=st.floats(5.0, 300.0),
    h=costs,
    p=costs,
    K=st.floats(0.5, 50.0),
    lead=st.floats(0.02, 1.0),
)
def test_rq_normal_is_a_stationary_minimum(
    mean: float, sd: float, h: float, p: float, K: float, lead: float
) -> None:
    from stockmesh.planning.exact.rq import _normal_cost_terms

    result = solve_rq_normal(mean, sd, h, p, K, lead)
    G, integral = _normal_cost_terms(mean * lead, sd * lead**0.5, h, p)

    def cost(r: float, Q: float) -> float:
        return (K * mean + integral(r, r + Q)) / Q

    best = cost(result.r, result.Q)
    assert abs(best - result.expected_cost) <= 1e-9 * best
    step = max(result.Q, 1.0) * 1e-2
    for dr, dq in itertools.product((-step, 0.0, step), repeat=2):
        if result.Q + dq > 0:
            assert cost(result.r + dr, result.Q + dq) >= best * (1 - 1e-10)


@settings(max_examples=10, deadline=None)
@given(
    holding=st.lists(st.floats(0.1, 3.0), min_size=2, max_size=2),
    leads=st.lists(st.sampled_from([0.0, 0.5, 1.0, 2.0]), min_size=2, max_size=2),
    p=st.floats(1.0, 20.0),
    mean=st.floats(0.5, 3.0),
)
def test_serial_poisson_beats_every_level_pair(
    holding: list[float], leads: list[float], p: float, mean: float
) -> None:
    result = solve_serial_poisson(holding, leads, p, mean)
    levels = tuple(int(level) for level in result.echelon_base_stock)
    assert abs(serial_poisson_cost(levels, holding, leads, p, mean) - result.expected_cost) <= 1e-8 * max(
        1.0, result.expected_cost
    )
    top = int(mean * sum(leads) + 6 * (mean * sum(leads)) ** 0.5 + 6)
    best = min(
        serial_poisson_cost((s1, s2), holding, leads, p, mean)
        for s1 in range(0, top)
        for s2 in range(0, top + 2)
    )
    assert result.expected_cost <= best * (1 + 1e-9) + 1e-12


@st.composite
def gsm_trees(draw: st.DrawFn) -> list[dict]:
    size = draw(st.integers(1, 4))
    nodes = [
        {
            "id": f"N{i}",
            "T": draw(st.integers(0, 2)),
            "h": draw(st.floats(0.0, 5.0)),
            "sd": 0.0,
            "in": draw(st.integers(0, 2)),
            "out": None,
            "successors": [],
        }
        for i in range(size)
    ]
    for i in range(1, size):
        parent = draw(st.integers(0, i - 1))
        if draw(st.booleans()):
            nodes[parent]["successors"].append(f"N{i}")
        else:
            nodes[i]["successors"].append(f"N{parent}")
    for node in nodes:
        if not node["successors"] or draw(st.booleans()):
            node["sd"] = draw(st.floats(0.5, 3.0))
            if draw(st.booleans()):
                node["out"] = draw(st.integers(0, 2))
    return nodes


@settings(max_examples=30, deadline=None)
@given(tree=gsm_trees(), z=st.floats(0.5, 3.0))
def test_gsm_beats_exhaustive_enumeration(tree: list[dict], z: float) -> None:
    nodes = [
        GsmNode(n["id"], n["T"], n["h"], tuple(n["successors"]), n["sd"], n["in"], n["out"]) for n in tree
    ]
    best_cost, _ = gsm_costs(tree, z)
    result = solve_gsm_tree(nodes, z)
    # the answer is feasible in the exact schema and costs what it claims
    chosen = [result.committed_service_times[n["id"]] for n in tree]
    for i, n in enumerate(tree):
        inbound = max([n["in"], *(chosen[k] for k, m in enumerate(tree) if n["id"] in m["successors"])])
        assert 0 <= chosen[i] <= inbound + n["T"]
        assert n["out"] is None or chosen[i] <= n["out"]
    assert result.expected_cost <= best_cost * (1 + 1e-9) + 1e-12
    assert result.expected_cost >= best_cost * (1 - 1e-9) - 1e-12

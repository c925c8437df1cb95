"""Independent, deliberately plain implementations of the cost formulas, for brute-force checks."""

from __future__ import annotations

import functools
import itertools
import math

import numpy as np
from scipy import stats


@functools.cache
def poisson_G(y: int, mean: float, h: float, p: float) -> float:
    """G(y) by direct summation over a generous support."""
    upper = int(mean + 20 * math.sqrt(mean) + 60)
    d = np.arange(upper + 1)
    pmf = stats.poisson.pmf(d, mean)
    return float(np.sum(pmf * (h * np.maximum(y - d, 0) + p * np.maximum(d - y, 0))))


def ss_cost(s: int, S: int, mean: float, h: float, p: float, K: float) -> float:
    """g(s,S) exactly as written in policy-instances.md."""
    n = S - s
    pmf = stats.poisson.pmf(np.arange(n + 1), mean)
    m = [1.0 / (1.0 - pmf[0])]
    for j in range(1, n):
        m.append(sum(pmf[k] * m[j - k] for k in range(1, j + 1)) / (1.0 - pmf[0]))
    numerator = K + sum(m[j] * poisson_G(S - j, mean, h, p) for j in range(n))
    return numerator / sum(m)


def rq_cost(r: int, Q: int, rate: float, h: float, p: float, K: float, L: float) -> float:
    return (K * rate + sum(poisson_G(y, rate * L, h, p) for y in range(r + 1, r + Q + 1))) / Q


def serial_poisson_cost(
    levels: tuple[int, ...], holding: list[float], leads: list[float], p: float, mean: float
) -> float:
    """Cost g_N(S_N) of any echelon base-stock vector: the recursion with min(S_j, x), memoised."""
    total_h = sum(holding)
    supports = []
    for lead in leads:
        mu = mean * lead
        support = np.arange(0, int(mu + 15 * math.sqrt(mu + 1) + 30))
        supports.append((mu, support, stats.poisson.pmf(support, mu)))

    @functools.cache
    def lower(j: int, x: int) -> float:
        if j == 0:
            return (p + total_h) * max(-x, 0)
        return g(j, min(levels[j - 1], x))

    @functools.cache
    def g(j: int, y: int) -> float:
        mu, support, pmf = supports[j - 1]
        return holding[j - 1] * (y - mu) + float(sum(pmf[d] * lower(j - 1, y - int(d)) for d in support))

    return g(len(levels), levels[-1])


def gsm_costs(nodes: list[dict], z: float) -> tuple[float, tuple[int, ...]]:
    """Minimum cost and a minimiser over every integer CST vector (exact schema feasibility)."""
    ids = [n["id"] for n in nodes]
    index = {node_id: i for i, node_id in enumerate(ids)}
    suppliers: list[list[int]] = [[] for _ in nodes]
    for i, n in enumerate(nodes):
        for succ in n["successors"]:
            suppliers[index[succ]].append(i)
    variance = [0.0] * len(nodes)

    def var(i: int) -> float:
        return nodes[i]["sd"] ** 2 + sum(var(index[s]) for s in nodes[i]["successors"])

    variance = [var(i) for i in range(len(nodes))]
    horizon = max(n["in"] for n in nodes) + sum(n["T"] for n in nodes)
    best = (math.inf, ())
    for combo in itertools.product(range(horizon + 1), repeat=len(nodes)):
        cost = 0.0
        for i, n in enumerate(nodes):
            si = max([n["in"], *(combo[k] for k in suppliers[i])])
            if combo[i] > si + n["T"] or (n["out"] is not None and combo[i] > n["out"]):
                cost = math.inf
                break
            cost += n["h"] * z * math.sqrt(variance[i] * (si + n["T"] - combo[i]))
        if cost < best[0]:
            best = (cost, combo)
    return best

"""Allocation of a short source over the interval until its next receipt: keep back what pooling places better.

A DC that cannot cover its stores until its next receipt lands should not hand out everything to the
stores that happen to order today: a unit kept at the DC can still go, a day later, to whichever store
turns out to need it (risk pooling), while a unit shipped today is stranded at one store. This module
plans that trade as a two-stage stochastic LP (sample average approximation, HiGHS through SciPy).

For each source ``g`` (a DC x SKU) and every site ``i`` it supplies, ordering today or not:

- today: ship ``y_i`` (at most ``requested_i``; zero for a site not ordering), arriving when its
  transit ends;
- later: in each demand scenario ``s``, ship ``z_is >= 0`` of what the source kept,
  ``sum_i z_is <= available_g - sum_i y_i``, to where it is then needed.

Site ``i`` faces demand ``D1`` in its *first window* (until a shipment decided tomorrow could reach it:
its transit time plus one day) and ``D2`` in its *later window* (from then until the source's next
expected receipt can reach it). Sales are lost when short, so

    first-window lost  u_is = (D1_is - P_i - y_i)+
    later-window lost  v_is = (D2_is - (P_i + y_i - D1_is + u_is) - z_is)+

with ``P_i`` the stock the site holds or has inbound within its first window. The LP minimises

    (1/S) sum_s sum_i [ p_i (u_is + v_is) + c_i z_is ]

``p_i`` being the cost of a lost unit (with the site's priority) and ``c_i`` a small *deferral* cost
per unit shipped later rather than today (the extra order line and shipment): without it, units
that no scenario needs elsewhere would have no reason to leave today. Holding is not priced: a unit
costs the same at the DC as at a store, and a unit left anywhere at the end of the horizon still
sells later.

Scenarios: ``scenarios`` stratified draws per site and window from a gamma distribution with the
window's mean and variance (non-negative, right-skewed like demand), each stratum permuted
independently (a Latin hypercube), from a fixed seed so a plan is reproducible.

Sources whose requests fit their stock and whose sites' demand over both windows (at ``risk_quantile``)
fits it too are given their requests without a solve. The others are solved in blocks of
``block_groups`` sources with ``time_limit`` seconds each; a block that hits its limit (or fails) is
allocated by the one-day greedy of ``allocate`` over today's requests instead, and the result says so.
Shipments are whole packs, rounded down: what rounding leaves stays at the source.

The result explains each site: expected lost units with nothing shipped and with the plan (the later
window with its best use of what is kept, evaluated on the same scenarios), what the source keeps
back, and the pool's shadow price (what one more unit at the source would save over the horizon).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.optimize import linprog
from scipy.special import gammaincinv, ndtri

from stockmesh.planning.allocation.allocate import AllocationProblem, allocate
from stockmesh.planning.allocation.errors import AllocationInputError, check_finite_non_negative, check_index


@dataclass(frozen=True, kw_only=True)
class HorizonProblem:
    """Every site of the short sources, as parallel arrays (one entry per site and source).

    ``requested`` is today's request (0 for a site not ordering today), ``position`` what the site
    holds or has inbound within its first window, ``first_mean``/``first_sd`` its demand over the
    first window, ``later_mean``/``later_sd`` over the later window (zero when the source's next
    receipt reaches the site as soon as a shipment decided tomorrow would), ``shortage_cost`` the
    cost of a lost unit (with the site's priority), ``deferral_cost`` the cost per unit of shipping
    later rather than today (defaults to 1% of ``shortage_cost``).
    """

    group: np.ndarray
    requested: np.ndarray
    available: np.ndarray
    position: np.ndarray
    first_mean: np.ndarray
    first_sd: np.ndarray
    later_mean: np.ndarray
    later_sd: np.ndarray
    shortage_cost: np.ndarray
    deferral_cost: np.ndarray | float | None = None
    pack_size: np.ndarray | int = 1


@dataclass(frozen=True, kw_only=True)
class HorizonResult:
    """Units to ship today per site, what each source keeps, and the numbers behind them."""

    allocated: np.ndarray
    kept_back: np.ndarray  # per source: available - shipped today
    at_risk: np.ndarray  # per source: solved (requests or horizon demand exceed its stock)
    solved_with: np.ndarray  # per site: "not short", "highs-lp", "greedy (fallback)"
    fell_back: bool
    fallback_reason: str | None
    blocks: int
    fallback_blocks: int
    solve_seconds: list[float]
    expected_lost_before: np.ndarray  # per site: nothing shipped, nothing kept for it
    expected_lost_after: np.ndarray  # per site: today's plan, then the best use of what is kept
    expected_cost_after: np.ndarray  # per site: shortage cost of expected_lost_after
    shadow_price: np.ndarray  # per source: expected saving of one more unit there
    binding: np.ndarray  # per site: what stopped it

    def explain(self, i: int, group: int) -> dict[str, object]:
        """The numbers behind site ``i`` (of source ``group``), for a proposal's provenance."""
        return {
            "method": "horizon-lp", "solved_with": str(self.solved_with[i]), "allocated": int(self.allocated[i]),
            "kept_back_at_source": int(self.kept_back[group]),
            "expected_lost_before": round(float(self.expected_lost_before[i]), 3),
            "expected_lost_after": round(float(self.expected_lost_after[i]), 3),
            "expected_cost_after": round(float(self.expected_cost_after[i]), 3),
            "source_shadow_price": round(float(self.shadow_price[group]), 4),
            "binding": str(self.binding[i]), "fell_back_to_greedy": self.fell_back,
            "fallback_reason": self.fallback_reason,
        }


@dataclass
class _Sites:
    group: np.ndarray
    requested: np.ndarray
    available: np.ndarray
    position: np.ndarray
    first_mean: np.ndarray
    first_sd: np.ndarray
    later_mean: np.ndarray
    later_sd: np.ndarray
    shortage: np.ndarray
    deferral: np.ndarray
    pack: np.ndarray


def _validated(problem: HorizonProblem) -> _Sites:
    n = np.asarray(problem.requested).shape[0]

    def per_site(name: str, value: np.ndarray | float) -> np.ndarray:
        array = np.broadcast_to(np.asarray(value, dtype=np.float64), (n,)).astype(np.float64)
        check_finite_non_negative(name, array)
        return array

    group = np.asarray(problem.group, dtype=np.int64)
    available = np.asarray(problem.available, dtype=np.float64)
    check_finite_non_negative("available", available)
    if group.shape != (n,):
        raise AllocationInputError("group must have one source per site", field="group")
    check_index("group", group, available.shape[0], "source")
    position = np.broadcast_to(np.asarray(problem.position, dtype=np.float64), (n,)).astype(np.float64)
    if not np.isfinite(position).all():
        raise AllocationInputError("position must be finite", field="position")
    shortage = per_site("shortage_cost", problem.shortage_cost)
    deferral = per_site("deferral_cost", 0.01 * shortage if problem.deferral_cost is None else problem.deferral_cost)
    pack = np.maximum(per_site("pack_size", problem.pack_size), 1)
    return _Sites(group=group, requested=per_site("requested", problem.requested), available=available,
                  position=position, first_mean=per_site("first_mean", problem.first_mean),
                  first_sd=per_site("first_sd", problem.first_sd), later_mean=per_site("later_mean", problem.later_mean),
                  later_sd=per_site("later_sd", problem.later_sd), shortage=shortage, deferral=deferral, pack=pack)


def demand_scenarios(mean: np.ndarray, sd: np.ndarray, scenarios: int, rng: np.random.Generator) -> np.ndarray:
    """[sites, scenarios] stratified gamma draws with these moments (a Latin hypercube per site)."""
    mean = np.asarray(mean, dtype=np.float64)
    sd = np.asarray(sd, dtype=np.float64)
    strata = (np.argsort(rng.random((mean.size, scenarios)), axis=1) + rng.random((mean.size, scenarios))) / scenarios
    spread = (mean > 1e-9) & (sd > 1e-9)
    shape = np.where(spread, mean**2 / np.maximum(sd**2, 1e-18), 1.0)
    scale = np.where(spread, sd**2 / np.maximum(mean, 1e-18), 0.0)
    draws = gammaincinv(shape[:, None], strata) * scale[:, None]
    return np.where(spread[:, None], draws, mean[:, None])


def allocate_over_horizon(problem: HorizonProblem, *, scenarios: int = 40, seed: int = 0, time_limit: float = 5.0,
                          block_groups: int = 60, risk_quantile: float = 0.95) -> HorizonResult:
    """Today's shipments of every short source; see the module docstring."""
    if time_limit <= 0:
        raise AllocationInputError("time_limit must be positive", field="time_limit")
    if scenarios < 1:
        raise AllocationInputError("scenarios must be at least 1", field="scenarios")
    a = _validated(problem)
    n_groups = a.available.size
    rng = np.random.default_rng(seed)
    first = demand_scenarios(a.first_mean, a.first_sd, scenarios, rng)
    later = demand_scenarios(a.later_mean, a.later_sd, scenarios, rng)

    requested_packs = np.ceil(a.requested / a.pack - 1e-9)
    asked = np.bincount(a.group, weights=requested_packs * a.pack, minlength=n_groups)
    total_mean = a.first_mean + a.later_mean
    total_sd = np.hypot(a.first_sd, a.later_sd)
    high = total_mean + float(ndtri(risk_quantile)) * total_sd
    need = np.bincount(a.group, weights=np.maximum(np.maximum(high - a.position, 0), requested_packs * a.pack),
                       minlength=n_groups)
    at_risk = (asked > a.available + 1e-9) | (need > a.available + 1e-9)
    y = np.where(at_risk[a.group], 0.0, requested_packs * a.pack)
    solved_with = np.where(at_risk[a.group], "highs-lp", "not short").astype(object)
    shadow = np.zeros(n_groups)
    solve_seconds: list[float] = []
    blocks = fallback_blocks = 0
    reason: str | None = None
    risky = np.flatnonzero(at_risk)
    for start in range(0, risky.size, block_groups):
        block = risky[start:start + block_groups]
        rows = np.flatnonzero(np.isin(a.group, block))
        started = time.perf_counter()
        solved = _solve_block(a, rows, first[rows], later[rows], time_limit)
        if solved is None:
            fallback_blocks += 1
            reason = f"time limit of {time_limit:g} s reached or HiGHS failed; one-day greedy used"
            y[rows] = _greedy_fallback(a, rows)
            solved_with[rows] = "greedy (fallback)"
        else:
            shipped, pool_price = solved
            y[rows] = np.minimum(np.floor(shipped / a.pack[rows] + 1e-6), requested_packs[rows]) * a.pack[rows]
            shadow += pool_price
        solve_seconds.append(time.perf_counter() - started)
        blocks += 1
    allocated = y.astype(np.int64)
    shipped_total = np.bincount(a.group, weights=allocated, minlength=n_groups)
    kept = np.floor(a.available - shipped_total + 1e-9).astype(np.int64)
    before = np.maximum(first + later - a.position[:, None], 0).mean(axis=1)
    after = _lost_with_best_recourse(a, allocated.astype(np.float64), kept.astype(np.float64), first, later)
    binding = np.where(
        allocated >= requested_packs * a.pack, "request met",
        np.where(kept[a.group] >= a.pack, "kept at the source for sites that will need it more",
                 "source stock exhausted")).astype(object)
    binding[(a.requested <= 0)] = "not ordering today"
    return HorizonResult(
        allocated=allocated, kept_back=kept, at_risk=at_risk, solved_with=solved_with, fell_back=fallback_blocks > 0,
        fallback_reason=reason, blocks=blocks, fallback_blocks=fallback_blocks, solve_seconds=solve_seconds,
        expected_lost_before=before, expected_lost_after=after, expected_cost_after=after * a.shortage,
        shadow_price=shadow, binding=binding)


def _solve_block(a: _Sites, rows: np.ndarray, first: np.ndarray, later: np.ndarray,
                 time_limit: float) -> tuple[np.ndarray, np.ndarray] | None:
    """The two-stage LP of ``rows`` (whole sources); returns (today's units per row, pool price per source)."""
    n, n_scen = rows.size, first.shape[1]
    groups, local_group = np.unique(a.group[rows], return_inverse=True)
    n_pairs = n * n_scen
    # variables: y (n), then per (row, scenario): u, v, z
    pair = np.arange(n_pairs)
    row_of_pair = pair // n_scen
    scen_of_pair = pair % n_scen
    u_index = n + 3 * pair
    v_index = u_index + 1
    z_index = u_index + 2
    position = a.position[rows][row_of_pair]
    d1 = first.ravel()
    d12 = d1 + later.ravel()
    # first window:  -y - u <= P - D1          later window: -y - u - z - v <= P - D1 - D2
    # pool:          sum_i y_i + sum_i z_is <= available   for every source and scenario
    first_rows = pair
    later_rows = n_pairs + pair
    pool_rows = 2 * n_pairs + local_group[row_of_pair] * n_scen + scen_of_pair
    y_pool_rows = 2 * n_pairs + (local_group[:, None] * n_scen + np.arange(n_scen)[None, :]).ravel()
    entries_row = np.concatenate([first_rows, first_rows, later_rows, later_rows, later_rows, later_rows,
                                  pool_rows, y_pool_rows])
    entries_col = np.concatenate([row_of_pair, u_index, row_of_pair, u_index, z_index, v_index, z_index,
                                  np.repeat(np.arange(n), n_scen)])
    entries_value = np.concatenate([-np.ones(6 * n_pairs), np.ones(n_pairs), np.ones(n * n_scen)])
    n_constraints = 2 * n_pairs + groups.size * n_scen
    n_variables = n + 3 * n_pairs
    matrix = sp.csr_matrix((entries_value, (entries_row, entries_col)), shape=(n_constraints, n_variables))
    rhs = np.concatenate([position - d1, position - d12, np.repeat(a.available[groups], n_scen)])
    weight = 1.0 / n_scen
    cost = np.zeros(n_variables)
    cost[u_index] = a.shortage[rows][row_of_pair] * weight
    cost[v_index] = a.shortage[rows][row_of_pair] * weight
    cost[z_index] = a.deferral[rows][row_of_pair] * weight
    upper = np.full(n_variables, np.inf)
    upper[:n] = np.ceil(a.requested[rows] / a.pack[rows] - 1e-9) * a.pack[rows]
    res = linprog(cost, A_ub=matrix, b_ub=rhs, bounds=np.column_stack([np.zeros(n_variables), upper]),
                  method="highs", options={"time_limit": float(time_limit), "presolve": True})
    if res.status != 0 or res.x is None:
        return None
    pool_duals = -np.asarray(res.ineqlin.marginals[2 * n_pairs:]).reshape(groups.size, n_scen).sum(axis=1)
    price = np.zeros(a.available.size)
    price[groups] = pool_duals
    return np.asarray(res.x[:n]), price


def _greedy_fallback(a: _Sites, rows: np.ndarray) -> np.ndarray:
    """Today's requests shared by the one-day greedy over both windows (no keeping back)."""
    result = allocate(AllocationProblem(
        group=a.group[rows], requested=a.requested[rows], available=a.available,
        position=a.position[rows], demand_mean=a.first_mean[rows] + a.later_mean[rows],
        demand_sd=np.hypot(a.first_sd[rows], a.later_sd[rows]), shortage_cost=a.shortage[rows],
        pack_size=a.pack[rows]), "greedy")
    return result.allocated.astype(np.float64)


def _lost_with_best_recourse(a: _Sites, shipped: np.ndarray, kept: np.ndarray, first: np.ndarray,
                             later: np.ndarray) -> np.ndarray:
    """Mean lost units per site when what is kept goes, scenario by scenario, to the dearest needs first.

    For a fixed ``shipped`` the later stage is a fractional knapsack per source and scenario: the
    pool covers the sites' later-window gaps in decreasing order of shortage cost (exact for the
    LP's second stage without deferral costs)."""
    stock = a.position + shipped
    lost_first = np.maximum(first - stock[:, None], 0)
    gap = np.maximum(later - (stock[:, None] - first + lost_first), 0)
    order = np.lexsort((-a.shortage, a.group))
    gap_sorted = gap[order]
    group_sorted = a.group[order]
    cumulative = np.cumsum(gap_sorted, axis=0)
    start = np.r_[True, group_sorted[1:] != group_sorted[:-1]]
    base_index = np.maximum.accumulate(np.where(start, np.arange(order.size), 0))
    before = cumulative - gap_sorted - (cumulative[base_index] - gap_sorted[base_index])
    covered = np.clip(kept[group_sorted][:, None] - before, 0, gap_sorted)
    lost_later = np.empty_like(gap)
    lost_later[order] = gap_sorted - covered
    return (lost_first + lost_later).mean(axis=1)

"""Allocation of a short source (a DC) over the sites that asked it for stock.

Each request ``i`` draws on source ``group[i]``. A site starting its horizon with stock
``S = position + y`` expects to pay

    cost_i(y) = priority_i * p_i * E[(D_i - S)+] + h_i * E[(S - D_i)+]

(demand ``D_i`` over the horizon, normal approximation, see ``shortage``). Methods:

- ``lp`` — minimise the sum of ``cost_i`` subject to ``sum_i y_i <= available[g]`` and
  ``0 <= y_i <= requested_i``, as a linear programme (HiGHS through SciPy) over a piecewise-linear
  version of each convex ``cost_i`` (at most ``max_segments`` segments per request). Sources that
  are not short are given their requests without a solve; short ones are solved in blocks of
  ``block_groups`` sources, each with ``time_limit`` seconds. A block that hits its limit (or
  fails) is solved by the greedy heuristic instead, and the result says so.
- ``greedy`` — the same objective, units to the largest marginal saving first (exact for this
  separable convex problem, so it is also the LP's cross-check).
- ``fair-share`` — equal days of cover: ``(position + y) / daily_demand`` levelled by water-filling.
- ``proportional`` — every request gets the same share of what is available.

Every method returns whole packs (``pack_size`` units), never more than requested nor more than
the source holds. LP and greedy answers are polished by pairwise unit swaps within a source until
no swap lowers the cost, which makes them exact on the unit grid (the piecewise-linear LP is exact
only at segment ends). The result explains each request: expected shortage before (no allocation),
requested (all of it) and after, its cost, the binding constraint, and each source's shadow price
(what one more unit at the source would save).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from scipy.optimize import linprog

from stockmesh.planning.allocation.errors import AllocationInputError, check_finite_non_negative, check_index
from stockmesh.planning.allocation.shortage import expected_shortage, newsvendor_cost

METHODS = ("lp", "greedy", "fair-share", "proportional")


@dataclass(frozen=True, kw_only=True)
class AllocationProblem:
    """Requests on short sources, as parallel arrays (one entry per request).

    ``position`` is the stock the site can count on within the horizon without this allocation
    (on hand plus inbound), ``demand_mean``/``demand_sd`` its demand over the horizon,
    ``shortage_cost`` the penalty per unit short, ``overage_cost`` the cost per unit left at the
    end of the horizon (holding over it), ``priority`` a multiplier of the shortage cost,
    ``daily_demand`` the rate used for days of cover (defaults to ``demand_mean``).
    """

    group: np.ndarray
    requested: np.ndarray
    available: np.ndarray
    position: np.ndarray
    demand_mean: np.ndarray
    demand_sd: np.ndarray
    shortage_cost: np.ndarray
    overage_cost: np.ndarray | float = 0.0
    priority: np.ndarray | float = 1.0
    daily_demand: np.ndarray | None = None
    pack_size: np.ndarray | int = 1

    def validated(self) -> _Arrays:
        n = np.asarray(self.requested).shape[0]

        def per_row(name: str, value: np.ndarray | float) -> np.ndarray:
            array = np.broadcast_to(np.asarray(value, dtype=np.float64), (n,)).astype(np.float64)
            check_finite_non_negative(name, array)
            return array

        group = np.asarray(self.group, dtype=np.int64)
        available = np.asarray(self.available, dtype=np.float64)
        check_finite_non_negative("available", available)
        if group.shape != (n,):
            raise AllocationInputError("group must have one source per request", field="group")
        check_index("group", group, available.shape[0], "source")
        requested = per_row("requested", self.requested)
        mean = per_row("demand_mean", self.demand_mean)
        pack = np.maximum(per_row("pack_size", self.pack_size), 1)
        position = np.broadcast_to(np.asarray(self.position, dtype=np.float64), (n,)).astype(np.float64)
        if np.isnan(position).any():
            raise AllocationInputError("position contains NaN", field="position")
        daily = per_row("daily_demand", mean if self.daily_demand is None else self.daily_demand)
        return _Arrays(
            group=group, requested_packs=np.ceil(requested / pack - 1e-9).astype(np.int64), available=available,
            position=position, mean=mean, sd=per_row("demand_sd", self.demand_sd),
            shortage=per_row("shortage_cost", self.shortage_cost) * per_row("priority", self.priority),
            overage=per_row("overage_cost", self.overage_cost), daily=daily, pack=pack,
        )


@dataclass
class _Arrays:
    group: np.ndarray
    requested_packs: np.ndarray
    available: np.ndarray
    position: np.ndarray
    mean: np.ndarray
    sd: np.ndarray
    shortage: np.ndarray
    overage: np.ndarray
    daily: np.ndarray
    pack: np.ndarray

    def cost(self, packs: np.ndarray, rows: np.ndarray | slice = slice(None)) -> np.ndarray:
        stock = self.position[rows] + packs * self.pack[rows]
        return newsvendor_cost(stock, self.mean[rows], self.sd[rows], self.shortage[rows], self.overage[rows])


@dataclass(frozen=True, kw_only=True)
class AllocationResult:
    """Allocated units per request, and everything needed to explain them."""

    allocated: np.ndarray
    method: str
    solved_with: np.ndarray  # per request: "not short", "highs-lp", "greedy", "fair-share", "proportional"
    fell_back: bool  # some block hit its time limit (or failed) and was solved greedily
    fallback_reason: str | None
    blocks: int
    fallback_blocks: int
    solve_seconds: list[float]
    expected_shortage_before: np.ndarray  # units, with no allocation
    expected_shortage_requested: np.ndarray  # units, had every request been met
    expected_shortage_after: np.ndarray  # units, with the allocation
    expected_cost_after: np.ndarray  # shortage (with priority) + overage cost
    binding: np.ndarray  # per request: which constraint stopped it
    shadow_price: np.ndarray  # per source: cost one more unit there would save
    short_groups: np.ndarray  # per source: requests exceeded what it holds
    extra: dict[str, object] = field(default_factory=dict)

    def explain(self, i: int) -> dict[str, object]:
        """The numbers behind request ``i``, for a proposal's provenance."""
        return {
            "method": self.method, "solved_with": str(self.solved_with[i]),
            "allocated": int(self.allocated[i]),
            "expected_shortage_before": round(float(self.expected_shortage_before[i]), 3),
            "expected_shortage_if_requested": round(float(self.expected_shortage_requested[i]), 3),
            "expected_shortage_after": round(float(self.expected_shortage_after[i]), 3),
            "expected_cost_after": round(float(self.expected_cost_after[i]), 3),
            "binding": str(self.binding[i]), "fell_back_to_greedy": self.fell_back,
            "fallback_reason": self.fallback_reason,
        }


def allocate(problem: AllocationProblem, method: str = "lp", *, time_limit: float = 2.0, max_segments: int = 24,
             block_groups: int = 400) -> AllocationResult:
    """Allocate every source's available stock over its requests; see the module docstring."""
    if method not in METHODS:
        raise AllocationInputError(f"unknown allocation method '{method}'; expected one of {', '.join(METHODS)}",
                                   field="method")
    if time_limit <= 0:
        raise AllocationInputError("time_limit must be positive", field="time_limit")
    a = problem.validated()
    n_groups = a.available.shape[0]
    pack_of_group = np.ones(n_groups)
    np.maximum.at(pack_of_group, a.group, a.pack)
    if (pack_of_group[a.group] != a.pack).any():
        raise AllocationInputError("the requests on one source must share a pack size (one SKU per source)",
                                   field="pack_size")
    available_packs = np.floor(a.available / pack_of_group + 1e-9).astype(np.int64)
    asked = np.bincount(a.group, weights=a.requested_packs, minlength=n_groups)
    short_groups = asked > available_packs
    short_rows = short_groups[a.group]
    packs = np.where(short_rows, 0, a.requested_packs).astype(np.int64)
    solved_with = np.where(short_rows, method, "not short").astype(object)
    solve_seconds: list[float] = []
    blocks = fallback_blocks = 0
    reason: str | None = None
    rows = np.flatnonzero(short_rows)
    if rows.size:
        if method == "proportional":
            packs[rows] = _proportional(a.requested_packs[rows], a.group[rows], available_packs)
        elif method == "fair-share":
            packs[rows] = _days_of_cover(a, rows, available_packs)
        else:
            short_ids = np.flatnonzero(short_groups)
            for start in range(0, short_ids.size, block_groups):
                block = short_ids[start:start + block_groups]
                block_rows = rows[np.isin(a.group[rows], block)]
                started = time.perf_counter()
                result: np.ndarray | None = None
                if method == "lp":
                    result, why = _solve_lp(a, block_rows, available_packs, time_limit, max_segments)
                    if result is None:
                        fallback_blocks += 1
                        reason = why
                        solved_with[block_rows] = "greedy (fallback)"
                    else:
                        solved_with[block_rows] = "highs-lp"
                if result is None:
                    result = _greedy(a, block_rows, available_packs, max_segments)
                    if method == "greedy":
                        solved_with[block_rows] = "greedy"
                packs[block_rows] = _polish(a, block_rows, result, available_packs)
                solve_seconds.append(time.perf_counter() - started)
                blocks += 1
    allocated = (packs * a.pack).astype(np.int64)
    return _explain(a, problem, method, packs, allocated, solved_with, available_packs, short_groups,
                    solve_seconds, blocks, fallback_blocks, reason)


# ------------------------------------------------------------------------------------- methods
def _segments(a: _Arrays, rows: np.ndarray, max_segments: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Piecewise-linear segments of each request's cost with a negative slope (the useful ones).

    Returns (owner row position within ``rows``, length in packs, slope per pack)."""
    req = a.requested_packs[rows]
    k = int(min(max_segments, max(int(req.max(initial=0)), 1)))
    width = np.maximum(np.ceil(req / k), 1).astype(np.int64)
    starts = np.minimum(np.arange(k)[None, :] * width[:, None], req[:, None])
    ends = np.minimum(starts + width[:, None], req[:, None])
    owner = np.repeat(np.arange(rows.size), k)
    rep_rows = rows[owner]
    c_start = a.cost(starts.ravel().astype(np.float64), rep_rows)
    c_end = a.cost(ends.ravel().astype(np.float64), rep_rows)
    length = (ends - starts).ravel()
    slope = np.where(length > 0, (c_end - c_start) / np.maximum(length, 1), 0.0)
    useful = (length > 0) & (slope < 0)
    return owner[useful], length[useful], slope[useful]


def _solve_lp(a: _Arrays, rows: np.ndarray, available_packs: np.ndarray, time_limit: float,
              max_segments: int) -> tuple[np.ndarray | None, str | None]:
    owner, length, slope = _segments(a, rows, max_segments)
    out = np.zeros(rows.size)
    if owner.size == 0:
        return out, None
    groups, local = np.unique(a.group[rows][owner], return_inverse=True)
    matrix = sp.csr_matrix((np.ones(owner.size), (local, np.arange(owner.size))), shape=(groups.size, owner.size))
    res = linprog(slope, A_ub=matrix, b_ub=available_packs[groups].astype(np.float64),
                  bounds=np.column_stack([np.zeros(owner.size), length.astype(np.float64)]), method="highs",
                  options={"time_limit": float(time_limit), "presolve": True})
    if res.status != 0 or res.x is None:
        status = "time limit reached" if res.status == 1 else f"HiGHS status {res.status}: {res.message}"
        return None, f"{status} after {time_limit:g} s; greedy heuristic used"
    np.add.at(out, owner, res.x)
    return np.floor(out + 1e-6), None


def _greedy(a: _Arrays, rows: np.ndarray, available_packs: np.ndarray, max_segments: int) -> np.ndarray:
    """Segments by increasing slope within each source, while the source has packs left."""
    owner, length, slope = _segments(a, rows, max_segments)
    out = np.zeros(rows.size)
    if owner.size == 0:
        return out
    group = a.group[rows][owner]
    order = np.lexsort((slope, group))
    group, length_sorted, owner_sorted = group[order], length[order], owner[order]
    cumulative = np.cumsum(length_sorted)
    first = np.r_[True, group[1:] != group[:-1]]
    base = np.maximum.accumulate(np.where(first, cumulative - length_sorted, 0))
    before = cumulative - length_sorted - base
    take = np.clip(available_packs[group] - before, 0, length_sorted)
    np.add.at(out, owner_sorted, take)
    return out


def _group_best(values: np.ndarray, group: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(index of the smallest value per group present, the groups) — one row per group."""
    order = np.lexsort((values, group))
    first = np.r_[True, group[order][1:] != group[order][:-1]]
    return order[first], group[order][first]


def _polish(a: _Arrays, rows: np.ndarray, packs: np.ndarray, available_packs: np.ndarray,
            max_rounds: int = 10_000) -> np.ndarray:
    """Integer repair and pairwise swaps within each source until no move lowers the cost."""
    y = np.minimum(np.floor(packs + 1e-9), a.requested_packs[rows]).astype(np.float64)
    group = a.group[rows]
    cap = a.requested_packs[rows].astype(np.float64)
    for _ in range(max_rounds):
        here = a.cost(y, rows)
        add = np.where(y < cap, a.cost(y + 1, rows) - here, np.inf)
        remove = np.where(y > 0, a.cost(np.maximum(y - 1, 0), rows) - here, np.inf)
        used = np.bincount(group, weights=y, minlength=available_packs.size)
        changed = False
        best_add, groups = _group_best(add, group)
        room = used[groups] < available_packs[groups]
        give = best_add[room & (add[best_add] < -1e-12)]
        if give.size:
            y[give] += 1
            changed = True
        drop = remove < -1e-12  # a unit that costs more kept at the site than at the source
        if drop.any():
            y[drop] -= 1
            changed = True
        if not changed:
            best_remove, groups_r = _group_best(remove, group)
            add_of = dict(zip(groups.tolist(), best_add.tolist(), strict=True))
            swaps = []
            for g, j in zip(groups_r.tolist(), best_remove.tolist(), strict=True):
                i = add_of[g]
                if i != j and add[i] + remove[j] < -1e-9:
                    swaps.append((i, j))
            if not swaps:
                break
            for i, j in swaps:
                y[i] += 1
                y[j] -= 1
    return y.astype(np.int64)


def _proportional(requested: np.ndarray, group: np.ndarray, available_packs: np.ndarray) -> np.ndarray:
    """Same share of its request for everyone; what flooring leaves goes to the largest requests."""
    total = np.bincount(group, weights=requested, minlength=available_packs.size)
    share = np.where(total > 0, np.minimum(available_packs / np.maximum(total, 1), 1.0), 0.0)
    out = np.floor(requested * share[group] + 1e-9).astype(np.int64)
    left = available_packs - np.bincount(group, weights=out, minlength=available_packs.size).astype(np.int64)
    order = np.lexsort((-requested, group))
    rank = np.empty(group.size, dtype=np.int64)
    first = np.r_[True, group[order][1:] != group[order][:-1]]
    starts = np.maximum.accumulate(np.where(first, np.arange(group.size), 0))
    rank[order] = np.arange(group.size) - starts
    extra = (rank < left[group]) & (out < requested)
    return out + extra


def _days_of_cover(a: _Arrays, rows: np.ndarray, available_packs: np.ndarray) -> np.ndarray:
    """Water-filling: the same days of cover at every site, as far as requests and stock allow."""
    group, req = a.group[rows], a.requested_packs[rows].astype(np.float64)
    daily = np.maximum(a.daily[rows], 1e-9)
    position, pack = a.position[rows], a.pack[rows]
    n_groups = available_packs.size

    def fill(level: np.ndarray) -> np.ndarray:
        return np.clip((level[group] * daily - position) / pack, 0, req)

    low = np.zeros(n_groups)
    np.minimum.at(low, group, position / daily - 1)  # a level at which nobody gets anything
    cover_max = np.zeros(n_groups)
    np.maximum.at(cover_max, group, (position + req * pack) / daily)
    high = np.maximum(cover_max, 1.0)
    for _ in range(60):
        middle = (low + high) / 2
        over = np.bincount(group, weights=fill(middle), minlength=n_groups) > available_packs
        high = np.where(over, middle, high)
        low = np.where(over, low, middle)
    y = np.floor(fill(low) + 1e-9)
    while True:  # the packs flooring left, one at a time to the lowest cover
        left = available_packs - np.bincount(group, weights=y, minlength=n_groups)
        cover = np.where(y < req, (position + y * pack) / daily, np.inf)
        best, groups = _group_best(cover, group)
        give = best[(left[groups] > 0) & np.isfinite(cover[best])]
        if give.size == 0:
            return y.astype(np.int64)
        y[give] += 1


# ------------------------------------------------------------------------------------- explanations
def _explain(a: _Arrays, problem: AllocationProblem, method: str, packs: np.ndarray, allocated: np.ndarray,
             solved_with: np.ndarray, available_packs: np.ndarray, short_groups: np.ndarray,
             solve_seconds: list[float], blocks: int, fallback_blocks: int, reason: str | None) -> AllocationResult:
    before = expected_shortage(a.position, a.mean, a.sd)
    requested_stock = a.position + a.requested_packs * a.pack
    after_stock = a.position + allocated
    n_groups = available_packs.size
    used = np.bincount(a.group, weights=packs, minlength=n_groups)
    exhausted = used >= available_packs
    add = np.where(packs < a.requested_packs, a.cost(packs + 1.0) - a.cost(packs.astype(np.float64)), np.inf)
    shadow = np.zeros(n_groups)
    if add.size:
        best = np.full(n_groups, np.inf)
        np.minimum.at(best, a.group, add)
        shadow = np.where(np.isfinite(best), np.maximum(-best, 0.0), 0.0)
    binding = np.where(
        packs >= a.requested_packs, "request met",
        np.where(exhausted[a.group], "source stock exhausted", np.where(
            method in ("lp", "greedy"), "no value in more (overage cost >= shortage saved)", "allocation rule"))
    ).astype(object)
    return AllocationResult(
        allocated=allocated, method=method, solved_with=solved_with, fell_back=fallback_blocks > 0,
        fallback_reason=reason, blocks=blocks, fallback_blocks=fallback_blocks, solve_seconds=solve_seconds,
        expected_shortage_before=before,
        expected_shortage_requested=expected_shortage(requested_stock, a.mean, a.sd),
        expected_shortage_after=expected_shortage(after_stock, a.mean, a.sd),
        expected_cost_after=newsvendor_cost(after_stock, a.mean, a.sd, a.shortage, a.overage),
        binding=binding, shadow_price=shadow, short_groups=short_groups,
    )

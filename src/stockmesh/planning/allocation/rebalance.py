"""Rebalancing (lateral transshipment) between sites of one echelon: a MIP per block of SKUs.

Rows are SKU x site. A row's *exposure* is its demand over ``horizon_days`` (until its own
replenishment can land: its lead time plus a review day), against ``stock_in_horizon`` (on hand plus
what is due in within the horizon). With normal demand (mean ``mu H``, sd ``sigma sqrt(H)``):

- a **receiver** gains ``p_r (L_H(S_r) - L_H(S_r + x))`` from ``x`` units (``L`` the expected shortage);
  units in transit for ``t`` days cannot serve the demand of those days: that *transit-time risk*
  is charged per unit as ``p_r (L_t(OH_r) - L_t(OH_r + n_r)) / n_r`` (the average over the receiver's
  need ``n_r``, with ``OH_r`` its on hand), so a slow lane must buy more to be worth it;
- a **donor** loses ``p_d (L_H(OH_d - x) - L_H(OH_d))`` and is never taken below its own reorder
  level: ``x <= OH_d - ceil(mu_d H_d + safety_stock_d)``. Both use its on hand only (what is due in
  may come late), so a donor gives only stock that its shelf would not need before a new order of
  its own could land;
- a **lane** costs ``cost_per_unit x + cost_per_shipment z`` (``z`` binary: a fixed cost makes it a
  MIP), carries at most ``capacity`` units and at least ``min_shipment`` when used.

The MIP maximises receivers' gains minus donors' losses, transport and transit risk (gains and
losses as convex piecewise-linear functions, integer units), so a transfer is proposed only when
the expected stock-out cost it avoids exceeds its transport cost plus its transit-time risk. SKUs
are independent; they are screened with array operations (a SKU needs a receiver at risk, a donor
with stock above its reorder level and a lane between them) and the rest is solved in blocks of
``block_skus`` SKUs, each within ``time_limit`` seconds (HiGHS through ``scipy.optimize.milp``). A
block that hits its limit without a proven optimum is solved by the greedy heuristic (best arc of
each SKU first, repeatedly), and the result says so.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from scipy.optimize import Bounds, LinearConstraint, milp

from stockmesh.planning.allocation.errors import AllocationInputError, check_finite_non_negative, check_index
from stockmesh.planning.allocation.shortage import expected_shortage


@dataclass(frozen=True, kw_only=True)
class Lanes:
    """Lateral lanes between sites (indices into the site list)."""

    source: np.ndarray
    destination: np.ndarray
    cost_per_unit: np.ndarray
    cost_per_shipment: np.ndarray
    capacity: np.ndarray  # units per shipment (inf = unlimited)
    transit_days: np.ndarray
    min_shipment: np.ndarray

    def validate(self, n_sites: int) -> None:
        m = np.asarray(self.source).shape[0]
        for name in ("destination", "cost_per_unit", "cost_per_shipment", "capacity", "transit_days", "min_shipment"):
            if np.asarray(getattr(self, name)).shape != (m,):
                raise AllocationInputError(f"lanes.{name} must have one value per lane", field=f"lanes.{name}")
        check_index("lanes.source", self.source, n_sites, "site")
        check_index("lanes.destination", self.destination, n_sites, "site")
        loops = np.flatnonzero(np.asarray(self.source) == np.asarray(self.destination))
        if loops.size:
            raise AllocationInputError(f"lane {int(loops[0])} goes from a site to itself", field="lanes")
        for name in ("cost_per_unit", "cost_per_shipment", "transit_days", "min_shipment"):
            check_finite_non_negative(f"lanes.{name}", getattr(self, name))
        check_finite_non_negative("lanes.capacity", self.capacity, allow_inf=True)
        infeasible = np.flatnonzero(np.asarray(self.min_shipment) > np.asarray(self.capacity))
        if infeasible.size:
            lane = int(infeasible[0])
            raise AllocationInputError(
                f"lane {lane} is infeasible: minimum shipment {float(self.min_shipment[lane]):g} above its "
                f"capacity {float(self.capacity[lane]):g}", field="lanes.min_shipment")


@dataclass(frozen=True, kw_only=True)
class RebalanceProblem:
    """The rows (SKU x site) of one echelon and the lanes between their sites."""

    sku: np.ndarray
    site: np.ndarray
    on_hand: np.ndarray
    stock_in_horizon: np.ndarray
    demand_mean: np.ndarray  # per day
    demand_sd: np.ndarray  # per day
    horizon_days: np.ndarray
    safety_stock: np.ndarray
    shortage_cost: np.ndarray
    lanes: Lanes
    n_sites: int

    def validate(self) -> None:
        n = np.asarray(self.sku).shape[0]
        for name in ("site", "on_hand", "stock_in_horizon", "demand_mean", "demand_sd", "horizon_days",
                     "safety_stock", "shortage_cost"):
            if np.asarray(getattr(self, name)).shape != (n,):
                raise AllocationInputError(f"{name} must have one value per row", field=name)
        for name in ("on_hand", "demand_mean", "demand_sd", "horizon_days", "safety_stock", "shortage_cost"):
            check_finite_non_negative(name, getattr(self, name))
        check_index("site", self.site, self.n_sites, "site")
        self.lanes.validate(self.n_sites)


@dataclass(frozen=True, kw_only=True)
class Transfers:
    """Proposed lateral transfers and the numbers that justify each one."""

    sku: np.ndarray
    from_row: np.ndarray
    to_row: np.ndarray
    lane: np.ndarray
    qty: np.ndarray
    receiver_shortage_before: np.ndarray  # expected units short over the receiver's horizon
    receiver_shortage_after: np.ndarray
    donor_shortage_before: np.ndarray
    donor_shortage_after: np.ndarray
    stockout_cost_avoided: np.ndarray  # receiver's gain minus donor's loss
    transport_cost: np.ndarray
    transit_risk_cost: np.ndarray
    expected_value: np.ndarray  # avoided - transport - transit risk
    binding: np.ndarray  # e.g. "donor reorder level", "lane capacity", "receiver need"

    def __len__(self) -> int:
        return int(self.qty.shape[0])

    def explain(self, i: int) -> dict[str, object]:
        return {
            "qty": int(self.qty[i]),
            "receiver_expected_shortage_before": round(float(self.receiver_shortage_before[i]), 3),
            "receiver_expected_shortage_after": round(float(self.receiver_shortage_after[i]), 3),
            "donor_expected_shortage_before": round(float(self.donor_shortage_before[i]), 3),
            "donor_expected_shortage_after": round(float(self.donor_shortage_after[i]), 3),
            "stockout_cost_avoided": round(float(self.stockout_cost_avoided[i]), 2),
            "transport_cost": round(float(self.transport_cost[i]), 2),
            "transit_risk_cost": round(float(self.transit_risk_cost[i]), 2),
            "expected_value": round(float(self.expected_value[i]), 2),
            "binding": str(self.binding[i]),
        }


@dataclass(frozen=True, kw_only=True)
class RebalanceResult:
    transfers: Transfers
    method: str
    candidate_skus: int
    blocks: int
    fallback_blocks: int
    fallback_reason: str | None
    solve_seconds: list[float]
    screen_seconds: float
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def fell_back(self) -> bool:
        return self.fallback_blocks > 0


@dataclass
class _Arcs:
    """Candidate (donor row, receiver row, lane) triples with everything the solvers need."""

    sku: np.ndarray
    donor: np.ndarray
    receiver: np.ndarray
    lane: np.ndarray
    upper: np.ndarray
    minimum: np.ndarray
    unit_cost: np.ndarray  # transport per unit + transit risk per unit
    transit_risk: np.ndarray
    fixed_cost: np.ndarray


def rebalance(problem: RebalanceProblem, *, method: str = "mip", time_limit: float = 2.0, block_skus: int = 25,
              max_segments: int = 12, donors_per_receiver: int = 3, min_expected_shortage: float = 0.05,
              mip_gap: float = 1e-2, time_budget: float | None = None, hurdle: float = 0.0) -> RebalanceResult:
    """Propose lateral transfers; see the module docstring. ``method`` is ``mip`` or ``greedy``.

    ``time_limit`` bounds each block's MIP; ``time_budget`` (seconds, optional) bounds the whole call:
    once spent, the remaining blocks are solved greedily (counted and reported as fallbacks).
    ``hurdle`` asks more of a transfer than breaking even: it must avoid ``(1 + hurdle)`` times its
    transport cost and transit risk (a margin for the error of the demand estimates).
    """
    check_finite_non_negative("hurdle", hurdle)
    if method not in ("mip", "greedy"):
        raise AllocationInputError(f"unknown rebalancing method '{method}'; expected mip or greedy", field="method")
    if time_limit <= 0:
        raise AllocationInputError("time_limit must be positive", field="time_limit")
    problem.validate()
    started = time.perf_counter()
    p = _Rows.of(problem)
    arcs = _candidate_arcs(problem, p, donors_per_receiver, min_expected_shortage)
    true_unit, true_fixed = arcs.unit_cost, arcs.fixed_cost
    arcs.unit_cost, arcs.fixed_cost = true_unit * (1 + hurdle), true_fixed * (1 + hurdle)
    screen_seconds = time.perf_counter() - started
    qty = np.zeros(arcs.sku.size, dtype=np.int64)
    # the SKUs with the most stock-out cost at stake first, so a time budget spends the MIP where it pays
    at_stake = np.zeros(int(arcs.sku.max(initial=-1)) + 1)
    np.maximum.at(at_stake, arcs.sku, p.penalty[arcs.receiver] * p.shortage_now[arcs.receiver])
    skus = np.unique(arcs.sku)
    skus = skus[np.argsort(-at_stake[skus], kind="stable")]
    solve_seconds: list[float] = []
    blocks = fallback_blocks = 0
    reason = None
    rank = np.zeros(at_stake.size, dtype=np.int64)
    rank[skus] = np.arange(skus.size)
    by_rank = np.argsort(rank[arcs.sku], kind="stable")
    sorted_rank = rank[arcs.sku][by_rank]
    for start in range(0, skus.size, block_skus):
        lo, hi = np.searchsorted(sorted_rank, [start, start + block_skus])
        block = np.sort(by_rank[lo:hi])
        t0 = time.perf_counter()
        solution = None
        over_budget = time_budget is not None and time.perf_counter() - started > time_budget
        if method == "mip" and over_budget:
            fallback_blocks += 1
            reason = f"time budget of {time_budget:g} s spent; greedy heuristic used for the remaining blocks"
        elif method == "mip":
            solution, why = _solve_mip(p, arcs, block, time_limit, max_segments, mip_gap)
            if solution is None:
                fallback_blocks += 1
                reason = why
        if solution is None:
            solution = _greedy(p, arcs, block)
        qty[block] = solution
        solve_seconds.append(time.perf_counter() - t0)
        blocks += 1
    arcs.unit_cost, arcs.fixed_cost = true_unit, true_fixed
    return RebalanceResult(transfers=_transfers(p, arcs, qty), method=method, candidate_skus=int(skus.size),
                           blocks=blocks, fallback_blocks=fallback_blocks, fallback_reason=reason,
                           solve_seconds=solve_seconds, screen_seconds=screen_seconds)


@dataclass
class _Rows:
    on_hand: np.ndarray
    stock: np.ndarray
    mean_h: np.ndarray
    sd_h: np.ndarray
    mean_daily: np.ndarray
    sd_daily: np.ndarray
    penalty: np.ndarray
    give_limit: np.ndarray
    need: np.ndarray
    shortage_now: np.ndarray
    donor_shortage_now: np.ndarray

    @classmethod
    def of(cls, problem: RebalanceProblem) -> _Rows:
        horizon = np.maximum(np.asarray(problem.horizon_days, dtype=np.float64), 1.0)
        mean_daily = np.asarray(problem.demand_mean, dtype=np.float64)
        sd_daily = np.asarray(problem.demand_sd, dtype=np.float64)
        mean_h, sd_h = mean_daily * horizon, sd_daily * np.sqrt(horizon)
        stock = np.asarray(problem.stock_in_horizon, dtype=np.float64)
        on_hand = np.asarray(problem.on_hand, dtype=np.float64)
        reorder_level = np.ceil(mean_h + np.asarray(problem.safety_stock, dtype=np.float64))
        give = np.floor(np.maximum(on_hand - reorder_level, 0))
        need = np.floor(np.maximum(np.ceil(mean_h + 3 * sd_h) - stock, 0))
        return cls(on_hand=on_hand, stock=stock, mean_h=mean_h, sd_h=sd_h, mean_daily=mean_daily, sd_daily=sd_daily,
                   penalty=np.asarray(problem.shortage_cost, dtype=np.float64), give_limit=give, need=need,
                   shortage_now=expected_shortage(stock, mean_h, sd_h),
                   donor_shortage_now=expected_shortage(on_hand, mean_h, sd_h))

    def gain(self, rows: np.ndarray, qty: np.ndarray) -> np.ndarray:
        """Stock-out cost a receiver avoids with ``qty`` more units over its horizon."""
        after = expected_shortage(self.stock[rows] + qty, self.mean_h[rows], self.sd_h[rows])
        return self.penalty[rows] * (self.shortage_now[rows] - after)

    def loss(self, rows: np.ndarray, qty: np.ndarray) -> np.ndarray:
        """Stock-out cost a donor takes on by giving ``qty`` units."""
        after = expected_shortage(self.on_hand[rows] - qty, self.mean_h[rows], self.sd_h[rows])
        return self.penalty[rows] * (after - self.donor_shortage_now[rows])


def _candidate_arcs(problem: RebalanceProblem, p: _Rows, per_receiver: int, min_short: float) -> _Arcs:
    sku, site = np.asarray(problem.sku, dtype=np.int64), np.asarray(problem.site, dtype=np.int64)
    n_skus = int(sku.max(initial=-1)) + 1
    lookup = np.full((max(n_skus, 1), problem.n_sites), -1, dtype=np.int64)
    lookup[sku, site] = np.arange(sku.size)
    receiver = (p.need > 0) & (p.shortage_now >= min_short)
    donor = (p.give_limit > 0) & ~receiver
    lanes = problem.lanes
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    useful = np.flatnonzero(
        np.isin(lanes.source, np.unique(site[donor])) & np.isin(lanes.destination, np.unique(site[receiver])))
    for lane in useful:
        from_rows = lookup[:, int(lanes.source[lane])]
        to_rows = lookup[:, int(lanes.destination[lane])]
        ok = (from_rows >= 0) & (to_rows >= 0)
        ok[ok] &= donor[from_rows[ok]] & receiver[to_rows[ok]]
        hit = np.flatnonzero(ok)
        if hit.size:
            parts.append((from_rows[hit], to_rows[hit], np.full(hit.size, lane)))
    if not parts:
        empty = np.zeros(0, dtype=np.int64)
        return _Arcs(empty, empty, empty, empty, empty, empty, np.zeros(0), np.zeros(0), np.zeros(0))
    d_rows = np.concatenate([x[0] for x in parts])
    r_rows = np.concatenate([x[1] for x in parts])
    lane_of = np.concatenate([x[2] for x in parts])
    upper = np.floor(np.minimum(np.minimum(p.give_limit[d_rows], p.need[r_rows]), lanes.capacity[lane_of]))
    minimum = np.ceil(lanes.min_shipment[lane_of])
    transit = np.asarray(lanes.transit_days, dtype=np.float64)[lane_of]
    need = np.maximum(p.need[r_rows], 1)
    during = expected_shortage(p.on_hand[r_rows], p.mean_daily[r_rows] * transit,
                               p.sd_daily[r_rows] * np.sqrt(transit))
    during_with = expected_shortage(p.on_hand[r_rows] + need, p.mean_daily[r_rows] * transit,
                                    p.sd_daily[r_rows] * np.sqrt(transit))
    risk = p.penalty[r_rows] * (during - during_with) / need
    unit = lanes.cost_per_unit[lane_of] + risk
    fixed = lanes.cost_per_shipment[lane_of]
    keep = upper >= np.maximum(minimum, 1)
    # the few cheapest donors of each receiver (per unit, the fixed cost spread over a full load)
    score = unit + fixed / np.maximum(upper, 1)
    keep_idx = np.flatnonzero(keep)
    order = keep_idx[np.lexsort((score[keep_idx], r_rows[keep_idx]))]
    first = np.r_[True, r_rows[order][1:] != r_rows[order][:-1]]
    starts = np.maximum.accumulate(np.where(first, np.arange(order.size), 0))
    chosen = np.sort(order[(np.arange(order.size) - starts) < per_receiver])
    return _Arcs(sku=sku[r_rows[chosen]], donor=d_rows[chosen], receiver=r_rows[chosen], lane=lane_of[chosen],
                 upper=upper[chosen].astype(np.int64), minimum=np.maximum(minimum[chosen], 1).astype(np.int64),
                 unit_cost=unit[chosen], transit_risk=risk[chosen], fixed_cost=fixed[chosen])


def _pwl(lengths: np.ndarray, max_segments: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Breakpoints for rows with capacities ``lengths``: returns (owner, segment length, start)."""
    k = int(min(max_segments, max(int(lengths.max(initial=1)), 1)))
    width = np.maximum(np.ceil(lengths / k), 1)
    starts = np.minimum(np.arange(k)[None, :] * width[:, None], lengths[:, None])
    ends = np.minimum(starts + width[:, None], lengths[:, None])
    owner = np.repeat(np.arange(lengths.size), k)
    seg = (ends - starts).ravel()
    good = seg > 0
    return owner[good], seg[good], starts.ravel()[good]


def _solve_mip(p: _Rows, arcs: _Arcs, block: np.ndarray, time_limit: float, max_segments: int, mip_gap: float = 1e-2
               ) -> tuple[np.ndarray | None, str | None]:
    n_arcs = block.size
    if n_arcs == 0:
        return np.zeros(0, dtype=np.int64), None
    receivers, r_index = np.unique(arcs.receiver[block], return_inverse=True)
    donors, d_index = np.unique(arcs.donor[block], return_inverse=True)
    r_cap = np.minimum(p.need[receivers], np.bincount(r_index, weights=arcs.upper[block]))
    d_cap = np.minimum(p.give_limit[donors], np.bincount(d_index, weights=arcs.upper[block]))
    r_owner, r_len, r_start = _pwl(r_cap, max_segments)
    d_owner, d_len, d_start = _pwl(d_cap, max_segments)
    r_rows, d_rows = receivers[r_owner], donors[d_owner]
    # slopes: receivers' gains are concave (negative cost slopes, rising), donors' losses convex
    r_slope = -(p.gain(r_rows, r_start + r_len) - p.gain(r_rows, r_start)) / r_len
    d_slope = (p.loss(d_rows, d_start + d_len) - p.loss(d_rows, d_start)) / d_len
    n_r, n_d = r_owner.size, d_owner.size
    # variables: x (arcs, integer) | z (arcs, binary) | receiver segments | donor segments
    c = np.concatenate([arcs.unit_cost[block], arcs.fixed_cost[block], r_slope, d_slope])
    n_var = c.size
    upper = np.concatenate([arcs.upper[block], np.ones(n_arcs), r_len, d_len]).astype(np.float64)
    integrality = np.concatenate([np.ones(2 * n_arcs), np.zeros(n_r + n_d)])
    x_cols = np.arange(n_arcs)
    z_cols = n_arcs + x_cols
    r_cols = 2 * n_arcs + np.arange(n_r)
    d_cols = 2 * n_arcs + n_r + np.arange(n_d)
    rows_i: list[np.ndarray] = []
    cols_i: list[np.ndarray] = []
    vals_i: list[np.ndarray] = []
    offset = 0

    def add(r: np.ndarray, col: np.ndarray, v: np.ndarray | float) -> None:
        rows_i.append(r)
        cols_i.append(col)
        vals_i.append(np.broadcast_to(np.asarray(v, dtype=np.float64), col.shape))

    # receiver balance: sum of its segments - inflow = 0
    add(offset + r_owner, r_cols, 1.0)
    add(offset + r_index, x_cols, -1.0)
    offset += receivers.size
    # donor balance: sum of its segments - outflow = 0
    add(offset + d_owner, d_cols, 1.0)
    add(offset + d_index, x_cols, -1.0)
    offset += donors.size
    balance_rows = offset
    # x - U z <= 0 ; x - m z >= 0
    add(offset + x_cols, x_cols, 1.0)
    add(offset + x_cols, z_cols, -arcs.upper[block].astype(np.float64))
    offset += n_arcs
    add(offset + x_cols, x_cols, 1.0)
    add(offset + x_cols, z_cols, -arcs.minimum[block].astype(np.float64))
    offset += n_arcs
    matrix = sp.csr_matrix((np.concatenate(vals_i), (np.concatenate(rows_i), np.concatenate(cols_i))),
                           shape=(offset, n_var))
    lower_b = np.concatenate([np.zeros(balance_rows), np.full(n_arcs, -np.inf), np.zeros(n_arcs)])
    upper_b = np.concatenate([np.zeros(balance_rows), np.zeros(n_arcs), np.full(n_arcs, np.inf)])
    res = milp(c, integrality=integrality, bounds=Bounds(np.zeros(n_var), upper),
               constraints=LinearConstraint(matrix, lower_b, upper_b),
               options={"time_limit": float(time_limit), "mip_rel_gap": mip_gap})
    if res.status != 0 or res.x is None:
        status = "time limit reached" if res.status == 1 else f"HiGHS status {res.status}: {res.message}"
        return None, f"{status} after {time_limit:g} s; greedy heuristic used"
    return np.rint(res.x[:n_arcs]).astype(np.int64), None


def _greedy(p: _Rows, arcs: _Arcs, block: np.ndarray, grid: int = 16) -> np.ndarray:
    """Repeatedly give each SKU its best remaining arc (best quantity on a grid), while it pays."""
    qty = np.zeros(block.size, dtype=np.int64)
    # work on the block's own rows only: a block is small, the network may not be
    rows, local = np.unique(np.concatenate([arcs.donor[block], arcs.receiver[block]]), return_inverse=True)
    donor, receiver = local[:block.size], local[block.size:]
    sub = _Rows(**{name: getattr(p, name)[rows].copy() for name in p.__dataclass_fields__})
    give_left = sub.give_limit.copy()
    open_arcs = np.ones(block.size, dtype=bool)
    fractions = np.arange(1, grid + 1) / grid
    sku = arcs.sku[block]
    while open_arcs.any():
        idx = np.flatnonzero(open_arcs)
        a = block[idx]
        d, r = donor[idx], receiver[idx]
        upper = np.minimum(arcs.upper[a], give_left[d])
        upper = np.minimum(upper, np.maximum(np.ceil(sub.mean_h + 3 * sub.sd_h - sub.stock), 0)[r])
        feasible = upper >= arcs.minimum[a]
        q = np.minimum(np.maximum(np.floor(upper[:, None] * fractions[None, :]), arcs.minimum[a][:, None]),
                       upper[:, None])
        sub.shortage_now = expected_shortage(sub.stock, sub.mean_h, sub.sd_h)
        sub.donor_shortage_now = expected_shortage(sub.on_hand, sub.mean_h, sub.sd_h)
        value = (sub.gain(r[:, None], q) - sub.loss(d[:, None], q) - arcs.unit_cost[a][:, None] * q
                 - arcs.fixed_cost[a][:, None])
        value[~feasible] = -np.inf
        best_q = q[np.arange(idx.size), value.argmax(axis=1)]
        best_v = value.max(axis=1)
        # one arc per SKU per round: its best
        order = np.lexsort((-best_v, sku[idx]))
        first = np.r_[True, sku[idx][order][1:] != sku[idx][order][:-1]]
        pick = order[first]
        pick = pick[best_v[pick] > 0]
        if pick.size == 0:
            break
        # arcs of different SKUs never share rows, so a round applies at once
        amount = best_q[pick].astype(np.int64)
        qty[idx[pick]] += amount
        np.add.at(give_left, d[pick], -amount)
        np.add.at(sub.on_hand, d[pick], -amount)
        np.add.at(sub.stock, d[pick], -amount)
        np.add.at(sub.stock, r[pick], amount)
        open_arcs[idx[pick]] = False
    return qty


def _transfers(p: _Rows, arcs: _Arcs, qty: np.ndarray) -> Transfers:
    used = np.flatnonzero(qty > 0)
    q = qty[used].astype(np.float64)
    d, r = arcs.donor[used], arcs.receiver[used]
    # a receiver fed by several donors: its gain is shared among them in proportion to units
    inflow = np.bincount(r, weights=q, minlength=p.stock.size)
    outflow = np.bincount(d, weights=q, minlength=p.stock.size)
    r_after = expected_shortage(p.stock[r] + inflow[r], p.mean_h[r], p.sd_h[r])
    d_after = expected_shortage(p.on_hand[d] - outflow[d], p.mean_h[d], p.sd_h[d])
    share_r = q / np.maximum(inflow[r], 1)
    share_d = q / np.maximum(outflow[d], 1)
    avoided = p.penalty[r] * (p.shortage_now[r] - r_after) * share_r - p.penalty[d] * (
        d_after - p.donor_shortage_now[d]) * share_d
    transport = (arcs.unit_cost[used] - arcs.transit_risk[used]) * q + arcs.fixed_cost[used]
    risk = arcs.transit_risk[used] * q
    binding = np.where(outflow[d] >= p.give_limit[d], "donor reorder level (safety stock kept)",
                       np.where(q >= arcs.upper[used], "lane capacity or receiver need",
                                np.where(q <= arcs.minimum[used], "minimum shipment",
                                         "marginal value = marginal cost"))).astype(object)
    return Transfers(
        sku=arcs.sku[used], from_row=d, to_row=r, lane=arcs.lane[used], qty=qty[used],
        receiver_shortage_before=p.shortage_now[r], receiver_shortage_after=r_after,
        donor_shortage_before=p.donor_shortage_now[d], donor_shortage_after=d_after,
        stockout_cost_avoided=avoided, transport_cost=transport, transit_risk_cost=risk,
        expected_value=avoided - transport - risk, binding=binding,
    )

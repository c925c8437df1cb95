"""The hindsight baseline: the best static (s, S) per SKU x site on the realised path.

Clairvoyant, reported for context, never a target. The grid, per row, with mu the realised mean
daily demand of the measured days (a DC's: its stores' realised demand) and L its lane's mean
lead time:

    s = round(a * mu * L)   for a in S_MULTIPLES
    S = s + max(1, round(q * mu))   for q in Q_DAYS (days of demand per order)

Every grid point runs as its own copy of the network on the same demand and lead-time draws (one
vectorised run per chunk of copies); each row keeps the point with the lowest measured total cost.
In a multi-echelon network all rows of a copy use the same grid point, and each SKU's supply tree
(a DC row with the store rows it supplies) picks its grid point jointly, by the tree's total cost:
a coarser search than per row, but consistent (the replay costs what the search measured).
"""

from __future__ import annotations

import numpy as np

from stockmesh.adapters.simulated.spec import WorldSpec, tile_spec
from stockmesh.adapters.simulated.world import Observation, SimulatedWorld
from stockmesh.simulation.policies.base import Decision, reorder_to_target

S_MULTIPLES = (0.0, 0.5, 0.8, 1.0, 1.2, 1.4, 1.7, 2.0, 2.5, 3.0)
Q_DAYS = (1.0, 3.0, 7.0, 14.0, 28.0, 56.0)


class StaticSS:
    """A fixed (s, S) per row."""

    def __init__(self, reorder_point: np.ndarray, order_up_to: np.ndarray, name: str = "hindsight") -> None:
        self.name = name
        self.reorder_point = reorder_point
        self.order_up_to = order_up_to

    def decide(self, observation: Observation, rows: np.ndarray) -> Decision:
        return reorder_to_target(
            self.name, rows, observation.inventory_position[rows], self.reorder_point[rows],
            self.order_up_to[rows], "static (s, S) chosen on the realised path (clairvoyant)",
        )


def grid(spec: WorldSpec) -> tuple[np.ndarray, np.ndarray]:
    """[points, rows] candidate s and S."""
    realised = spec.demand[spec.first_measured_day:].astype(np.float64).mean(axis=0)
    for echelon in range(1, spec.n_echelons):
        children = np.flatnonzero((spec.row_echelon == echelon - 1) & (spec.row_parent >= 0))
        realised = realised + np.bincount(spec.row_parent[children], weights=realised[children], minlength=spec.n_rows)
    lead_time = spec.lane_lead_time_mean[spec.row_lane]
    s_values, big_s_values = [], []
    for multiple in S_MULTIPLES:
        for days in Q_DAYS:
            s = np.round(multiple * realised * lead_time)
            s_values.append(s)
            big_s_values.append(s + np.maximum(1, np.round(days * realised)))
    return np.array(s_values), np.array(big_s_values)


def search(spec: WorldSpec, chunk_points: int = 12) -> StaticSS:
    """Evaluate the grid and keep, per row, the (s, S) of lowest measured total cost."""
    s_grid, big_s_grid = grid(spec)
    points = s_grid.shape[0]
    costs = np.empty((points, spec.n_rows))
    for start in range(0, points, chunk_points):
        stop = min(start + chunk_points, points)
        copies = stop - start
        tiled = tile_spec(spec, copies)
        policy = StaticSS(s_grid[start:stop].ravel(), big_s_grid[start:stop].ravel())
        world = SimulatedWorld(tiled)
        totals = world.run(lambda obs, rows, policy=policy: policy.decide(obs, rows).order_quantity)
        total = (totals.holding_cost + totals.ordering_cost + totals.transport_cost + totals.stockout_cost
                 + totals.expiry_cost)
        costs[start:stop] = total.reshape(copies, spec.n_rows)
    # a DC row on its own would pick "no stock" (its shortages cost it nothing), so each SKU's
    # supply tree (a top row and every row it supplies) picks one grid point together
    root = np.arange(spec.n_rows)
    for _ in range(spec.n_echelons):
        root = np.where(spec.row_parent[root] >= 0, spec.row_parent[root], root)
    tree_costs = np.zeros((points, spec.n_rows))
    for point in range(points):
        tree_costs[point] = np.bincount(root, weights=costs[point], minlength=spec.n_rows)
    best = tree_costs.argmin(axis=0)[root]
    rows = np.arange(spec.n_rows)
    return StaticSS(s_grid[best, rows], big_s_grid[best, rows])

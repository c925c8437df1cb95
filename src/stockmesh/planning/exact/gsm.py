"""Guaranteed-service safety-stock placement on trees: the Graves-Willems (2000) dynamic program.

Each node j picks an integer outbound committed service time S_j; its inbound CST is
SI_j = max(external inbound CST, S_i over its suppliers i); feasibility is 0 <= S_j <= SI_j + T_j and
S_j <= its external outbound CST. Node j holds z * sigma_j * sqrt(SI_j + T_j - S_j) units of safety
stock at holding cost h_j. The network, ignoring direction, must be a tree.

The DP labels the nodes so that each node but the last has exactly one neighbour with a higher label
(peel leaves of the undirected tree). Node k then tabulates, over all integer CSTs 0..M at once:
    f_k(S)  = min_SI  c_k(S, SI)   when its higher neighbour is downstream of it,
    g_k(SI) = min_S   c_k(S, SI)   when its higher neighbour is upstream of it,
where c_k adds to its own holding cost the best of its lower-labelled neighbours: min_{S' <= SI} f_i
for suppliers i and min_{SI' >= S} g_i for customers i (prefix and suffix minima). As in the
published DP, SI_k may exceed the suppliers' CSTs; a final pass lowers each S_j to at most
SI_j + T_j, with SI_j recomputed exactly, which never raises the cost, so the answer is optimal and
feasible in the exact schema. Ties go to the smallest CST.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from stockmesh.domain.errors import InvalidInput


@dataclass(frozen=True, slots=True)
class GsmNode:
    """One stage of the network. ``demand_sd`` is its own external demand's sd per period (0 if none)."""

    id: str
    processing_time: int
    holding_cost: float
    successors: tuple[str, ...] = ()
    demand_sd: float = 0.0
    external_inbound_cst: int = 0
    external_outbound_cst: int | None = None


@dataclass(frozen=True, slots=True)
class GsmResult:
    """Optimal committed service times by node id, and the safety-stock holding cost per period."""

    committed_service_times: dict[str, int]
    expected_cost: float
    net_lead_times: dict[str, int]
    safety_stock: dict[str, float]


_MAX_HORIZON = 2000


class NotATreeError(InvalidInput, ValueError):
    """The network, ignoring direction, is not a tree (a cycle, a repeated edge or disconnected). Still a
    ``ValueError``, as the solver's other refusals of its arguments are."""


def _tree_labels(nodes: Sequence[GsmNode]) -> tuple[list[str], dict[str, list[str]]]:
    """Leaf-peeling order of the undirected tree and each node's undirected neighbours."""
    ids = [node.id for node in nodes]
    neighbours: dict[str, list[str]] = {node_id: [] for node_id in ids}
    edges = set()
    for node in nodes:
        for successor in node.successors:
            edge = frozenset((node.id, successor))
            if successor == node.id or edge in edges:
                raise NotATreeError(f"edge {node.id} -> {successor} closes a cycle")
            edges.add(edge)
            neighbours[node.id].append(successor)
            neighbours[successor].append(node.id)
    if len(edges) != len(ids) - 1:
        raise NotATreeError(
            f"{len(ids)} nodes need {len(ids) - 1} links to form a tree, found {len(edges)} "
            "(a cycle or a disconnected network)"
        )
    remaining_degree = {node_id: len(neighbours[node_id]) for node_id in ids}
    removed: set[str] = set()
    order: list[str] = []
    stack = [node_id for node_id in ids if remaining_degree[node_id] <= 1]
    while stack:
        node_id = stack.pop(0)
        if node_id in removed:
            continue
        removed.add(node_id)
        order.append(node_id)
        for other in neighbours[node_id]:
            if other not in removed:
                remaining_degree[other] -= 1
                if remaining_degree[other] == 1:
                    stack.append(other)
    if len(order) != len(ids):
        raise NotATreeError("the network has a cycle")
    return order, neighbours


def _prefix_min(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """min_{i <= x} values[i] and its smallest argmin, for every x."""
    running = np.minimum.accumulate(values)
    index = np.arange(len(values))
    is_new = np.empty(len(values), dtype=bool)
    is_new[0] = True
    is_new[1:] = values[1:] < running[:-1]
    return running, np.maximum.accumulate(np.where(is_new, index, 0))


def _suffix_min(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """min_{i >= x} values[i] and its smallest argmin, for every x."""
    reversed_values = values[::-1]
    running = np.minimum.accumulate(reversed_values)
    index = np.arange(len(values))
    is_new = np.empty(len(values), dtype=bool)
    is_new[0] = True
    is_new[1:] = reversed_values[1:] <= running[:-1]
    last = np.maximum.accumulate(np.where(is_new, index, 0))
    return running[::-1], (len(values) - 1 - last)[::-1]


def solve_gsm_tree(nodes: Sequence[GsmNode], demand_bound_constant: float) -> GsmResult:
    """Optimal committed service times for a tree network (raises NotATreeError otherwise)."""
    by_id = {node.id: node for node in nodes}
    order, neighbours = _tree_labels(nodes)
    label = {node_id: position for position, node_id in enumerate(order)}
    suppliers: dict[str, list[str]] = {node.id: [] for node in nodes}
    for node in nodes:
        for successor in node.successors:
            suppliers[successor].append(node.id)

    # sigma_j^2 = own demand variance + the variances of the nodes it supplies (downstream first).
    variance: dict[str, float] = {}
    for node_id in _downstream_first(order, by_id, suppliers):
        node = by_id[node_id]
        variance[node_id] = node.demand_sd**2 + sum(variance[k] for k in node.successors)

    horizon = max(node.external_inbound_cst for node in nodes) + sum(node.processing_time for node in nodes)
    if horizon > _MAX_HORIZON:  # the DP tabulates (horizon + 1)^2 pairs (S, SI) per node
        raise ValueError(
            f"service times up to {horizon} periods (inbound CST + processing times) exceed the "
            f"{_MAX_HORIZON} the exact DP tabulates"
        )
    cst = np.arange(horizon + 1)
    net_lead_time = cst[None, :] - cst[:, None]  # SI - S, indexed [S, SI]

    table: dict[str, np.ndarray] = {}  # f_k(S) or g_k(SI)
    best_other: dict[str, np.ndarray] = {}  # argmin SI for f_k(S), or argmin S for g_k(SI)
    child_choice: dict[tuple[str, str], np.ndarray] = {}  # (k, child) -> child's CST per k's SI or S
    root_choice = (0, 0)
    for node_id in order:
        node = by_id[node_id]
        lead = net_lead_time + node.processing_time
        feasible = lead >= 0
        feasible &= cst[None, :] >= node.external_inbound_cst
        if node.external_outbound_cst is not None:
            feasible &= cst[:, None] <= node.external_outbound_cst
        unit_cost = node.holding_cost * demand_bound_constant * math.sqrt(variance[node_id])
        total = np.where(feasible, unit_cost * np.sqrt(np.maximum(lead, 0)), np.inf)
        for child in neighbours[node_id]:
            if label[child] > label[node_id]:
                continue
            if child in suppliers[node_id]:  # child supplies k: its S' <= SI_k
                best_value, best_index = _prefix_min(table[child])
                total = total + best_value[None, :]
            else:  # k supplies child: its SI' >= S_k
                best_value, best_index = _suffix_min(table[child])
                total = total + best_value[:, None]
            child_choice[(node_id, child)] = best_index
        higher = [other for other in neighbours[node_id] if label[other] > label[node_id]]
        if not higher:
            flat = int(np.argmin(total))
            root_choice = divmod(flat, horizon + 1)
            if not np.isfinite(total.flat[flat]):
                raise ValueError("no feasible committed service times (check the external CSTs)")
        elif higher[0] in node.successors:  # the higher neighbour is downstream: tabulate f_k(S)
            table[node_id] = total.min(axis=1)
            best_other[node_id] = np.argmin(total, axis=1)
        else:  # the higher neighbour is upstream: tabulate g_k(SI)
            table[node_id] = total.min(axis=0)
            best_other[node_id] = np.argmin(total, axis=0)

    # Backtrack from the root: each node learns its own CST (S or SI) from its higher neighbour.
    outbound: dict[str, int] = {}
    inbound: dict[str, int] = {}
    root = order[-1]
    outbound[root], inbound[root] = int(root_choice[0]), int(root_choice[1])
    for node_id in reversed(order):
        for child in neighbours[node_id]:
            if label[child] > label[node_id]:
                continue
            if child in suppliers[node_id]:
                outbound[child] = int(child_choice[(node_id, child)][inbound[node_id]])
                inbound[child] = int(best_other[child][outbound[child]])
            else:
                inbound[child] = int(child_choice[(node_id, child)][outbound[node_id]])
                outbound[child] = int(best_other[child][inbound[child]])

    # Exact inbound CSTs, and S_j <= SI_j + T_j (upstream first); this only lowers costs.
    committed: dict[str, int] = {}
    net_lead_times: dict[str, int] = {}
    safety_stock: dict[str, float] = {}
    expected_cost = 0.0
    for node_id in reversed(_downstream_first(order, by_id, suppliers)):
        node = by_id[node_id]
        exact_inbound = max([node.external_inbound_cst, *(committed[i] for i in suppliers[node_id])])
        committed[node_id] = min(outbound[node_id], exact_inbound + node.processing_time)
        net_lead_times[node_id] = exact_inbound + node.processing_time - committed[node_id]
        safety_stock[node_id] = demand_bound_constant * math.sqrt(variance[node_id] * net_lead_times[node_id])
        expected_cost += node.holding_cost * safety_stock[node_id]
    ordered = {node.id: committed[node.id] for node in nodes}
    return GsmResult(
        committed_service_times=ordered,
        expected_cost=expected_cost,
        net_lead_times={node.id: net_lead_times[node.id] for node in nodes},
        safety_stock={node.id: safety_stock[node.id] for node in nodes},
    )


def _downstream_first(
    order: list[str], by_id: dict[str, GsmNode], suppliers: dict[str, list[str]]
) -> list[str]:
    """Node ids with every node after all of the nodes it supplies (a reverse topological order)."""
    pending = {node_id: len(by_id[node_id].successors) for node_id in order}
    ready = [node_id for node_id in order if pending[node_id] == 0]
    result: list[str] = []
    while ready:
        node_id = ready.pop()
        result.append(node_id)
        for supplier in suppliers[node_id]:
            pending[supplier] -= 1
            if pending[supplier] == 0:
                ready.append(supplier)
    return result

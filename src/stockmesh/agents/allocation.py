"""AllocationAgent: shares a short DC's stock over the sites that asked for it, and explains it.

``plan`` runs ``planning.allocation.allocate`` (``lp`` by default: HiGHS, minimising the expected
shortage cost of the stores from their demand distributions and positions, with priorities;
``greedy``, ``fair-share`` by days of cover, ``proportional``), and ``propose`` turns a plan into
``DispatchTransfer`` proposals whose ``claims`` name the DC's stock stream (so the loop never
executes two proposals for the same units) and whose provenance carries the expected shortage
before and after, the cost, the binding constraint and the DC's shadow price.

``fair_share`` is the stand-in's rule, kept with its signature and semantics because the ledger
twin uses it: every request gets the same share of what the DC has (proportional to the request),
floored to whole units, the remainder to the largest requests.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from stockmesh.domain.commands import DispatchTransfer
from stockmesh.domain.proposals import Proposal, proposal_key
from stockmesh.planning.allocation import AllocationProblem, AllocationResult, allocate


@dataclass(frozen=True, kw_only=True)
class AllocationRows:
    """Names of the requests of a plan, parallel to its arrays."""

    sku: Sequence[str]
    site: Sequence[str]
    source_site: Sequence[str]  # the DC of each request
    unit_cost: np.ndarray


class AllocationAgent:
    name = "allocation"

    def __init__(self, method: str = "lp", *, time_limit: float = 2.0) -> None:
        self.method = method
        self.time_limit = time_limit

    @staticmethod
    def fair_share(requested: np.ndarray, source: np.ndarray, available: np.ndarray) -> np.ndarray:
        """Allocated units per request; ``source[i]`` indexes ``available`` (the DC row of request i)."""
        requested = np.maximum(requested.astype(np.int64), 0)
        total = np.bincount(source, weights=requested, minlength=available.shape[0])
        share = np.ones(available.shape[0])
        short = total > available
        share[short] = np.maximum(available[short], 0) / total[short]
        allocated = np.floor(requested * share[source]).astype(np.int64)
        # hand out what flooring left, one unit at a time, largest requests first
        left = np.maximum(available, 0).astype(np.int64) - np.bincount(source, weights=allocated,
                                                                        minlength=available.shape[0]).astype(np.int64)
        for dc in np.flatnonzero(short & (left > 0)):
            members = np.flatnonzero((source == dc) & (allocated < requested))
            for i in members[np.argsort(-requested[members], kind="stable")][: int(left[dc])]:
                allocated[i] += 1
        return allocated

    def plan(self, problem: AllocationProblem) -> AllocationResult:
        """Allocate with this agent's method (time-limited, greedy fallback reported in the result)."""
        return allocate(problem, self.method, time_limit=self.time_limit)

    def share(self, requested: np.ndarray, source: np.ndarray, available: np.ndarray, *, position: np.ndarray,
              demand_mean: np.ndarray, demand_sd: np.ndarray, shortage_cost: np.ndarray,
              overage_cost: np.ndarray | float = 0.0, pack_size: np.ndarray | int = 1) -> np.ndarray:
        """Like ``fair_share`` (same arguments first) but by this agent's method: units per request."""
        if self.method == "proportional" and np.all(np.asarray(pack_size) == 1):
            return self.fair_share(requested, source, available)
        result = self.plan(AllocationProblem(
            group=source, requested=np.maximum(requested, 0), available=np.maximum(available, 0), position=position,
            demand_mean=demand_mean, demand_sd=demand_sd, shortage_cost=shortage_cost,
            overage_cost=overage_cost, pack_size=pack_size))
        return result.allocated

    def propose(self, rows: AllocationRows, result: AllocationResult, *, label: str,
                tempo: str = "deliberative") -> list[Proposal]:
        """One DispatchTransfer proposal per request with units allocated, with its explanation."""
        out: list[Proposal] = []
        for i in np.flatnonzero(result.allocated > 0):
            sku, site, dc = rows.sku[i], rows.site[i], rows.source_site[i]
            qty = int(result.allocated[i])
            proposal_id = f"{label}-A{i}"
            why = result.explain(int(i))
            out.append(Proposal(
                proposal_id=proposal_id, agent=self.name, action="DispatchTransfer", sku=sku, site=site, qty=qty,
                value=round(qty * float(rows.unit_cost[i]), 2),
                command=DispatchTransfer(idempotency_key=proposal_key(proposal_id), transfer_id=f"TR-{proposal_id}",
                                         sku=sku, from_site=dc, to_site=site, qty=qty),
                reasons=(f"allocation of {dc}'s stock by {result.method}: {qty} units; "
                         f"expected shortage {why['expected_shortage_before']} -> {why['expected_shortage_after']}",),
                provenance={**why, "source": dc}, tempo=tempo, claims=(f"stock:{sku}@{dc}",)))
        return out

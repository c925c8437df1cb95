"""RebalancingAgent: lateral transfers between sites of one echelon, as proposals.

``plan`` runs ``planning.allocation.rebalance`` (a MIP with HiGHS; greedy when a block hits its
time limit, and the result says so) over arrays of SKU x site rows; ``propose`` turns each transfer
into a ``DispatchTransfer`` proposal that *claims* the donor's stock stream, so the agent loop never
lets two proposals (or two agents) take the same units, and the ledger refuses a dispatch that
would take more than the donor has available. Its provenance carries the numbers behind it: the
receiver's and the donor's expected shortage before and after, the stock-out cost avoided, the
transport cost, the transit-time risk, the expected value and the binding constraint.

``stockout_rows`` is the reactive trigger: rows whose stock due within their horizon does not
cover the demand expected over it, so a rebalancing can run at once rather than at the next review.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from stockmesh.domain.commands import DispatchTransfer
from stockmesh.domain.proposals import Proposal, proposal_key
from stockmesh.planning.allocation.rebalance import RebalanceProblem, RebalanceResult, rebalance


class RebalancingAgent:
    name = "rebalancing"

    def __init__(self, *, time_limit: float = 2.0, hurdle: float = 1.0, method: str = "mip") -> None:
        self.time_limit = time_limit
        self.hurdle = hurdle
        self.method = method

    @staticmethod
    def stockout_rows(stock_in_horizon: np.ndarray, daily_demand: np.ndarray, horizon_days: np.ndarray) -> np.ndarray:
        """Rows projected to run out within their horizon (mean demand above the stock due)."""
        return np.flatnonzero((daily_demand > 0) & (stock_in_horizon < daily_demand * horizon_days))

    def plan(self, problem: RebalanceProblem, *, time_budget: float | None = None) -> RebalanceResult:
        return rebalance(problem, method=self.method, time_limit=self.time_limit, hurdle=self.hurdle,
                         time_budget=time_budget)

    def propose(self, result: RebalanceResult, *, sku: Sequence[str], site: Sequence[str], unit_cost: np.ndarray,
                label: str, tempo: str = "deliberative") -> list[Proposal]:
        """One proposal per transfer; ``sku``/``site``/``unit_cost`` are per row of the problem."""
        transfers = result.transfers
        out: list[Proposal] = []
        for i in range(len(transfers)):
            donor, receiver = int(transfers.from_row[i]), int(transfers.to_row[i])
            qty = int(transfers.qty[i])
            why = transfers.explain(i)
            proposal_id = f"{label}-T{donor}-{receiver}"
            out.append(Proposal(
                proposal_id=proposal_id, agent=self.name, action="DispatchTransfer", sku=sku[receiver],
                site=site[receiver], qty=qty, value=round(qty * float(unit_cost[receiver]), 2),
                command=DispatchTransfer(idempotency_key=proposal_key(proposal_id), transfer_id=f"TR-{proposal_id}",
                                         sku=sku[receiver], from_site=site[donor], to_site=site[receiver], qty=qty),
                reasons=(f"lateral transfer of {qty} from {site[donor]}: expected value {why['expected_value']} "
                         f"(stock-out cost avoided {why['stockout_cost_avoided']}, transport {why['transport_cost']}, "
                         f"transit risk {why['transit_risk_cost']})",),
                provenance={**why, "donor": site[donor], "method": result.method,
                            "fell_back_to_greedy": result.fell_back, "fallback_reason": result.fallback_reason},
                tempo=tempo, claims=(f"stock:{sku[receiver]}@{site[donor]}",)))
        return out

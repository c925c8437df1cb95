"""Gathering a ``ReviewContext`` for a proposal from the governance read model."""

from __future__ import annotations

from datetime import datetime

from stockmesh.domain.proposals import Proposal
from stockmesh.governance.gate import ReviewContext
from stockmesh.governance.policy import PolicyDocument
from stockmesh.governance.state import GovernanceState, forecast_sd


def build_context(state: GovernanceState, proposal: Proposal, policy: PolicyDocument | None, now: datetime, *,
                  blast_radius: int = 1, sku_class: str | None = None) -> ReviewContext:
    period = policy.guardrails.budget.period if policy is not None else "month"
    supplier = getattr(proposal.command, "supplier", None)
    spent_supplier = ({supplier: state.spent("supplier", supplier, now, period)} if isinstance(supplier, str)
                      else {})
    forecast = state.forecasts.get((proposal.sku, proposal.site))
    return ReviewContext(
        now=now,
        forecast_mean=state.demand_rate(proposal.sku, proposal.site),
        forecast_sd=forecast_sd(forecast),
        last_order_qty=state.last_order_qty.get((proposal.sku, proposal.site)),
        spent_by_supplier=spent_supplier,
        spent_by_site={proposal.site: state.spent("site", proposal.site, now, period)},
        data_age_hours=state.data_age_hours(now),
        kill_switch=state.kill_switch,
        killed_sites=frozenset(state.killed_sites),
        prior_executed=state.prior_executed.get((proposal.agent, proposal.action, proposal.sku, proposal.site), 0),
        blast_radius=blast_radius,
        sku_class=sku_class if sku_class is not None else state.sku_classes().get(proposal.sku, "C"),
    )

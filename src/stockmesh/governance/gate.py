"""The governance gate: one pure function from a proposal, a policy and what is known about the
world to a verdict. The agent loop calls it for every proposal; the API calls it for proposals
people submit. No I/O: ``governance.context`` gathers the ``ReviewContext`` from the ledger.

Order of checks (every breach is listed in ``reasons``, the strongest decides):
    reject  malformed (qty <= 0, value not finite), site outside the policy's scope,
            over the hard limits (max order value, max order quantity), blast radius too wide
    queue   kill switch engaged, stale data (site in safe mode), quantity above a multiple of the
            forecast, change against the last order above the hysteresis bound, budget per
            supplier or site exceeded, risk above the threshold (tier "supervised"), tier "manual"
            (tier "autonomous" ignores the risk score: only the guardrails queue)
    approve otherwise
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

from stockmesh.domain.clock import SYSTEM_CLOCK
from stockmesh.domain.proposals import Proposal
from stockmesh.governance.policy import PolicyDocument
from stockmesh.governance.risk import risk_score

Decision = Literal["approve", "queue", "reject"]


@dataclass(frozen=True, kw_only=True, slots=True)
class ReviewContext:
    """What the guardrails need to know beyond the proposal itself.

    ``forecast_mean``/``forecast_sd``: demand per day for the SKU x site (None when unknown).
    ``spent_by_supplier``/``spent_by_site``: money already committed in the policy's budget period.
    ``data_age_hours``: per site, hours since its stock data last arrived (missing = unknown = stale
    when the policy sets a maximum age). ``prior_executed``: earlier executed proposals of the same
    agent, action, SKU and site (novelty). ``blast_radius``: SKU x sites touched by the decision this
    proposal belongs to. ``sku_class``: the SKU's class for the policy's scope.
    """

    now: datetime = field(default_factory=SYSTEM_CLOCK.now)
    forecast_mean: float | None = None
    forecast_sd: float | None = None
    last_order_qty: int | None = None
    spent_by_supplier: Mapping[str, float] = field(default_factory=dict)
    spent_by_site: Mapping[str, float] = field(default_factory=dict)
    data_age_hours: Mapping[str, float] = field(default_factory=dict)
    kill_switch: bool = False
    killed_sites: frozenset[str] = frozenset()
    prior_executed: int = 0
    blast_radius: int = 1
    sku_class: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class Verdict:
    decision: Decision
    reasons: tuple[str, ...]
    risk_score: float
    policy_version: str  # "name@version"
    expires_at: str | None = None  # for "queue": when the approval request lapses


def _sites(proposal: Proposal) -> list[str]:
    sites = [proposal.site]
    for key in ("from_site", "to_site"):
        value = getattr(proposal.command, key, None)
        if isinstance(value, str) and value not in sites:
            sites.append(value)
    return sites


def review(proposal: Proposal, policy: PolicyDocument, context: ReviewContext) -> Verdict:
    """Approve, queue for a person, or reject ``proposal`` under ``policy``; say why."""
    rails = policy.guardrails
    rejects: list[str] = []
    queues: list[str] = []
    qty, value = proposal.qty, proposal.value
    valid_numbers = (isinstance(qty, int) and not isinstance(qty, bool) and qty > 0
                     and isinstance(value, int | float) and math.isfinite(value) and value >= 0)
    if not valid_numbers:
        rejects.append(f"malformed proposal: qty {qty!r} and value {value!r} must be positive and finite")
        return Verdict(decision="reject", reasons=tuple(rejects), risk_score=math.inf, policy_version=policy.key)

    sites = _sites(proposal)
    for site in sites:
        if not policy.scope.covers_site(site):
            rejects.append(f"site {site} is outside the scope of policy {policy.key}")
    if not policy.scope.covers_class(context.sku_class):
        rejects.append(f"SKU class {context.sku_class or 'unknown'} is outside the scope of policy {policy.key}")
    if rails.max_order_value is not None and value > rails.max_order_value:
        rejects.append(f"value {value:,.2f} exceeds the maximum order value {rails.max_order_value:,.2f}")
    if rails.max_order_qty is not None and qty > rails.max_order_qty:
        rejects.append(f"quantity {qty} exceeds the maximum order quantity {rails.max_order_qty}")
    if rails.max_blast_radius is not None and context.blast_radius > rails.max_blast_radius:
        rejects.append(f"the decision touches {context.blast_radius} SKU x sites, more than the blast radius "
                       f"{rails.max_blast_radius}")

    if context.kill_switch:
        queues.append("kill switch engaged for the whole network: no autonomous action")
    for site in sites:
        if site in context.killed_sites:
            queues.append(f"kill switch engaged for site {site}: no autonomous action")
    if rails.max_data_age_hours is not None:
        for site in sites:
            age = context.data_age_hours.get(site)
            if age is None or age > rails.max_data_age_hours:
                seen = "never" if age is None else f"{age:.1f} h ago"
                queues.append(f"site {site} in safe mode: stock data last arrived {seen} "
                              f"(limit {rails.max_data_age_hours:g} h)")
    cover = proposal.provenance.get("cover_days")  # the agent's own horizon, when it states one
    horizon_days = (cover if isinstance(cover, int) and not isinstance(cover, bool) and 0 < cover <= 3650
                    else policy.review_period_days + policy.lead_time_days)
    if rails.max_forecast_multiple is not None:
        if context.forecast_mean is None:
            queues.append("no forecast for this SKU x site: quantity cannot be checked against demand")
        else:
            demand = context.forecast_mean * max(horizon_days, 1)
            if qty > rails.max_forecast_multiple * demand:
                queues.append(f"quantity {qty} is more than {rails.max_forecast_multiple:g} x forecast demand "
                              f"{demand:,.1f} over {horizon_days} days")
    if rails.max_change_vs_last_order is not None and context.last_order_qty:
        change = abs(qty - context.last_order_qty) / context.last_order_qty
        if change > rails.max_change_vs_last_order:
            queues.append(f"quantity {qty} changes {change:.0%} against the last order "
                          f"({context.last_order_qty}), more than {rails.max_change_vs_last_order:.0%}")
    budget = rails.budget
    supplier = getattr(proposal.command, "supplier", None)
    if budget.per_supplier is not None and isinstance(supplier, str):
        spent = context.spent_by_supplier.get(supplier, 0.0)
        if spent + value > budget.per_supplier:
            queues.append(f"budget for supplier {supplier} this {budget.period}: {spent:,.2f} spent + "
                          f"{value:,.2f} > {budget.per_supplier:,.2f}")
    # Budgets limit money committed to suppliers; a transfer between our own sites moves stock,
    # not money, so it counts against no budget.
    if budget.per_site is not None and proposal.action != "DispatchTransfer":
        spent = context.spent_by_site.get(proposal.site, 0.0)
        if spent + value > budget.per_site:
            queues.append(f"budget for site {proposal.site} this {budget.period}: {spent:,.2f} spent + "
                          f"{value:,.2f} > {budget.per_site:,.2f}")

    score = risk_score(value, context.forecast_mean, context.forecast_sd, context.prior_executed)
    tier = policy.autonomy.tier
    if tier == "manual":
        queues.append("policy tier is manual: every action needs a person")
    elif tier == "supervised" and score > policy.autonomy.auto_approve_max_risk:
        queues.append(f"risk {score:,.0f} is above the auto-approval threshold "
                      f"{policy.autonomy.auto_approve_max_risk:,.0f}")

    if rejects:
        return Verdict(decision="reject", reasons=tuple(rejects + queues), risk_score=score,
                       policy_version=policy.key)
    if queues:
        expires = context.now + timedelta(hours=policy.autonomy.approval_ttl_hours)
        return Verdict(decision="queue", reasons=tuple(queues), risk_score=score, policy_version=policy.key,
                       expires_at=expires.astimezone(UTC).isoformat())
    return Verdict(decision="approve", reasons=(f"within every guardrail of {policy.key}; risk {score:,.0f}"
                                                 f" ({tier})",), risk_score=score, policy_version=policy.key)

"""Proposals: what an agent would like done, and what became of it.

An agent never writes to the ledger: it returns ``Proposal`` values. Governance reviews each one
(approve, queue for a person, reject); approved ones execute as ledger commands. Every step is an
event on the proposal's own stream ``proposal:ID``, so a decision can always explain itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from stockmesh.domain.events import Event, register


@dataclass(frozen=True, kw_only=True, slots=True)
class Proposal:
    """One proposed action with everything needed to judge and explain it.

    ``command`` is the ledger command it would execute, as its JSON object without the
    idempotency key (the key is derived from ``proposal_id``, so a retry never doubles it).
    ``provenance`` holds the inputs (position, forecast id and quantiles, lead-time estimate,
    policy version) and the formula and parameters that produced the quantity.
    """

    proposal_id: str
    agent: str
    action: str
    sku: str
    site: str
    qty: int
    value: float
    command: dict[str, Any]
    reasons: tuple[str, ...] = ()
    provenance: dict[str, Any] = field(default_factory=dict)
    tempo: str = "deliberative"  # or "reactive"
    claims: tuple[str, ...] = ()  # the units it competes for, e.g. "stock:SKU@DC" (conflict resolution)

    @property
    def idempotency_key(self) -> str:
        return f"proposal:{self.proposal_id}"


@dataclass(frozen=True, kw_only=True, slots=True)
class ProposalMade(Event):
    type: ClassVar[str] = "ProposalMade"
    proposal_id: str
    agent: str
    action: str
    sku: str
    site: str
    qty: int
    value: float
    command: dict[str, Any]
    reasons: list[str]
    provenance: dict[str, Any]
    tempo: str


@dataclass(frozen=True, kw_only=True, slots=True)
class ProposalApproved(Event):
    type: ClassVar[str] = "ProposalApproved"
    by: str  # "governance" when automatic, else the approver's user id
    reason: str
    risk_score: float
    policy_version: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class ProposalQueued(Event):
    """Waiting for a person: too risky (or the site is in safe mode) to execute alone."""

    type: ClassVar[str] = "ProposalQueued"
    reasons: list[str]
    risk_score: float
    expires_at: str | None = None
    policy_version: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class ProposalRejected(Event):
    type: ClassVar[str] = "ProposalRejected"
    by: str
    reasons: list[str]
    policy_version: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class ProposalSuperseded(Event):
    """Lost to a conflicting proposal for the same units: never both executed."""

    type: ClassVar[str] = "ProposalSuperseded"
    by_proposal: str
    reason: str


@dataclass(frozen=True, kw_only=True, slots=True)
class ProposalExecuted(Event):
    type: ClassVar[str] = "ProposalExecuted"
    command: str
    first_position: int | None
    last_position: int | None


@dataclass(frozen=True, kw_only=True, slots=True)
class ProposalFailed(Event):
    type: ClassVar[str] = "ProposalFailed"
    error: str


@dataclass(frozen=True, kw_only=True, slots=True)
class ProposalOutcomeRecorded(Event):
    """What happened after: e.g. the receipt of the order, its lead time, the service it bought."""

    type: ClassVar[str] = "ProposalOutcomeRecorded"
    outcome: dict[str, Any]


register(ProposalMade, ProposalApproved, ProposalQueued, ProposalRejected, ProposalSuperseded, ProposalExecuted,
         ProposalFailed, ProposalOutcomeRecorded)


def proposal_made(p: Proposal) -> ProposalMade:
    return ProposalMade(proposal_id=p.proposal_id, agent=p.agent, action=p.action, sku=p.sku, site=p.site,
                        qty=p.qty, value=p.value, command=dict(p.command), reasons=list(p.reasons),
                        provenance=dict(p.provenance), tempo=p.tempo)

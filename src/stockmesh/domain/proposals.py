"""Proposals: what an agent would like done, and what became of it.

An agent never writes to the ledger: it returns ``Proposal`` values. Governance reviews each one
(approve, queue for a person, reject); approved ones execute as ledger commands. Every step is an
event on the proposal's own stream ``proposal:ID``, so a decision can always explain itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

from stockmesh.domain.commands import Command
from stockmesh.domain.events import Event, register

# Set from the proposal when its command executes, never stored with the proposal.
_ENVELOPE = ("idempotency_key", "actor")


def proposal_key(proposal_id: str) -> str:
    """The idempotency key of a proposal's command: derived from its id, so a retry never doubles it."""
    return f"proposal:{proposal_id}"


@dataclass(frozen=True, kw_only=True, slots=True)
class Proposal:
    """One proposed action with everything needed to judge and explain it.

    ``command`` is the ledger command it would execute. Its idempotency key and actor are the
    proposal's: ``to_execute`` sets them (the key derived from ``proposal_id``, so a retry never
    doubles it, whatever key the command was built with); ``command_body`` is what is stored, the
    command's JSON object without them.
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
    command: Command
    reasons: tuple[str, ...] = ()
    provenance: dict[str, Any] = field(default_factory=dict)
    tempo: str = "deliberative"  # or "reactive"
    claims: tuple[str, ...] = ()  # the units it competes for, e.g. "stock:SKU@DC" (conflict resolution)

    @property
    def idempotency_key(self) -> str:
        return proposal_key(self.proposal_id)

    def command_body(self) -> dict[str, Any]:
        """The command as stored on ``ProposalMade``: its JSON object without the envelope."""
        return command_body(self.command)

    def to_execute(self, occurred_at: str | None = None, *, actor: str | None = None) -> Command:
        """The command keyed by the proposal, by ``actor``; ``occurred_at`` (the cycle's business
        time), when given, replaces the command's own."""
        if occurred_at is None:
            return replace(self.command, idempotency_key=self.idempotency_key, actor=actor)
        return replace(self.command, idempotency_key=self.idempotency_key, actor=actor, occurred_at=occurred_at)


def command_body(command: Command) -> dict[str, Any]:
    """A command's JSON object without its idempotency key and actor: a proposal's stored shape."""
    body = command.payload()
    for name in _ENVELOPE:
        body.pop(name, None)
    return body


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
                        qty=p.qty, value=p.value, command=p.command_body(), reasons=list(p.reasons),
                        provenance=dict(p.provenance), tempo=p.tempo)

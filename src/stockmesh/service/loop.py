"""The agent loop's write side: proposals -> conflict resolution -> governance -> ledger.

Agents return proposals. Here they are de-duplicated and their conflicts resolved (two proposals
for the same units are never both executed), each is reviewed by the governance gate, and
everything is recorded as facts on the proposal's stream. Approved proposals execute as ledger
commands in the same transaction, keyed by the proposal's idempotency key, so a retried cycle
never doubles an order. A command the ledger refuses is recorded as ``ProposalFailed``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from stockmesh.domain.commands import Command, validated
from stockmesh.domain.errors import StockmeshError
from stockmesh.domain.proposals import (
    Proposal,
    ProposalApproved,
    ProposalExecuted,
    ProposalFailed,
    ProposalQueued,
    ProposalRejected,
    ProposalSuperseded,
    proposal_made,
)
from stockmesh.governance.gate import Verdict
from stockmesh.ledger.port import EventStore
from stockmesh.ledger.records import OutboxMessage
from stockmesh.service.execute import Fact, Outcome, execute


class Gate(Protocol):
    def review(self, proposal: Proposal) -> Verdict: ...


@dataclass
class CycleReport:
    made: int = 0
    approved: int = 0
    queued: int = 0
    rejected: int = 0
    superseded: int = 0
    executed: list[Proposal] = field(default_factory=list)
    failed: list[tuple[Proposal, str]] = field(default_factory=list)
    waiting: list[Proposal] = field(default_factory=list)
    verdicts: dict[str, str] = field(default_factory=dict)


def _priority(p: Proposal) -> tuple[int, float, str]:
    # reactive proposals answer something urgent; then the larger order; then a stable order
    return (0 if p.tempo == "reactive" else 1, -p.qty, p.proposal_id)


def resolve_conflicts(proposals: Sequence[Proposal], available: Mapping[str, int] | None = None
                      ) -> tuple[list[Proposal], list[tuple[Proposal, str, str]]]:
    """Keep one proposal per target and never claim more units than a donor has available.

    Returns (kept, superseded) where each superseded entry is (proposal, winner id, reason)."""
    kept: dict[tuple[str, str, str], Proposal] = {}
    superseded: list[tuple[Proposal, str, str]] = []
    for p in sorted(proposals, key=_priority):
        target = (p.action, p.sku, p.site)
        if target in kept:
            superseded.append((p, kept[target].proposal_id, f"another proposal already covers {p.sku} at {p.site}"))
            continue
        kept[target] = p
    result: list[Proposal] = []
    claimed: dict[str, int] = {}
    for p in sorted(kept.values(), key=_priority):
        over = [c for c in p.claims if available is not None and claimed.get(c, 0) + p.qty > available.get(c, 0)]
        if over:
            winner = next((q.proposal_id for q in result if over[0] in q.claims), "the donor's safety")
            superseded.append((p, winner, f"{over[0]} has {available.get(over[0], 0) if available else 0} units "
                                          f"available, already claimed {claimed.get(over[0], 0)}"))
            continue
        for c in p.claims:
            claimed[c] = claimed.get(c, 0) + p.qty
        result.append(p)
    return result, superseded


def to_command(p: Proposal, occurred_at: str | None) -> Command:
    """The proposal's command, keyed by the proposal, checked as any command from outside is."""
    return validated(p.to_execute(occurred_at, actor=f"agent:{p.agent}"))


def run_cycle(store: EventStore, proposals: Sequence[Proposal], gate: Gate, *, occurred_at: str | None = None,
              available: Mapping[str, int] | None = None, metadata: Mapping[str, Any] | None = None,
              outbox_topic: str | None = None) -> CycleReport:
    """Resolve, review, record and execute one cycle's proposals. See the module docstring."""
    report = CycleReport(made=len(proposals))
    kept, superseded = resolve_conflicts(proposals, available)
    facts: list[Fact] = []
    meta = dict(metadata or {})

    def fact(p: Proposal, event: Any) -> Fact:
        return Fact(f"proposal:{p.proposal_id}", event, {**meta, "causation_id": p.idempotency_key},
                    occurred_at)

    for p in proposals:
        facts.append(fact(p, proposal_made(p)))
    for p, winner, reason in superseded:
        facts.append(fact(p, ProposalSuperseded(by_proposal=winner, reason=reason)))
    report.superseded = len(superseded)
    approved: list[Proposal] = []
    for p in kept:
        verdict = gate.review(p)
        if verdict.decision == "approve":
            facts.append(fact(p, ProposalApproved(by="governance", reason="; ".join(verdict.reasons) or "within policy",
                                                  risk_score=verdict.risk_score,
                                                  policy_version=verdict.policy_version)))
            approved.append(p)
        elif verdict.decision == "queue":
            facts.append(fact(p, ProposalQueued(reasons=list(verdict.reasons), risk_score=verdict.risk_score,
                                                expires_at=verdict.expires_at, policy_version=verdict.policy_version)))
            report.waiting.append(p)
        else:
            facts.append(fact(p, ProposalRejected(by="governance", reasons=list(verdict.reasons),
                                                  policy_version=verdict.policy_version)))
            report.rejected += 1
    report.approved, report.queued = len(approved), len(report.waiting)
    for p in approved:
        report.verdicts[p.proposal_id] = "approve"
    _execute(store, approved, facts, occurred_at, meta, outbox_topic, report)
    return report


def approve_and_execute(store: EventStore, proposals: Sequence[Proposal], *, by: str, reason: str,
                        occurred_at: str | None = None, metadata: Mapping[str, Any] | None = None,
                        outbox_topic: str | None = None) -> CycleReport:
    """A person approves queued proposals: record the approvals and execute them, exactly once."""
    meta = dict(metadata or {})
    facts = [Fact(f"proposal:{p.proposal_id}", ProposalApproved(by=by, reason=reason, risk_score=0.0),
                  {**meta, "causation_id": p.idempotency_key}, occurred_at) for p in proposals]
    report = CycleReport(approved=len(proposals))
    _execute(store, list(proposals), facts, occurred_at, meta, outbox_topic, report)
    return report


def _execute(store: EventStore, approved: list[Proposal], facts: list[Fact], occurred_at: str | None,
             meta: dict[str, Any], outbox_topic: str | None, report: CycleReport) -> None:
    commands: list[Command] = []
    by_command: list[Proposal] = []
    for p in approved:
        try:
            commands.append(to_command(p, occurred_at))
            by_command.append(p)
        except StockmeshError as exc:
            report.failed.append((p, str(exc)))
            facts.append(Fact(f"proposal:{p.proposal_id}", ProposalFailed(error=str(exc)), meta, occurred_at))

    def after(index: int, command: Command, outcome: Outcome) -> tuple[list[Fact], list[OutboxMessage]]:
        p = by_command[index]
        done = Fact(f"proposal:{p.proposal_id}",
                    ProposalExecuted(command=command.name, first_position=outcome.first_position,
                                     last_position=outcome.last_position),
                    {**meta, "causation_id": p.idempotency_key}, occurred_at)
        messages = []
        if outbox_topic:
            from stockmesh.ledger import codec

            messages.append(OutboxMessage(p.idempotency_key, f"{outbox_topic}.{p.action}",
                                          codec.dumps({**p.command_body(), "proposal_id": p.proposal_id}),
                                          occurred_at or ""))
        return [done], messages

    outcomes = execute(store, commands, all_or_nothing=False, facts=facts, after_each=after,
                       metadata={**meta, "source": "agents"})
    failures = []
    for outcome in outcomes:
        p = by_command[outcome.index]
        if outcome.status in ("applied", "duplicate"):
            report.executed.append(p)
        else:
            report.failed.append((p, str(outcome.error)))
            failures.append(Fact(f"proposal:{p.proposal_id}", ProposalFailed(error=str(outcome.error)),
                                 {**meta, "causation_id": p.idempotency_key}, occurred_at))
    if failures:
        execute(store, [], facts=failures)

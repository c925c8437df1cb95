"""Application services behind the routes and the CLI: check, decide with ``governance``, write
with ``service.execute`` in one transaction. No HTTP here.

Exactly once: an approved proposal's command carries the proposal's idempotency key and a
fingerprint that does not depend on who approved it, so a replayed or concurrent approval finds
the key already used with the same payload: a duplicate, nothing written, nothing executed twice.
The ``ProposalApproved``/``ProposalExecuted`` facts are added by ``after_each``, which runs only
for a command actually applied, inside the same transaction.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from stockmesh.domain.clock import SYSTEM_CLOCK, Clock
from stockmesh.domain.commands import Command, parse_command
from stockmesh.domain.errors import InvalidInput, InvalidTransition, StockmeshError
from stockmesh.domain.events import Event
from stockmesh.domain.proposals import Proposal, ProposalExecuted, ProposalFailed, proposal_key
from stockmesh.governance import decisions
from stockmesh.governance.auth import Principal
from stockmesh.governance.policy import PolicyDocument
from stockmesh.governance.state import GovernanceState
from stockmesh.ledger.port import EventStore
from stockmesh.service.execute import Fact, Outcome, execute

Emitted = list[tuple[str, Event]]


def write(store: EventStore, emitted: Emitted, actor: str, **metadata: Any) -> None:
    """Append governance facts (no command) in one transaction."""
    if not emitted:
        return
    meta = {"actor": actor, **metadata}
    execute(store, [], facts=[Fact(stream, event, meta) for stream, event in emitted])


def state_of(store: EventStore) -> GovernanceState:
    """A fresh fold (for the CLI, which lives for one command)."""
    from stockmesh.governance.state import GovernanceView

    return GovernanceView(store).refresh()


# --- commands ------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class CommandResult:
    command: str
    status: str  # "applied" or "duplicate" (the same key and body were seen: nothing new written)
    first_position: int | None
    last_position: int | None

    def body(self) -> dict[str, Any]:
        # The same body for the first call and its replays: "the first response again".
        events = (self.last_position - self.first_position + 1) if self.first_position and self.last_position else 0
        return {"status": "applied", "command": self.command, "first_position": self.first_position,
                "last_position": self.last_position, "events": events}


def command_sites(state: GovernanceState, command: Command) -> tuple[str, ...] | None:
    """The sites a command moves stock at; None when it touches no site (RegisterSku)."""
    sites = [getattr(command, k) for k in ("site", "from_site", "to_site") if getattr(command, k, None)]
    if sites:
        return tuple(sites)
    for attr, prefix in (("reservation_id", "reservation"), ("transfer_id", "transfer"), ("po_id", "po")):
        value = getattr(command, attr, None)
        if value is not None:
            return state.doc_sites.get(f"{prefix}:{value}", ("?",))
    return None


def ingest_command(store: EventStore, state: GovernanceState, principal: Principal, body: dict[str, Any],
                   key: str) -> CommandResult:
    principal.require("command")
    command = parse_command({**body, "idempotency_key": f"http:{key}", "actor": principal.user_id})
    sites = command_sites(state, command)
    if sites is None:
        if not principal.all_sites:
            from stockmesh.governance.auth import Forbidden

            raise Forbidden(f"{command.name} is network-wide: it needs a token scoped to every site")
    else:
        principal.require_sites(sites)
    # On its own (not all or nothing): a refused command's key keeps its refusal, so the same key
    # and body get the same error again, even once the stock is there.
    outcome = execute(store, [command], all_or_nothing=False, metadata={"source": "api"})[0]
    if outcome.error is not None:
        raise outcome.error
    return CommandResult(command.name, outcome.status, outcome.first_position, outcome.last_position)


# --- proposals -----------------------------------------------------------------------------------

def _run(store: EventStore, proposal: Proposal, before: Emitted, actor: str, **metadata: Any) -> Outcome:
    """Execute the proposal's command with ``before`` facts; record executed or failed."""
    command = proposal.to_execute()
    stream = f"proposal:{proposal.proposal_id}"
    meta = {"actor": actor, "causation_id": stream, **metadata}

    def after_each(index: int, cmd: Command, outcome: Outcome) -> tuple[list[Fact], list[Any]]:
        executed = ProposalExecuted(command=cmd.name, first_position=outcome.first_position,
                                    last_position=outcome.last_position)
        return [Fact(s, e, meta) for s, e in [*before, (stream, executed)]], []

    outcome = execute(store, [command], all_or_nothing=False, after_each=after_each,
                      metadata={"source": "governance", "causation_id": stream, **metadata})[0]
    if outcome.status == "rejected":
        error = outcome.error
        write(store, [*before, (stream, ProposalFailed(error=str(error)[:500]))], actor, **metadata)
    return outcome


@dataclass(frozen=True, slots=True)
class SubmitResult:
    proposal_id: str
    decision: str
    reasons: tuple[str, ...]
    risk_score: float
    policy_version: str
    status: str


def submit_proposal(store: EventStore, state: GovernanceState, principal: Principal, *, action: str,
                    command: dict[str, Any], value: float, reasons: Sequence[str] = (),
                    provenance: dict[str, Any] | None = None, metrics: Any = None,
                    clock: Clock = SYSTEM_CLOCK) -> SubmitResult:
    """A person (or an agent over HTTP) proposes an action; governance reviews it like an agent's."""
    principal.require("propose")
    proposal_id = uuid.uuid4().hex
    parsed = parse_command({**command, "idempotency_key": proposal_key(proposal_id)})
    sku, site, qty = getattr(parsed, "sku", None), getattr(parsed, "site", None), getattr(parsed, "qty", None)
    site = site or getattr(parsed, "to_site", None)
    if not (isinstance(sku, str) and isinstance(site, str) and isinstance(qty, int)):
        raise InvalidInput("a proposal's command must name a sku, a site and a qty", field="command")
    sites = command_sites(state, parsed) or ()
    principal.require_sites(sites)
    proposal = Proposal(proposal_id=proposal_id, agent=f"person:{principal.user_id}", action=action, sku=sku,
                        site=site, qty=qty, value=value, command=parsed, reasons=tuple(reasons),
                        provenance={**(provenance or {}), "requested_by": principal.user_id})
    started = time.perf_counter()
    plan = decisions.submit(state, proposal, clock.now())
    if plan.execute:
        outcome = _run(store, proposal, plan.events, principal.user_id, policy_version=plan.verdict.policy_version)
        status = "executed" if outcome.status == "applied" else "failed"
    else:
        write(store, plan.events, principal.user_id, policy_version=plan.verdict.policy_version)
        status = "queued" if plan.verdict.decision == "queue" else "rejected"
    if metrics is not None:
        metrics.decision_latency.observe(time.perf_counter() - started)
    v = plan.verdict
    return SubmitResult(proposal.proposal_id, v.decision, v.reasons, v.risk_score, v.policy_version, status)


def _proposal_value(record: Any) -> Proposal:
    """A stored proposal as a value: its command parsed from the stored shape (refused, naming the
    field, if malformed)."""
    command = parse_command({**record.command, "idempotency_key": proposal_key(record.proposal_id)})
    return Proposal(proposal_id=record.proposal_id, agent=record.agent, action=record.action, sku=record.sku,
                    site=record.site, qty=record.qty, value=record.value, command=command)


def approve_proposal(store: EventStore, state: GovernanceState, principal: Principal, proposal_id: str,
                     reason: str, *, clock: Clock = SYSTEM_CLOCK) -> str:
    """Approve and execute once. Returns the resulting status ("executed" or "failed")."""
    record, emitted = decisions.approve(state, proposal_id, principal, reason, clock.now())
    outcome = _run(store, _proposal_value(record), emitted, principal.user_id, approved_by=principal.user_id)
    if outcome.status == "duplicate":
        raise InvalidTransition(f"proposal {proposal_id} was already executed", field="proposal_id")
    return "executed" if outcome.status == "applied" else "failed"


def reject_proposal(store: EventStore, state: GovernanceState, principal: Principal, proposal_id: str,
                    reason: str, *, clock: Clock = SYSTEM_CLOCK) -> None:
    write(store, decisions.reject(state, proposal_id, principal, reason, clock.now()), principal.user_id)


def expire_proposals(store: EventStore, state: GovernanceState, principal: Principal, *,
                     clock: Clock = SYSTEM_CLOCK) -> int:
    principal.require("approve")
    emitted = decisions.expire_due(state, clock.now())
    write(store, emitted, principal.user_id)
    return len(emitted)


# --- policies ------------------------------------------------------------------------------------

def publish_policy(store: EventStore, state: GovernanceState, principal: Principal, doc: PolicyDocument) -> bool:
    principal.require("govern")
    emitted = decisions.publish_policy(state, doc, principal.user_id)
    write(store, emitted, principal.user_id)
    return bool(emitted)


def govern(store: EventStore, principal: Principal, emitted: Emitted) -> None:
    principal.require("govern")
    write(store, emitted, principal.user_id)


def safe_message(exc: StockmeshError) -> str:
    return str(exc)[:300]

"""Proposals, the approval queue, approvals and rejections, and explanations."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query

from stockmesh.entrypoints.api import queries, services
from stockmesh.entrypoints.api.deps import Limit, Offset, PrincipalDep, RuntimeDep
from stockmesh.entrypoints.api.schemas import DecisionIn, ProposalDecided, ProposalIn

router = APIRouter(tags=["proposals"])
ProposalId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]{1,64}$")]
Status = Literal["made", "queued", "approved", "executed", "failed", "rejected", "expired", "superseded"]


@router.get("/proposals")
def list_proposals(rt: RuntimeDep, principal: PrincipalDep, status: Annotated[Status | None, Query()] = None,
                   limit: Limit = 100, offset: Offset = 0) -> dict[str, Any]:
    """The decision feed (newest first); ``status=queued`` is the approval queue."""
    with rt.view.current() as state:
        return queries.list_proposals(state, principal, status, limit, offset, rt.clock.now())


@router.post("/proposals", status_code=201, response_model=ProposalDecided)
def make_proposal(rt: RuntimeDep, principal: PrincipalDep, body: ProposalIn) -> ProposalDecided:
    """Propose an action; the governing policy approves (and it executes), queues or rejects it."""
    provenance = {"cover_days": body.cover_days} if body.cover_days else {}
    with rt.decisions, rt.view.current() as state:
        result = services.submit_proposal(rt.store, state, principal, action=body.action,
                                          command=body.command.model_dump(exclude_none=True), value=body.value,
                                          reasons=body.reasons, provenance=provenance, metrics=rt.metrics,
                                          clock=rt.clock)
    score = result.risk_score if result.risk_score < 1e300 else None
    return ProposalDecided(proposal_id=result.proposal_id, decision=result.decision, status=result.status,
                           reasons=list(result.reasons), risk_score=score, policy_version=result.policy_version)


@router.get("/proposals/{proposal_id}")
def get_proposal(rt: RuntimeDep, principal: PrincipalDep, proposal_id: ProposalId) -> dict[str, Any]:
    with rt.view.current() as state:
        return queries.proposal_summary(queries.visible_proposal(state, principal, proposal_id), rt.clock.now())


@router.get("/proposals/{proposal_id}/explanation")
def explain(rt: RuntimeDep, principal: PrincipalDep, proposal_id: ProposalId) -> dict[str, Any]:
    """Provenance, reasons, every decision with its policy version, the events executed."""
    with rt.view.current() as state:
        return queries.explanation(rt.store, state, principal, proposal_id, rt.clock.now())


def _decided(rt: Any, principal: Any, proposal_id: str) -> dict[str, Any]:
    with rt.view.current() as state:
        return queries.proposal_summary(queries.visible_proposal(state, principal, proposal_id), rt.clock.now())


@router.post("/proposals/{proposal_id}/approve")
def approve(rt: RuntimeDep, principal: PrincipalDep, proposal_id: ProposalId, body: DecisionIn) -> dict[str, Any]:
    """Approve a queued proposal (four eyes: not its requester); it executes exactly once."""
    principal.require("approve")
    with rt.decisions, rt.view.current() as state:
        services.approve_proposal(rt.store, state, principal, proposal_id, body.reason, clock=rt.clock)
    return _decided(rt, principal, proposal_id)


@router.post("/proposals/{proposal_id}/reject")
def reject(rt: RuntimeDep, principal: PrincipalDep, proposal_id: ProposalId, body: DecisionIn) -> dict[str, Any]:
    principal.require("approve")
    with rt.decisions, rt.view.current() as state:
        services.reject_proposal(rt.store, state, principal, proposal_id, body.reason, clock=rt.clock)
    return _decided(rt, principal, proposal_id)


@router.post("/proposals/expire")
def expire(rt: RuntimeDep, principal: PrincipalDep) -> dict[str, int]:
    """Record ProposalExpired for every queued proposal past its approval window."""
    principal.require("approve")
    with rt.decisions, rt.view.current() as state:
        return {"expired": services.expire_proposals(rt.store, state, principal, clock=rt.clock)}

"""What governance decides, as events: pure functions from the governance state and a request to
the events to append (``(stream_id, event)`` pairs). They raise the domain's errors when the
request breaks a rule; the caller writes the events with ``service.execute(..., facts=...)``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from stockmesh.domain.clock import SYSTEM_CLOCK
from stockmesh.domain.errors import AlreadyExists, InvalidInput, InvalidTransition, UnknownEntity
from stockmesh.domain.events import Event
from stockmesh.domain.governance import (
    KILLSWITCH_STREAM,
    CanaryKpisRecorded,
    KillSwitchSet,
    PolicyActivated,
    PolicyCanaryStarted,
    PolicyRolledBack,
    PolicyRolloutStopped,
    PolicyShadowStarted,
    PolicyVersionPublished,
    ProposalExpired,
    ShadowVerdictRecorded,
    TokenIssued,
    TokenRevoked,
    UserCreated,
    UserDisabled,
    policy_stream,
)
from stockmesh.domain.proposals import (
    Proposal,
    ProposalApproved,
    ProposalQueued,
    ProposalRejected,
    proposal_made,
)
from stockmesh.governance.auth import ROLES, Forbidden, Principal, hash_token, new_token
from stockmesh.governance.context import build_context
from stockmesh.governance.gate import ReviewContext, Verdict, review
from stockmesh.governance.policy import PolicyDocument
from stockmesh.governance.rollout import DEFAULT_MAX_REGRESSION, canary_regressions, policy_for
from stockmesh.governance.state import GovernanceState, PolicyRecord, ProposalRecord

Emitted = list[tuple[str, Event]]
USER_ID = re.compile(r"[a-z0-9][a-z0-9._@-]{0,63}")
SITE = re.compile(r"\*|[A-Za-z0-9][A-Za-z0-9._:/#+\-]{0,127}")


def _policy(state: GovernanceState, name: str) -> PolicyRecord:
    record = state.policies.get(name)
    if record is None:
        raise UnknownEntity(f"unknown policy {name[:64]!r}", field="policy")
    return record


def _version(record: PolicyRecord, version: str) -> PolicyDocument:
    doc = record.versions.get(version)
    if doc is None:
        raise UnknownEntity(f"policy {record.name} has no version {version[:64]!r}", field="version")
    return doc


# --- policies ------------------------------------------------------------------------------------

def publish_policy(state: GovernanceState, doc: PolicyDocument, by: str) -> Emitted:
    """Publishing the same document again is a no-op; another document under a used version is refused."""
    record = state.policies.get(doc.name)
    if record is not None and doc.version in record.versions:
        if record.published[doc.version]["digest"] == doc.digest():
            return []
        raise AlreadyExists(f"policy {doc.key} was published with other content: publish a new version",
                            field="version")
    return [(policy_stream(doc.name), PolicyVersionPublished(policy=doc.name, version=doc.version,
                                                             document=doc.to_dict(), digest=doc.digest(), by=by))]


def activate_policy(state: GovernanceState, name: str, version: str, by: str, reason: str) -> Emitted:
    record = _policy(state, name)
    _version(record, version)
    if record.active == version:
        raise InvalidTransition(f"{name}@{version} is already active", field="version")
    return [(policy_stream(name), PolicyActivated(policy=name, version=version, previous_version=record.active,
                                                  by=by, reason=reason))]


def rollback_policy(state: GovernanceState, name: str, by: str, reason: str, to_version: str | None = None
                    ) -> Emitted:
    record = _policy(state, name)
    if record.active is None:
        raise InvalidTransition(f"policy {name} has no active version to roll back", field="policy")
    if to_version is None:
        earlier = [v for v in record.activations if v != record.active]
        if not earlier:
            raise InvalidTransition(f"policy {name} has no earlier version to roll back to", field="policy")
        to_version = earlier[-1]
    _version(record, to_version)
    return [(policy_stream(name), PolicyRolledBack(policy=name, from_version=record.active, to_version=to_version,
                                                   by=by, reason=reason))]


def start_canary(state: GovernanceState, name: str, version: str, share: float, by: str,
                 max_regression: Mapping[str, float] | None = None) -> Emitted:
    record = _policy(state, name)
    _version(record, version)
    if not (isinstance(share, int | float) and math.isfinite(share) and 0 < share < 1):
        raise InvalidInput("must be a number strictly between 0 and 1", field="share")
    if record.active is None:
        raise InvalidTransition("a canary needs an active version to compare with: activate one first",
                                field="version")
    if record.active == version:
        raise InvalidTransition(f"{name}@{version} is the active version", field="version")
    if record.canary is not None:
        raise InvalidTransition(f"a canary of {name}@{record.canary.version} is already running", field="version")
    limits = dict(max_regression or DEFAULT_MAX_REGRESSION)
    return [(policy_stream(name), PolicyCanaryStarted(policy=name, version=version, share=float(share),
                                                      max_regression=limits, by=by))]


def start_shadow(state: GovernanceState, name: str, version: str, by: str) -> Emitted:
    record = _policy(state, name)
    _version(record, version)
    if record.active == version:
        raise InvalidTransition(f"{name}@{version} is the active version", field="version")
    if record.shadow is not None:
        raise InvalidTransition(f"{name}@{record.shadow.version} is already in shadow", field="version")
    return [(policy_stream(name), PolicyShadowStarted(policy=name, version=version, by=by))]


def stop_rollout(state: GovernanceState, name: str, mode: str, by: str, reason: str) -> Emitted:
    record = _policy(state, name)
    rollout = record.canary if mode == "canary" else record.shadow if mode == "shadow" else None
    if rollout is None:
        raise InvalidTransition(f"policy {name} has no {mode} running", field="mode")
    return [(policy_stream(name), PolicyRolloutStopped(policy=name, version=rollout.version, mode=mode, by=by,
                                                       reason=reason))]


def promote_canary(state: GovernanceState, name: str, by: str, reason: str) -> Emitted:
    record = _policy(state, name)
    if record.canary is None:
        raise InvalidTransition(f"policy {name} has no canary running", field="policy")
    return activate_policy(state, name, record.canary.version, by, reason)


def record_canary_kpis(state: GovernanceState, name: str, control: Mapping[str, float],
                       canary: Mapping[str, float], *, source: str = "twin", by: str = "governance") -> Emitted:
    """The twin comparison hook: KPIs per arm in, events out; rolls the canary back on regression."""
    record = _policy(state, name)
    if record.canary is None:
        raise InvalidTransition(f"policy {name} has no canary running", field="policy")
    for arm, kpis in (("control", control), ("canary", canary)):
        for kpi, value in kpis.items():
            if not isinstance(value, int | float) or not math.isfinite(value):
                raise InvalidInput("KPI values must be finite numbers", field=f"{arm}.{kpi}")
    version = record.canary.version
    regressions, regressed = canary_regressions(control, canary, record.canary.max_regression)
    out: Emitted = [(policy_stream(name), CanaryKpisRecorded(
        policy=name, version=version, control={k: float(v) for k, v in control.items()},
        canary={k: float(v) for k, v in canary.items()}, regressions=regressions, regressed=regressed,
        source=source))]
    if regressed:
        worst = ", ".join(f"{k} {v:+.1%}" for k, v in regressions.items()
                          if v > record.canary.max_regression.get(k, math.inf))
        out.append((policy_stream(name), PolicyRolledBack(
            policy=name, from_version=version, to_version=record.active, by=by, automatic=True,
            reason=f"canary KPIs regressed past the threshold: {worst}")))
    return out


# --- kill switch, users, tokens ----------------------------------------------------------------------

def set_kill_switch(engaged: bool, site: str | None, by: str, reason: str) -> Emitted:
    return [(KILLSWITCH_STREAM, KillSwitchSet(engaged=engaged, site=site, by=by, reason=reason))]


def create_user(state: GovernanceState, user_id: str, name: str, role: str, sites: list[str], by: str) -> Emitted:
    if not USER_ID.fullmatch(user_id):
        raise InvalidInput("must be 1-64 characters of a-z 0-9 . _ @ -", field="user_id")
    if role not in ROLES:
        raise InvalidInput(f"must be one of {', '.join(ROLES)}", field="role")
    if not sites or not all(SITE.fullmatch(s) for s in sites):
        raise InvalidInput("must be a non-empty list of site ids or *", field="sites")
    if user_id in state.users:
        raise AlreadyExists(f"user {user_id} exists", field="user_id")
    return [(f"user:{user_id}", UserCreated(user_id=user_id, name=name[:200] or user_id, role=role,
                                            sites=list(sites), by=by))]


def disable_user(state: GovernanceState, user_id: str, by: str, reason: str) -> Emitted:
    if user_id not in state.users:
        raise UnknownEntity(f"unknown user {user_id[:64]!r}", field="user_id")
    return [(f"user:{user_id}", UserDisabled(user_id=user_id, by=by, reason=reason))]


def issue_token(state: GovernanceState, user_id: str, by: str, *, sites: list[str] | None = None,
                ttl_days: float | None = None, now: datetime | None = None) -> tuple[Emitted, str]:
    """(events, the secret): the secret is returned once and never stored."""
    user = state.users.get(user_id)
    if user is None:
        raise UnknownEntity(f"unknown user {user_id[:64]!r}", field="user_id")
    scope = list(sites) if sites else list(user.sites)
    if not all(SITE.fullmatch(s) for s in scope):
        raise InvalidInput("must be site ids or *", field="sites")
    if "*" not in user.sites and any(s not in user.sites for s in scope):
        raise InvalidInput(f"a token cannot reach beyond its user's sites {user.sites}", field="sites")
    expires = None
    if ttl_days is not None:
        expires = ((now or SYSTEM_CLOCK.now()) + timedelta(days=ttl_days)).isoformat()
    token_id, secret = new_token()
    return [(f"token:{token_id}", TokenIssued(token_id=token_id, user_id=user_id, token_hash=hash_token(secret),
                                              sites=scope, expires_at=expires, by=by))], secret


def revoke_token(state: GovernanceState, token_id: str, by: str) -> Emitted:
    if token_id not in state.tokens:
        raise UnknownEntity(f"unknown token {token_id[:64]!r}", field="token_id")
    return [(f"token:{token_id}", TokenRevoked(token_id=token_id, by=by))]


# --- proposals -----------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Submission:
    """What to write for a new proposal, and whether its command executes now."""

    verdict: Verdict
    events: Emitted
    execute: bool
    arm: str


def no_policy_verdict(proposal: Proposal) -> Verdict:
    return Verdict(decision="reject", reasons=(f"no active policy covers site {proposal.site}",),
                   risk_score=math.inf, policy_version="none")


def submit(state: GovernanceState, proposal: Proposal, now: datetime, *, blast_radius: int = 1,
           context: ReviewContext | None = None) -> Submission:
    """Review a new proposal under the policy governing its SKU x site (and the shadow version, if
    any): ProposalMade, the verdict, a shadow verdict. ``execute`` is true for "approve"."""
    stream = f"proposal:{proposal.proposal_id}"
    if proposal.proposal_id in state.proposals:
        raise AlreadyExists(f"proposal {proposal.proposal_id} exists", field="proposal_id")
    sku_class = state.sku_classes().get(proposal.sku, "C")
    policy, arm, shadow = policy_for(state, proposal.sku, proposal.site, sku_class)
    events: Emitted = [(stream, proposal_made(proposal))]
    if policy is None:
        verdict = no_policy_verdict(proposal)
    else:
        ctx = context or build_context(state, proposal, policy, now, blast_radius=blast_radius, sku_class=sku_class)
        verdict = review(proposal, policy, ctx)
        if shadow is not None:
            shadow_verdict = review(proposal, shadow, ctx)
            events.append((stream, ShadowVerdictRecorded(
                policy=shadow.name, version=shadow.version, decision=shadow_verdict.decision,
                reasons=list(shadow_verdict.reasons), risk_score=_finite(shadow_verdict.risk_score))))
    events.append((stream, verdict_event(verdict)))
    return Submission(verdict, events, verdict.decision == "approve", arm)


def _finite(score: float) -> float:
    return score if math.isfinite(score) else 1e18


def verdict_event(verdict: Verdict, by: str = "governance") -> Event:
    score = _finite(verdict.risk_score)
    if verdict.decision == "approve":
        return ProposalApproved(by=by, reason="; ".join(verdict.reasons), risk_score=score,
                                policy_version=verdict.policy_version)
    if verdict.decision == "queue":
        return ProposalQueued(reasons=list(verdict.reasons), risk_score=score, expires_at=verdict.expires_at,
                              policy_version=verdict.policy_version)
    return ProposalRejected(by=by, reasons=list(verdict.reasons), policy_version=verdict.policy_version)


def _queued(state: GovernanceState, proposal_id: str, principal: Principal, now: datetime) -> ProposalRecord:
    record = state.proposals.get(proposal_id)
    if record is None or not all(principal.sees(s) for s in record.sites):
        # Another site's proposal is as unknown to this token as one that does not exist.
        raise UnknownEntity(f"unknown proposal {proposal_id[:80]!r}", field="proposal_id")
    if record.status != "queued":
        raise InvalidTransition(f"proposal {proposal_id} is {record.status}, not waiting for approval",
                                field="proposal_id")
    if record.expires_at is not None and record.expires_at <= now.isoformat():
        raise InvalidTransition(f"proposal {proposal_id} expired at {record.expires_at}", field="proposal_id")
    return record


def approve(state: GovernanceState, proposal_id: str, principal: Principal, reason: str, now: datetime
            ) -> tuple[ProposalRecord, Emitted]:
    """Four eyes: whoever requested the proposal cannot approve it."""
    principal.require("approve")
    record = _queued(state, proposal_id, principal, now)
    if record.requested_by == principal.user_id:
        raise Forbidden("four eyes: the requester of a proposal cannot approve it")
    return record, [(f"proposal:{proposal_id}", ProposalApproved(
        by=principal.user_id, reason=reason, risk_score=record.risk_score or 0.0,
        policy_version=record.policy_version))]


def reject(state: GovernanceState, proposal_id: str, principal: Principal, reason: str, now: datetime
           ) -> Emitted:
    principal.require("approve")
    record = _queued(state, proposal_id, principal, now)
    return [(f"proposal:{proposal_id}", ProposalRejected(by=principal.user_id, reasons=[reason],
                                                         policy_version=record.policy_version))]


def expire_due(state: GovernanceState, now: datetime) -> Emitted:
    """ProposalExpired for every queued proposal whose approval window has closed."""
    moment = now.isoformat()
    return [(f"proposal:{r.proposal_id}", ProposalExpired(expired_at=moment, policy_version=r.policy_version))
            for r in state.proposals.values()
            if r.status == "queued" and r.expires_at is not None and r.expires_at <= moment]

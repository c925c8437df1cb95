"""Governance events: policy versions and their rollout, the kill switch, users and API tokens,
and what governance adds to a proposal's history (expiry, shadow verdicts, canary KPIs).

Streams:
    policy:NAME              PolicyVersionPublished, PolicyActivated, PolicyRolledBack,
                             PolicyShadowStarted, PolicyCanaryStarted, PolicyRolloutStopped,
                             CanaryKpisRecorded
    governance:killswitch    KillSwitchSet
    user:ID                  UserCreated, UserDisabled
    token:ID                 TokenIssued, TokenRevoked (only the SHA-256 of a token is stored)
    proposal:ID              ProposalExpired, ShadowVerdictRecorded (beside domain.proposals' events)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from stockmesh.domain.events import Event, register

KILLSWITCH_STREAM = "governance:killswitch"


def policy_stream(name: str) -> str:
    return f"policy:{name}"


# --- policies ------------------------------------------------------------------------------------

@dataclass(frozen=True, kw_only=True, slots=True)
class PolicyVersionPublished(Event):
    """A policy document, stored whole: a decision names the version, and the version names this."""

    type: ClassVar[str] = "PolicyVersionPublished"
    policy: str
    version: str
    document: dict[str, Any]
    digest: str
    by: str


@dataclass(frozen=True, kw_only=True, slots=True)
class PolicyActivated(Event):
    type: ClassVar[str] = "PolicyActivated"
    policy: str
    version: str
    previous_version: str | None
    by: str
    reason: str


@dataclass(frozen=True, kw_only=True, slots=True)
class PolicyRolledBack(Event):
    """Back to an earlier version; ``automatic`` when a canary's KPIs regressed past the threshold."""

    type: ClassVar[str] = "PolicyRolledBack"
    policy: str
    from_version: str
    to_version: str | None
    by: str
    reason: str
    automatic: bool = False


@dataclass(frozen=True, kw_only=True, slots=True)
class PolicyShadowStarted(Event):
    """``version`` now reviews every proposal beside the active one; its verdicts never execute."""

    type: ClassVar[str] = "PolicyShadowStarted"
    policy: str
    version: str
    by: str


@dataclass(frozen=True, kw_only=True, slots=True)
class PolicyCanaryStarted(Event):
    """``version`` governs a ``share`` of SKU x sites (chosen by a stable hash of version, SKU, site)."""

    type: ClassVar[str] = "PolicyCanaryStarted"
    policy: str
    version: str
    share: float
    max_regression: dict[str, float]
    by: str


@dataclass(frozen=True, kw_only=True, slots=True)
class PolicyRolloutStopped(Event):
    type: ClassVar[str] = "PolicyRolloutStopped"
    policy: str
    version: str
    mode: str  # "shadow" or "canary"
    by: str
    reason: str


@dataclass(frozen=True, kw_only=True, slots=True)
class CanaryKpisRecorded(Event):
    """KPIs of the control and canary arms (from the twin or from live outcomes) and the judgement."""

    type: ClassVar[str] = "CanaryKpisRecorded"
    policy: str
    version: str
    control: dict[str, float]
    canary: dict[str, float]
    regressions: dict[str, float]
    regressed: bool
    source: str


# --- kill switch ---------------------------------------------------------------------------------

@dataclass(frozen=True, kw_only=True, slots=True)
class KillSwitchSet(Event):
    """``site`` None means the whole network. While engaged nothing executes without a person."""

    type: ClassVar[str] = "KillSwitchSet"
    engaged: bool
    site: str | None
    by: str
    reason: str


# --- users and tokens ------------------------------------------------------------------------------

@dataclass(frozen=True, kw_only=True, slots=True)
class UserCreated(Event):
    type: ClassVar[str] = "UserCreated"
    user_id: str
    name: str
    role: str
    sites: list[str]
    by: str


@dataclass(frozen=True, kw_only=True, slots=True)
class UserDisabled(Event):
    type: ClassVar[str] = "UserDisabled"
    user_id: str
    by: str
    reason: str


@dataclass(frozen=True, kw_only=True, slots=True)
class TokenIssued(Event):
    """Only ``token_hash`` (SHA-256 of the secret) is stored; the secret is shown once, at issue."""

    type: ClassVar[str] = "TokenIssued"
    token_id: str
    user_id: str
    token_hash: str
    sites: list[str]
    expires_at: str | None
    by: str


@dataclass(frozen=True, kw_only=True, slots=True)
class TokenRevoked(Event):
    type: ClassVar[str] = "TokenRevoked"
    token_id: str
    by: str


# --- proposals -----------------------------------------------------------------------------------

@dataclass(frozen=True, kw_only=True, slots=True)
class ProposalExpired(Event):
    """A queued proposal nobody approved in time: it will never execute."""

    type: ClassVar[str] = "ProposalExpired"
    expired_at: str
    policy_version: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class ShadowVerdictRecorded(Event):
    """What a shadow policy version would have decided: compared later, never executed."""

    type: ClassVar[str] = "ShadowVerdictRecorded"
    policy: str
    version: str
    decision: str
    reasons: list[str]
    risk_score: float


register(PolicyVersionPublished, PolicyActivated, PolicyRolledBack, PolicyShadowStarted, PolicyCanaryStarted,
         PolicyRolloutStopped, CanaryKpisRecorded, KillSwitchSet, UserCreated, UserDisabled, TokenIssued,
         TokenRevoked, ProposalExpired, ShadowVerdictRecorded)

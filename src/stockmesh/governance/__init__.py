"""Governed autonomy: versioned policies, guardrails, risk tiers, approvals, canary and shadow
rollout, the kill switch, users and tokens.

The agent loop calls ``review(proposal, policy, context) -> Verdict`` (pure); ``policy_for`` and
``build_context`` find the policy and gather the context from a ``GovernanceState`` (a fold of the
ledger, kept current by ``GovernanceView``). ``decisions`` turns requests into events to append.
"""

from stockmesh.governance.context import build_context
from stockmesh.governance.gate import ReviewContext, Verdict, review
from stockmesh.governance.policy import PolicyDocument, load_policy_text, parse_policy
from stockmesh.governance.risk import risk_score
from stockmesh.governance.rollout import canary_regressions, policy_for
from stockmesh.governance.state import GovernanceState, GovernanceView

__all__ = ["GovernanceState", "GovernanceView", "PolicyDocument", "ReviewContext", "Verdict", "build_context",
           "canary_regressions", "load_policy_text", "parse_policy", "policy_for", "review", "risk_score"]

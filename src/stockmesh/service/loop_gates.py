"""The gates the agent loop takes (``service.loop.Gate``: ``review(proposal) -> Verdict``).

``PolicyGate`` is the governance layer's review (``governance.gate.review``) under a versioned
policy document; the ledger twin runs with it. ``MinimalGate`` applies two guardrails only:
proposals above ``max_auto_value`` wait for a person, and a kill switch stops all autonomy;
``stockmesh rebalance``, ``stockmesh reconcile --apply`` and the demo use it. With either, the loop
records every decision as an event.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from stockmesh.domain.proposals import Proposal
from stockmesh.governance.gate import ReviewContext, Verdict, review
from stockmesh.governance.policy import PolicyDocument


@dataclass
class MinimalGate:
    max_auto_value: float = 25_000.0  # a stand-in for tests and the twin; see PolicyGate for the real one
    kill_switch: bool = False
    policy_version: str = "minimal@1"

    def review(self, proposal: Proposal) -> Verdict:
        risk = min(proposal.value / self.max_auto_value, 10.0) if self.max_auto_value > 0 else 10.0
        if proposal.qty <= 0:
            return Verdict(decision="reject", reasons=("quantity must be positive",), risk_score=risk,
                           policy_version=self.policy_version)
        if self.kill_switch:
            return Verdict(decision="queue", reasons=("kill switch is on: every proposal waits for a person",),
                           risk_score=risk, policy_version=self.policy_version)
        if proposal.value > self.max_auto_value:
            return Verdict(decision="queue", reasons=(f"value {proposal.value:.2f} above the autonomous limit "
                                                      f"{self.max_auto_value:.2f}",),
                           risk_score=risk, policy_version=self.policy_version)
        return Verdict(decision="approve", reasons=("within the autonomous limits",), risk_score=risk,
                       policy_version=self.policy_version)


@dataclass
class PolicyGate:
    """The governance layer's guardrails and risk tiers as the loop's gate: a versioned policy
    document, and a function that gathers the review context of each proposal."""

    policy: PolicyDocument
    context_for: Callable[[Proposal], ReviewContext]

    def review(self, proposal: Proposal) -> Verdict:
        return review(proposal, self.policy, self.context_for(proposal))

"""The minimal governance gate the agent loop uses until the full governance layer is wired in.

It still records every decision as an event (through the loop) and applies two guardrails:
proposals above ``max_auto_value`` wait for a person, and a kill switch stops all autonomy.
"""

from __future__ import annotations

from dataclasses import dataclass

from stockmesh.domain.proposals import Proposal
from stockmesh.service.loop import Verdict


@dataclass
class MinimalGate:
    max_auto_value: float = 25_000.0
    kill_switch: bool = False
    policy_version: str | None = "minimal-1"

    def review(self, proposal: Proposal) -> Verdict:
        risk = min(proposal.value / self.max_auto_value, 10.0) if self.max_auto_value > 0 else 10.0
        if proposal.qty <= 0:
            return Verdict("reject", ("quantity must be positive",), risk, self.policy_version)
        if self.kill_switch:
            return Verdict("queue", ("kill switch is on: every proposal waits for a person",), risk,
                           self.policy_version)
        if proposal.value > self.max_auto_value:
            return Verdict("queue", (f"value {proposal.value:.2f} above the autonomous limit "
                                     f"{self.max_auto_value:.2f}",), risk, self.policy_version)
        return Verdict("approve", ("within the autonomous limits",), risk, self.policy_version)

"""Governance decisions over a folded state (memory ledger): policies, rollout, approvals, tokens."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from stockmesh.domain.errors import AlreadyExists, InvalidTransition, UnknownEntity
from stockmesh.domain.proposals import Proposal
from stockmesh.governance import decisions
from stockmesh.governance.auth import Forbidden, Principal, Unauthenticated, authenticate, hash_token
from stockmesh.governance.policy import parse_policy
from stockmesh.governance.state import GovernanceState, GovernanceView
from stockmesh.ledger.memory import MemoryEventStore
from stockmesh.service.execute import Fact, execute
from tests.support.commands import c

NOW = datetime.now(UTC)
LYON = "STORE-LYON-02"


class Ledger:
    def __init__(self) -> None:
        self.store = MemoryEventStore()
        self.store.init()
        self.view = GovernanceView(self.store)

    @property
    def state(self) -> GovernanceState:
        return self.view.refresh()

    def write(self, emitted: list, actor: str = "test") -> None:  # type: ignore[type-arg]
        if emitted:
            execute(self.store, [], facts=[Fact(s, e, {"actor": actor}) for s, e in emitted])


def doc(version: str, **extra: object) -> object:
    return parse_policy({"name": "default", "version": version, **extra})


@pytest.fixture
def ledger() -> Ledger:
    return Ledger()


def test_publish_activate_rollback(ledger: Ledger) -> None:
    ledger.write(decisions.publish_policy(ledger.state, doc("1"), "root"))
    assert decisions.publish_policy(ledger.state, doc("1"), "root") == []
    with pytest.raises(AlreadyExists):
        decisions.publish_policy(ledger.state, doc("1", review_period_days=3), "root")
    ledger.write(decisions.publish_policy(ledger.state, doc("2"), "root"))
    with pytest.raises(InvalidTransition):
        decisions.rollback_policy(ledger.state, "default", "root", "x")
    ledger.write(decisions.activate_policy(ledger.state, "default", "1", "root", "first"))
    ledger.write(decisions.activate_policy(ledger.state, "default", "2", "root", "second"))
    ledger.write(decisions.rollback_policy(ledger.state, "default", "root", "bad"))
    assert ledger.state.policies["default"].active == "1"
    with pytest.raises(UnknownEntity):
        decisions.activate_policy(ledger.state, "default", "9", "root", "x")


def test_canary_rolls_back_automatically_and_shadow_records(ledger: Ledger) -> None:
    for v in ("1", "2"):
        ledger.write(decisions.publish_policy(ledger.state, doc(v), "root"))
    ledger.write(decisions.activate_policy(ledger.state, "default", "1", "root", "first"))
    ledger.write(decisions.start_canary(ledger.state, "default", "2", 0.3, "root"))
    with pytest.raises(InvalidTransition):
        decisions.start_canary(ledger.state, "default", "2", 0.3, "root")
    fine = decisions.record_canary_kpis(ledger.state, "default", {"service_level": 0.95}, {"service_level": 0.95})
    assert [e.type for _, e in fine] == ["CanaryKpisRecorded"]
    ledger.write(fine)
    bad = decisions.record_canary_kpis(ledger.state, "default", {"service_level": 0.95}, {"service_level": 0.80})
    assert [e.type for _, e in bad] == ["CanaryKpisRecorded", "PolicyRolledBack"]
    ledger.write(bad)
    record = ledger.state.policies["default"]
    assert record.canary is None and record.active == "1" and record.history[-1]["automatic"] is True
    ledger.write(decisions.start_shadow(ledger.state, "default", "2", "root"))
    p = Proposal(proposal_id="x1", agent="a", action="replenish", sku="OAT", site=LYON, qty=1, value=1.0,
                 command=c("ShipStock", sku="OAT", site=LYON, qty=1))
    plan = decisions.submit(ledger.state, p, NOW)
    assert [e.type for _, e in plan.events] == ["ProposalMade", "ShadowVerdictRecorded", "ProposalApproved"]


def test_approval_rules(ledger: Ledger) -> None:
    ledger.write(decisions.publish_policy(ledger.state, doc("1", autonomy={"tier": "manual"}), "root"))
    ledger.write(decisions.activate_policy(ledger.state, "default", "1", "root", "first"))
    p = Proposal(proposal_id="q1", agent="a", action="replenish", sku="OAT", site=LYON, qty=1, value=1.0,
                 command=c("ShipStock", sku="OAT", site=LYON, qty=1))
    plan = decisions.submit(ledger.state, p, NOW)
    assert plan.verdict.decision == "queue" and not plan.execute
    ledger.write(plan.events, actor="pia")
    with pytest.raises(AlreadyExists):
        decisions.submit(ledger.state, p, NOW)
    pia = Principal("pia", "approver", (LYON,), "t")
    with pytest.raises(Forbidden):
        decisions.approve(ledger.state, "q1", pia, "mine", NOW)  # four eyes
    with pytest.raises(Forbidden):
        decisions.approve(ledger.state, "q1", Principal("vera", "viewer", (LYON,), "t"), "x", NOW)
    with pytest.raises(UnknownEntity):
        decisions.approve(ledger.state, "q1", Principal("paul", "approver", ("STORE-PARIS-01",), "t"), "x", NOW)
    with pytest.raises(InvalidTransition):
        decisions.approve(ledger.state, "q1", Principal("ada", "approver", (LYON,), "t"), "x",
                          NOW + timedelta(hours=49))
    assert len(decisions.expire_due(ledger.state, NOW + timedelta(hours=49))) == 1
    _, emitted = decisions.approve(ledger.state, "q1", Principal("ada", "approver", (LYON,), "t"), "ok", NOW)
    assert emitted[0][1].by == "ada"  # type: ignore[attr-defined]


def test_tokens_hashed_scoped_and_revocable(ledger: Ledger) -> None:
    ledger.write(decisions.create_user(ledger.state, "ada", "Ada", "approver", [LYON], "root"))
    with pytest.raises(AlreadyExists):
        decisions.create_user(ledger.state, "ada", "Ada", "approver", [LYON], "root")
    emitted, secret = decisions.issue_token(ledger.state, "ada", "root")
    assert emitted[0][1].token_hash == hash_token(secret)  # type: ignore[attr-defined]
    assert secret not in repr(emitted)
    ledger.write(emitted)
    principal = authenticate(ledger.state, secret, NOW)
    assert principal.sites == (LYON,) and principal.can("approve") and not principal.can("command")
    with pytest.raises(Unauthenticated):
        authenticate(ledger.state, secret[:-1] + ("A" if secret[-1] != "A" else "B"), NOW)
    with pytest.raises(Unauthenticated):
        authenticate(ledger.state, "nonsense", NOW)
    ledger.write(decisions.revoke_token(ledger.state, principal.token_id, "root"))
    with pytest.raises(Unauthenticated):
        authenticate(ledger.state, secret, NOW)
    expiring, secret2 = decisions.issue_token(ledger.state, "ada", "root", ttl_days=1, now=NOW)
    ledger.write(expiring)
    with pytest.raises(Unauthenticated):
        authenticate(ledger.state, secret2, NOW + timedelta(days=2))
    from stockmesh.domain.errors import InvalidInput

    with pytest.raises(InvalidInput):
        decisions.issue_token(ledger.state, "ada", "root", sites=["STORE-PARIS-01"])

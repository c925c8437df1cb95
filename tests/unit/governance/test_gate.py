"""The gate, the risk score, policy documents and rollout: pure functions, no I/O."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path

import pytest

from stockmesh.domain.commands import DispatchTransfer, PlacePurchaseOrder
from stockmesh.domain.errors import InvalidInput
from stockmesh.domain.proposals import Proposal
from stockmesh.governance.gate import ReviewContext, review
from stockmesh.governance.policy import load_policy_text, parse_policy, policy_from_event_document
from stockmesh.governance.risk import novelty, risk_score
from stockmesh.governance.rollout import bucket, canary_regressions, in_canary

REPO = Path(__file__).resolve().parents[3]
NOW = datetime(2026, 11, 26, 12, tzinfo=UTC)
LYON = "STORE-LYON-02"


def policy(**guardrails: object) -> object:
    autonomy = guardrails.pop("autonomy", {"tier": "supervised", "auto_approve_max_risk": 1000})
    return parse_policy({"name": "p", "version": "1", "guardrails": guardrails, "autonomy": autonomy,
                         "review_period_days": 7, "lead_time_days": 7})


def order(qty: int = 100, value: float = 100.0, site: str = LYON, **command: object) -> Proposal:
    return Proposal(proposal_id="p1", agent="replenishment", action="replenish", sku="OAT-MILK-1L", site=site,
                    qty=qty, value=value,
                    command=PlacePurchaseOrder(idempotency_key="proposal:p1", po_id="PO-1", sku="OAT-MILK-1L", site=site,
                                               supplier="SUP-ALPRO", qty=qty, **command))


def ctx(**kw: object) -> ReviewContext:
    base: dict[str, object] = {"now": NOW, "forecast_mean": 10.0, "forecast_sd": 2.0, "prior_executed": 9,
                               "data_age_hours": {LYON: 1.0}}
    base.update(kw)
    return ReviewContext(**base)  # type: ignore[arg-type]


def test_risk_formula() -> None:
    assert risk_score(100.0, 10.0, 2.0, 0) == pytest.approx(100 * 1.2 * 2.0)
    assert risk_score(100.0, None, None, 1) == pytest.approx(100 * 2.0 * 1.5)
    assert novelty(0) == 2.0 and novelty(9) == pytest.approx(1.1)
    assert risk_score(100.0, 1.0, 100.0, 0) == pytest.approx(100 * 6.0 * 2.0)  # CV capped at 5
    assert math.isinf(risk_score(float("nan"), 1, 1, 0))


def test_low_risk_approves_and_records_the_version() -> None:
    v = review(order(), policy(), ctx())
    assert v.decision == "approve" and v.policy_version == "p@1" and v.expires_at is None


def test_high_risk_queues_with_an_expiry() -> None:
    v = review(order(value=5000.0), policy(), ctx())
    assert v.decision == "queue" and "auto-approval threshold" in v.reasons[0]
    assert v.expires_at == "2026-11-28T12:00:00+00:00"


@pytest.mark.parametrize(("rails", "proposal", "context", "decision", "words"), [
    ({"max_order_value": 50}, order(value=100), {}, "reject", "maximum order value"),
    ({"max_order_qty": 50}, order(qty=100), {}, "reject", "maximum order quantity"),
    ({"max_blast_radius": 3}, order(), {"blast_radius": 4}, "reject", "blast radius"),
    ({"max_forecast_multiple": 0.5}, order(qty=100), {}, "queue", "x forecast demand"),
    ({"max_forecast_multiple": 2.0}, order(qty=100), {"forecast_mean": None}, "queue", "no forecast"),
    ({"max_change_vs_last_order": 0.5}, order(qty=100), {"last_order_qty": 50}, "queue", "against the last order"),
    ({"budget": {"per_supplier": 1000}}, order(value=100), {"spent_by_supplier": {"SUP-ALPRO": 950.0}}, "queue",
     "budget for supplier SUP-ALPRO"),
    ({"budget": {"per_site": 1000}}, order(value=100), {"spent_by_site": {LYON: 901.0}}, "queue",
     f"budget for site {LYON}"),
    ({"max_data_age_hours": 24}, order(), {"data_age_hours": {LYON: 30.0}}, "queue", "safe mode"),
    ({"max_data_age_hours": 24}, order(), {"data_age_hours": {}}, "queue", "last arrived never"),
    ({}, order(), {"kill_switch": True}, "queue", "kill switch"),
    ({}, order(), {"killed_sites": frozenset({LYON})}, "queue", f"kill switch engaged for site {LYON}"),
    ({}, order(qty=0), {}, "reject", "malformed"),
    ({}, order(value=float("nan")), {}, "reject", "malformed"),
])
def test_guardrails(rails: dict[str, object], proposal: Proposal, context: dict[str, object], decision: str,
                    words: str) -> None:
    v = review(proposal, policy(**rails), ctx(**context))
    assert v.decision == decision, v
    assert any(words in r for r in v.reasons), v.reasons


def test_within_guardrails_passes_each_bound() -> None:
    p = policy(max_order_value=1000, max_order_qty=1000, max_forecast_multiple=2.0, max_change_vs_last_order=0.5,
               budget={"per_supplier": 10_000, "per_site": 10_000}, max_blast_radius=5, max_data_age_hours=24)
    v = review(order(qty=100, value=100), p, ctx(last_order_qty=90, spent_by_supplier={"SUP-ALPRO": 100.0}))
    assert v.decision == "approve", v.reasons


def test_tiers() -> None:
    manual = policy(autonomy={"tier": "manual", "auto_approve_max_risk": 10**9})
    assert review(order(), manual, ctx()).decision == "queue"
    autonomous = policy(autonomy={"tier": "autonomous", "auto_approve_max_risk": 0})
    assert review(order(value=10**6), autonomous, ctx()).decision == "approve"


def test_scope() -> None:
    p = parse_policy({"name": "p", "version": "1", "scope": {"sites": ["STORE-PILOT-*"], "sku_classes": ["A"]},
                      "autonomy": {"auto_approve_max_risk": 10**9}})
    assert review(order(site="STORE-PILOT-1"), p, ctx(sku_class="A", data_age_hours={})).decision == "approve"
    v = review(order(site=LYON), p, ctx(sku_class="B"))
    assert v.decision == "reject" and len(v.reasons) == 2


def test_policy_documents_parse_strictly() -> None:
    for path in sorted((REPO / "policies").glob("*.yaml")):
        doc = load_policy_text(path.read_text())
        assert policy_from_event_document(doc.to_dict()) == doc
    with pytest.raises(InvalidInput) as err:
        parse_policy({"name": "p", "version": "1", "guardrails": {"max_order_vlaue": 5}})
    assert err.value.field == "guardrails.max_order_vlaue"
    for bad in ({"name": "P!", "version": "1"}, {"name": "p", "version": "1", "autonomy": {"tier": "yolo"}},
                {"name": "p", "version": "1", "guardrails": {"max_order_qty": -1}},
                {"name": "p", "version": "1", "guardrails": {"max_order_value": float("inf")}},
                {"name": "p", "version": "1", "review_period_days": "7"}, ["not", "a", "mapping"]):
        with pytest.raises(InvalidInput):
            parse_policy(bad)
    with pytest.raises(InvalidInput):
        load_policy_text("!!python/object/apply:os.system ['true']")


def test_canary_membership_is_stable_and_near_its_share() -> None:
    assert bucket("v2", "A", "S") == bucket("v2", "A", "S")
    members = sum(in_canary("v2", 0.2, f"SKU-{i}", f"SITE-{i % 17}") for i in range(20_000))
    assert 0.18 < members / 20_000 < 0.22
    assert bucket("v2", "A", "S") != bucket("v3", "A", "S")


def test_canary_regressions() -> None:
    limits = {"service_level": 0.02, "total_cost": 0.10}
    regressions, regressed = canary_regressions({"service_level": 0.95, "total_cost": 100},
                                                {"service_level": 0.94, "total_cost": 105}, limits)
    assert not regressed and regressions["total_cost"] == pytest.approx(0.05)
    _, regressed = canary_regressions({"service_level": 0.95}, {"service_level": 0.90}, limits)
    assert regressed
    _, regressed = canary_regressions({"total_cost": 100}, {"total_cost": 120}, limits)
    assert regressed
    _, regressed = canary_regressions({"total_cost": 100}, {"total_cost": 80, "service_level": 0.99}, limits)
    assert not regressed


def test_transfers_between_our_sites_spend_no_budget() -> None:
    rails = policy(budget={"per_site": 1000})
    transfer = Proposal(proposal_id="t", agent="replenishment", action="DispatchTransfer", sku="OAT-MILK-1L",
                        site=LYON, qty=10, value=500.0,
                        command=DispatchTransfer(idempotency_key="proposal:t", transfer_id="T", sku="OAT-MILK-1L",
                                                 from_site="DC-LYON", to_site=LYON, qty=10))
    spent = ctx(spent_by_site={LYON: 901.0})
    assert not any("budget" in r for r in review(transfer, rails, spent).reasons)
    assert any("budget" in r for r in review(order(value=500.0), rails, spent).reasons)

"""Safe rollout of a policy version: shadow, canary, automatic rollback.

- Which version governs a SKU x site: the active one, unless a canary runs and the SKU x site falls
  in its share. Membership is a stable hash of (canary version, SKU, site), so it does not change
  from one cycle to the next and needs no stored list.
- Shadow: the shadow version reviews every proposal beside the governing one; its verdict is
  recorded (``ShadowVerdictRecorded``) and never executed.
- Canary KPIs, per arm, come from the twin (or from live outcomes) through ``canary_regressions``;
  a regression past ``max_regression`` rolls the canary back automatically (see
  ``decisions.record_canary_kpis``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

from stockmesh.governance.policy import PolicyDocument
from stockmesh.governance.state import GovernanceState, PolicyRecord

HIGHER_IS_BETTER = frozenset({"service_level", "fill_rate", "cycle_service_level", "availability", "ready_rate"})
LOWER_IS_BETTER = frozenset({"cost", "total_cost", "holding_cost", "ordering_cost", "stockouts", "stockout_days",
                             "lost_sales", "backorders", "waste", "expired_units", "inventory_value"})
DEFAULT_MAX_REGRESSION = {"service_level": 0.02, "total_cost": 0.10}


def bucket(version: str, sku: str, site: str) -> float:
    """A number in [0, 1), stable for a (version, SKU, site)."""
    digest = hashlib.sha256(f"{version}\x1f{sku}\x1f{site}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def in_canary(version: str, share: float, sku: str, site: str) -> bool:
    return bucket(version, sku, site) < share


def governing(record: PolicyRecord, sku: str, site: str) -> tuple[PolicyDocument | None, str]:
    """(the version that governs this SKU x site under this policy, "canary" or "control")."""
    canary = record.canary
    if canary is not None and canary.version in record.versions and in_canary(canary.version, canary.share, sku,
                                                                            site):
        return record.versions[canary.version], "canary"
    if record.active is None:
        return None, "control"
    return record.versions[record.active], "control"


def policy_for(state: GovernanceState, sku: str, site: str, sku_class: str | None = None
               ) -> tuple[PolicyDocument | None, str, PolicyDocument | None]:
    """(governing version, arm, shadow version) for a SKU x site: the first policy, by name, whose
    governing version's scope covers the site and the SKU's class."""
    for name in sorted(state.policies):
        record = state.policies[name]
        doc, arm = governing(record, sku, site)
        if doc is None or not doc.scope.covers_site(site) or not doc.scope.covers_class(sku_class):
            continue
        shadow = record.shadow
        return doc, arm, record.versions.get(shadow.version) if shadow is not None else None
    return None, "control", None


def canary_regressions(control: Mapping[str, float], canary: Mapping[str, float],
                       max_regression: Mapping[str, float]) -> tuple[dict[str, float], bool]:
    """Relative regression of the canary against control for each guarded KPI, and whether any
    passed its threshold. ``service_level`` 0.95 -> 0.92 is a regression of 0.0316 (3.2 %);
    ``total_cost`` 100 -> 112 is 0.12. KPIs missing from either arm are not judged."""
    regressions: dict[str, float] = {}
    regressed = False
    for kpi, limit in max_regression.items():
        if kpi not in control or kpi not in canary:
            continue
        base, new = float(control[kpi]), float(canary[kpi])
        scale = abs(base) if base != 0 else 1.0
        worse = (base - new) / scale if kpi not in LOWER_IS_BETTER else (new - base) / scale
        regressions[kpi] = round(worse, 6)
        if worse > limit:
            regressed = True
    return regressions, regressed

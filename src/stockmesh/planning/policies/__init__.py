"""Operational replenishment policies over arrays: one row per SKU x site.

    distributions   lead-time demand moments, integer quantiles and loss functions (vectorised)
    safety_stock    safety stock and reorder points for cycle-service or fill-rate targets
    ordering        order quantity: max(0, target - position), pack / multiple / MOQ / cap rounding
    engine          ``compute_policies(PolicyInputs) -> PolicyResult``: the whole chain, with provenance

An agent reads its positions table into ``PolicyInputs`` (numpy arrays, one entry per row) and gets
back arrays plus ``PolicyResult.explain(row)`` for the proposal's reasons.
"""

from __future__ import annotations

from stockmesh.planning.policies.compute import (
    DemandModel,
    PolicyInputs,
    PolicyKind,
    PolicyResult,
    ServiceTarget,
    compute_policies,
)
from stockmesh.planning.policies.ordering import OrderConstraints, OrderFlag, round_order_quantity
from stockmesh.planning.policies.safety_stock import (
    economic_order_quantity,
    normal_fill_rate_safety_factor,
    protection_demand_moments,
)

__all__ = [
    "DemandModel",
    "OrderConstraints",
    "OrderFlag",
    "PolicyInputs",
    "PolicyKind",
    "PolicyResult",
    "ServiceTarget",
    "compute_policies",
    "economic_order_quantity",
    "normal_fill_rate_safety_factor",
    "protection_demand_moments",
    "round_order_quantity",
]

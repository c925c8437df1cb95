"""Small scenarios for the twin's unit tests, written as the YAML a user would write."""

from __future__ import annotations

import copy
from typing import Any

import pytest

SMALL: dict[str, Any] = {
    "name": "small",
    "seed": 3,
    "horizon": {"history_days": 28, "warmup_days": 14, "measured_days": 42},
    "network": {
        "suppliers": [{"id": "SUP-OATLY", "lead_time": 3}, {"id": "SUP-ALPRO", "lead_time": {"uniform": [2, 5]}}],
        "dcs": [{"id": "DC-LYON"}],
        "stores": [{"id": "STORE-LYON-01", "supplied_by": "DC-LYON"}, {"id": "STORE-LYON-02", "supplied_by": "DC-LYON"},
                   {"id": "STORE-PARIS-01"}],
        "lanes": [{"from": "DC-LYON", "to": "STORE-LYON-01", "transit_time": 1, "capacity_per_day": 500,
                   "cost_per_unit": 0.1, "cost_per_shipment": 5}],
    },
    "skus": {"count": 12, "unit_cost": {"uniform": [1, 50]}, "fixed_order_cost": {"uniform": [5, 50]},
             "lost_sale_margin_factor": {"uniform": [0.5, 2]}, "shelf_life_days": {"uniform": [5, 10]},
             "perishable_share": 0.3},
    "demand": {"level": {"loguniform": [0.5, 6]}, "dispersion": 4, "weekly_profile": [1, 1, 1, 1, 1.2, 1.4, 0.6],
               "promotions": {"share_of_skus": 0.5, "per_sku": 2}},
}


@pytest.fixture
def small_raw() -> dict[str, Any]:
    return copy.deepcopy(SMALL)

"""ConsolidationAgent (supplier and transport): groups orders into shipments and picks their mode.

Given the replenishment proposals of a day, it groups the purchase orders of one supplier to one
site (and the transfers of one lane) into a shipment, adds ride-along lines at their can-order level
and fills trucks or reaches free freight (``planning.allocation.consolidate``), trims a nearly empty
last truck, and chooses standard or expedited transport per shipment. It returns the revised
proposals; each carries its shipment id, its lane's trucks and units, whether it rides along, its
added or trimmed units and the mode with the numbers behind the choice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from stockmesh.domain.proposals import Proposal
from stockmesh.planning.allocation.consolidate import TruckPlan, fill_trucks


class ConsolidationAgent:
    name = "consolidation"

    def group(self, proposals: Sequence[Proposal]) -> dict[tuple[str, str], list[int]]:
        """Indices of proposals per shipment key (supplier or source site, destination site)."""
        lanes: dict[tuple[str, str], list[int]] = {}
        for i, p in enumerate(proposals):
            source = getattr(p.command, "supplier", None) or getattr(p.command, "from_site", None) or ""
            lanes.setdefault((str(source), p.site), []).append(i)
        return lanes

    def consolidate(self, proposals: Sequence[Proposal], *, position: np.ndarray, reorder_point: np.ndarray,
                    order_up_to: np.ndarray, daily_demand: np.ndarray, truck_capacity: dict[tuple[str, str], float],
                    free_freight_units: dict[tuple[str, str], float] | None = None,
                    pack_size: np.ndarray | int = 1) -> tuple[list[Proposal], TruckPlan]:
        """Fill each shipment's trucks; arrays are per proposal. Returns revised proposals and the plan."""
        groups = self.group(proposals)
        keys = list(groups)
        lane = np.empty(len(proposals), dtype=np.int64)
        for index, key in enumerate(keys):
            lane[groups[key]] = index
        quantity = np.array([p.qty for p in proposals], dtype=np.int64)
        plan = fill_trucks(lane, quantity, position, reorder_point, order_up_to, daily_demand, n_lanes=len(keys),
                           truck_capacity=np.array([truck_capacity.get(k, np.inf) for k in keys]),
                           free_freight_units=np.array([(free_freight_units or {}).get(k, np.inf) for k in keys]),
                           pack_size=pack_size)
        out = []
        for i, p in enumerate(proposals):
            key = keys[lane[i]]
            qty = int(plan.quantity[i])
            if qty <= 0:
                continue
            note = {"shipment": f"{key[0]}->{key[1]}", "shipment_units": float(plan.lane_units[lane[i]]),
                    "trucks": float(plan.trucks[lane[i]]), "free_freight": bool(plan.free_freight[lane[i]]),
                    "units_added_to_fill": int(plan.added[i]), "units_trimmed": int(plan.trimmed[i])}
            out.append(replace(p, qty=qty, command=replace(p.command, qty=qty), provenance={**p.provenance, "consolidation": note},
                               value=round(p.value * qty / max(p.qty, 1), 2)))
        return out, plan

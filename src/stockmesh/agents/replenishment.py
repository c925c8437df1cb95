"""ReplenishmentAgent: turns per-row order quantities (from the policy numerics) into proposals.

It reads positions, forecasts and lead-time estimates *as arrays* (one row per SKU x site), lets
the planning numerics compute targets, and proposes a purchase order (row supplied by a supplier)
or a DC-to-store transfer (row supplied by a DC) for every row with a positive quantity, each
carrying its provenance. It proposes; it never writes to the ledger.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from stockmesh.domain.commands import Command, DispatchTransfer, PlacePurchaseOrder
from stockmesh.domain.proposals import Proposal, proposal_key


@dataclass(frozen=True, kw_only=True)
class ReplenishmentRows:
    """The rows the agent plans, as parallel arrays (names resolved to strings by the caller)."""

    sku: Sequence[str]
    site: Sequence[str]
    supplier: Sequence[str | None]  # the supplier of a row supplied by a supplier, else None
    source_site: Sequence[str | None]  # the DC of a row supplied by a DC, else None
    unit_cost: np.ndarray
    lead_time_days: np.ndarray


Explain = Callable[[int], dict[str, Any]]


class ReplenishmentAgent:
    name = "replenishment"

    def propose(self, rows: ReplenishmentRows, row_index: np.ndarray, order_quantity: np.ndarray, *,
                day_label: str, explain: Explain, policy_version: str | None = None,
                tempo: str = "deliberative", id_prefix: str = "",
                triggers: Mapping[int, str] | None = None) -> list[Proposal]:
        """One proposal per row of ``row_index`` whose ``order_quantity`` is positive.

        ``triggers`` maps a row to what made it urgent today (a projected stock-out within lead time,
        demand far above forecast: the InventoryAgent's reactive triggers): its proposal is then
        ``reactive`` (it wins conflicts over deliberative ones) and says why."""
        out: list[Proposal] = []
        positive = np.flatnonzero(order_quantity > 0)
        for position in positive:
            row = int(row_index[position])
            qty = int(order_quantity[position])
            sku, site = rows.sku[row], rows.site[row]
            supplier, source = rows.supplier[row], rows.source_site[row]
            proposal_id = f"{id_prefix}{day_label}-R{row}"
            provenance = {**explain(row), "lead_time_days": float(rows.lead_time_days[row]),
                          "policy_version": policy_version}
            value = round(qty * float(rows.unit_cost[row]), 2)
            command: Command
            if source is not None:
                command = DispatchTransfer(idempotency_key=proposal_key(proposal_id), transfer_id=f"TR-{proposal_id}",
                                           sku=sku, from_site=source, to_site=site, qty=qty)
                action, claims = "DispatchTransfer", (f"stock:{sku}@{source}",)
                reason = f"inventory position at or below reorder point; transfer {qty} from {source}"
            else:
                command = PlacePurchaseOrder(idempotency_key=proposal_key(proposal_id), po_id=f"PO-{proposal_id}",
                                             sku=sku, site=site, supplier=supplier, qty=qty)
                action, claims = "PlacePurchaseOrder", ()
                reason = f"inventory position at or below reorder point; order {qty} from {supplier}"
            trigger = triggers.get(row) if triggers else None
            out.append(Proposal(proposal_id=proposal_id, agent=self.name, action=action, sku=sku, site=site, qty=qty,
                                value=value, command=command, reasons=(reason,) if trigger is None else (trigger, reason),
                                provenance=provenance, tempo=tempo if trigger is None else "reactive", claims=claims))
        return out

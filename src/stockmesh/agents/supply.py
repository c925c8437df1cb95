"""SupplyChainAgent: learns lead times per supplier and lane from receipts, keeps a scorecard,
flags late orders and proposes expediting them.

Each receipt is one observation: the lane, the days from order to receipt, whether it came on
time (by the expected date) and in full. Estimates are shrunk towards the quoted lead time until a
lane has enough receipts of its own.

A late order (open past its expected day by more than the grace days) on a lane with an expedited
mode is a reactive proposal ``ExpeditePurchaseOrder`` when expediting pays for itself: a late
order is taken to be as late again as it already is (at least a day more), expediting shortens
that remainder by the mode's lead-time factor, and the lost sales it avoids (forecast demand over
the remainder beyond the stock on hand, capped by the order, at the unit margin) must exceed the
mode's extra cost (per unit over the standard mode, plus its cost per shipment). The proposal's
value is that extra cost; its provenance holds every input, the formula and the lane's scorecard.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from stockmesh.domain.commands import ExpeditePurchaseOrder
from stockmesh.domain.proposals import Proposal, proposal_key


@dataclass
class LaneStats:
    receipts: int = 0
    lead_time_sum: float = 0.0
    lead_time_sumsq: float = 0.0
    on_time: int = 0
    in_full: int = 0
    recent: list[float] = field(default_factory=list)  # last lead times, for the trend


@dataclass(frozen=True)
class Scorecard:
    lane: str
    receipts: int
    lead_time_mean: float
    lead_time_sd: float
    on_time_in_full: float
    trend_days: float  # recent mean minus overall mean: > 0 means getting slower


class SupplyChainAgent:
    name = "supply"

    def __init__(self, prior_receipts: float = 5.0, recent: int = 10) -> None:
        self.prior_receipts = prior_receipts
        self.recent = recent
        self.lanes: dict[str, LaneStats] = {}

    def observe_receipt(self, lane: str, lead_time_days: float, on_time: bool, in_full: bool) -> None:
        stats = self.lanes.setdefault(lane, LaneStats())
        stats.receipts += 1
        stats.lead_time_sum += lead_time_days
        stats.lead_time_sumsq += lead_time_days**2
        stats.on_time += on_time
        stats.in_full += in_full
        stats.recent.append(lead_time_days)
        del stats.recent[:-self.recent]

    def lead_time(self, lane: str, quoted_mean: float) -> tuple[float, float]:
        """(mean, sd) of the lane's lead time, shrunk towards ``quoted_mean`` while receipts are few."""
        stats = self.lanes.get(lane)
        if stats is None or stats.receipts == 0:
            return quoted_mean, 0.25 * quoted_mean
        n, k = stats.receipts, self.prior_receipts
        observed_mean = stats.lead_time_sum / n
        variance = max(stats.lead_time_sumsq / n - observed_mean**2, 0.0)
        mean = (n * observed_mean + k * quoted_mean) / (n + k)
        sd = float(np.sqrt((n * variance + k * (0.25 * quoted_mean) ** 2) / (n + k)))
        return float(mean), sd

    def scorecard(self) -> list[Scorecard]:
        return [card for lane in sorted(self.lanes) if (card := self.lane_scorecard(lane)) is not None]

    def lane_scorecard(self, lane: str) -> Scorecard | None:
        s = self.lanes.get(lane)
        if s is None or s.receipts == 0:
            return None
        mean = s.lead_time_sum / s.receipts
        sd = float(np.sqrt(max(s.lead_time_sumsq / s.receipts - mean**2, 0.0)))
        trend = float(np.mean(s.recent)) - mean if s.recent else 0.0
        return Scorecard(lane, s.receipts, mean, sd, min(s.on_time, s.in_full) / s.receipts, trend)

    def supplier_scorecard(self) -> list[Scorecard]:
        """The scorecard per source (supplier, or the DC of transfers): its lanes pooled. A lane is
        named ``SOURCE->SITE``; ``lane`` holds the source here."""
        pooled: dict[str, LaneStats] = {}
        for lane, s in self.lanes.items():
            source = lane.split("->", 1)[0]
            into = pooled.setdefault(source, LaneStats())
            into.receipts += s.receipts
            into.lead_time_sum += s.lead_time_sum
            into.lead_time_sumsq += s.lead_time_sumsq
            into.on_time += s.on_time
            into.in_full += s.in_full
            into.recent.extend(s.recent)
        agent = SupplyChainAgent(self.prior_receipts, recent=len(self.lanes) * self.recent)
        agent.lanes = pooled
        return agent.scorecard()

    def propose_expedites(self, late: Sequence[LateOrder], *, today: int, day_label: str,
                          date_of: Callable[[int], str], policy_version: str | None = None) -> list[Proposal]:
        """Reactive ``ExpeditePurchaseOrder`` proposals for the late orders worth expediting."""
        return _propose_expedites(self, late, today=today, day_label=day_label, date_of=date_of,
                                  policy_version=policy_version)

    @staticmethod
    def late_orders(expected_day: np.ndarray, today: int, open_qty: np.ndarray, grace_days: int = 1) -> np.ndarray:
        """Indices of open orders past their expected day by more than ``grace_days``."""
        return np.flatnonzero((open_qty > 0) & (today > expected_day + grace_days))


@dataclass(frozen=True, kw_only=True)
class LateOrder:
    """An open purchase order past its expected day, with what judging an expedite needs."""

    po_id: str
    sku: str
    site: str
    supplier: str
    lane: str
    qty: int
    placed_day: int
    expected_day: int
    on_hand: float  # the site's stock of the SKU today (this order not in it)
    daily_demand: float  # the forecast per day at the site
    unit_margin: float  # what a lost sale costs
    expedite_factor: float  # the expedited mode's share of the remaining lead time (0: no such mode)
    extra_cost_per_unit: float  # the expedited mode's cost per unit over the standard mode's
    cost_per_shipment: float  # the expedited mode's cost per shipment


EXPEDITE_FORMULA = ("expedite when margin x (shortage over the expected remaining delay R - shortage over "
                    "ceil(R x factor)) > qty x extra cost per unit + cost per shipment; R = max(days late, 1); "
                    "shortage(d) = min(max(demand x d - on hand, 0), qty)")


def expedite_economics(order: LateOrder, today: int) -> dict[str, float]:
    """The numbers behind an expedite decision (see the module docstring)."""
    days_late = today - order.expected_day
    remaining = float(max(days_late, 1))
    expedited = float(max(math.ceil(remaining * order.expedite_factor), 1)) if order.expedite_factor > 0 else remaining

    def shortage(days: float) -> float:
        return min(max(order.daily_demand * days - order.on_hand, 0.0), float(order.qty))

    avoided = max(shortage(remaining) - shortage(expedited), 0.0)
    extra = order.qty * order.extra_cost_per_unit + order.cost_per_shipment
    return {"days_late": float(days_late), "remaining_days": remaining, "expedited_remaining_days": expedited,
            "avoided_lost_units": avoided, "avoided_lost_sales_value": avoided * order.unit_margin,
            "extra_cost": extra}


def _propose_expedites(agent: SupplyChainAgent, late: Sequence[LateOrder], *, today: int, day_label: str,
                       date_of: Callable[[int], str], policy_version: str | None = None) -> list[Proposal]:
    out: list[Proposal] = []
    for order in late:
        if order.expedite_factor <= 0:
            continue
        numbers = expedite_economics(order, today)
        if numbers["avoided_lost_sales_value"] <= numbers["extra_cost"]:
            continue
        eta = date_of(today + int(numbers["expedited_remaining_days"]))
        reason = (f"{order.po_id} is {int(numbers['days_late'])} days late; expediting avoids about "
                  f"{numbers['avoided_lost_units']:.0f} lost sales ({numbers['avoided_lost_sales_value']:,.2f}) "
                  f"for {numbers['extra_cost']:,.2f} more transport")
        card = agent.lane_scorecard(order.lane)
        provenance = {
            "formula": EXPEDITE_FORMULA,
            "inputs": {"on_hand": order.on_hand, "daily_demand": order.daily_demand, "level": order.daily_demand,
                       "unit_margin": order.unit_margin, "qty": float(order.qty),
                       "placed_day": float(order.placed_day), "expected_day": float(order.expected_day),
                       "today": float(today)},
            "parameters": {"expedite_factor": order.expedite_factor,
                           "extra_cost_per_unit": order.extra_cost_per_unit,
                           "cost_per_shipment": order.cost_per_shipment},
            "result": numbers,
            "lane": order.lane, "supplier": order.supplier,
            "lane_scorecard": None if card is None else {
                "receipts": card.receipts, "lead_time_mean": card.lead_time_mean, "lead_time_sd": card.lead_time_sd,
                "on_time_in_full": card.on_time_in_full, "trend_days": card.trend_days},
            "policy_version": policy_version,
        }
        proposal_id = f"{day_label}-EXP-{order.po_id}"
        out.append(Proposal(
            proposal_id=proposal_id, agent=agent.name, action="ExpeditePurchaseOrder",
            sku=order.sku, site=order.site, qty=order.qty, value=round(numbers["extra_cost"], 2),
            command=ExpeditePurchaseOrder(idempotency_key=proposal_key(proposal_id), po_id=order.po_id,
                                          mode="expedited", expected_at=eta, reason=reason[:500]),
            reasons=(reason,), provenance=provenance, tempo="reactive"))
    return out

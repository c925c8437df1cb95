"""The twin run through the real agent loop and the ledger.

Each day the simulated world (the stand-in for WMS, ERP, POS and suppliers) reports what
physically happened: receipts of purchase orders and transfers, sales, expiries. A recorder writes
them to the ledger as commands. Then the agents decide: the policy numerics give per-row order
quantities, the AllocationAgent shares a short DC fairly, the ReplenishmentAgent turns quantities
into proposals with provenance, and the loop resolves conflicts, asks the governance gate and
executes approved proposals as ledger commands (``PlacePurchaseOrder``, ``DispatchTransfer``).
Only what the ledger executed is handed back to the world, so the world and the ledger hold the
same stock at every step (a test checks it row by row). The AuditAgent records each order's
outcome (received quantity, lead time) on its proposal when it arrives.

The SupplyChainAgent learns each lane's lead times from the receipts and watches the open
purchase orders: one still open more than a grace day past its expected day (placement plus the
lead time the deciding policy expected, supplier notices included) is flagged late, and on a lane
with an expedited mode it may become a reactive ``ExpeditePurchaseOrder`` proposal, reviewed and
executed like any other; what the ledger executed is handed to the world, which ships the rest of
that order's journey by the faster mode (``SimulatedWorld.expedite_in_flight``).
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from stockmesh.adapters.simulated.spec import WorldSpec
from stockmesh.adapters.simulated.world import Observation, SimulatedWorld
from stockmesh.agents.allocation import AllocationAgent
from stockmesh.agents.inventory import InventoryAgent
from stockmesh.agents.rebalancing import RebalancingAgent
from stockmesh.agents.replenishment import ReplenishmentAgent, ReplenishmentRows
from stockmesh.agents.supply import LateOrder, SupplyChainAgent
from stockmesh.domain.clock import ManualClock
from stockmesh.domain.commands import (
    AdjustStock,
    Command,
    DispatchTransfer,
    ExpeditePurchaseOrder,
    PlacePurchaseOrder,
    ReceivePurchaseOrder,
    ReceiveTransfer,
    RecordSales,
    parse_command,
)
from stockmesh.domain.proposals import Proposal, ProposalOutcomeRecorded
from stockmesh.governance.gate import ReviewContext
from stockmesh.governance.policy import PolicyDocument
from stockmesh.ledger.port import EventStore
from stockmesh.service.execute import Fact, execute
from stockmesh.service.loop import CycleReport, Gate, approve_and_execute, run_cycle
from stockmesh.service.loop_gates import PolicyGate
from stockmesh.simulation.policies.base import Decision, Policy


def _document(command: Command) -> tuple[str, str]:
    """The order a proposal's command places or acts on: ("po", its id) or ("transfer", its id)."""
    if isinstance(command, PlacePurchaseOrder | ExpeditePurchaseOrder):
        return "po", command.po_id
    if isinstance(command, DispatchTransfer):
        return "transfer", command.transfer_id
    raise TypeError(f"{command.name} names no order")


@dataclass
class _Order:
    kind: str  # "po" | "transfer"
    doc_id: str
    proposal_id: str
    row: int
    qty: int
    placed_day: int
    arrival_day: int
    lane: str
    expected_day: int = 0  # what the ordering agent expected (the world's arrival_day is hidden from it)
    expedited: bool = False


@dataclass
class LedgerRunStats:
    proposals: int = 0
    approved: int = 0
    queued: int = 0
    approved_by_planner: int = 0
    rejected: int = 0
    superseded: int = 0
    failed: int = 0
    executed: int = 0
    reactive: int = 0  # replenishment proposals made urgent by the InventoryAgent's triggers
    late_orders: int = 0  # purchase orders flagged late by the SupplyChainAgent
    expedited: int = 0  # late orders expedited through the ledger
    commands: int = 0
    events_before: int = 0
    events_after: int = 0
    failures: list[str] = field(default_factory=list)


class LedgerTwin:
    """Drives one ``SimulatedWorld`` with ``policy`` through the agent loop onto ``store``."""

    def __init__(self, spec: WorldSpec, policy: Policy, store: EventStore, gate: Gate | PolicyDocument, *,
                 planner_approves: bool = True, run_id: str = "run", spotlight_row: int | None = None,
                 allocation: AllocationAgent | None = None, rebalancing: RebalancingAgent | None = None) -> None:
        self.spec = spec
        self.policy = policy
        self.store = store
        # a policy document is reviewed by the governance guardrails with the twin's own context
        self.policy_document = gate if isinstance(gate, PolicyDocument) else None
        self.gate: Gate = PolicyGate(gate, self._context) if isinstance(gate, PolicyDocument) else gate
        self.clock = ManualClock(dt.datetime(2024, 1, 1, tzinfo=dt.UTC))  # the simulated day's noon
        self._last_order: dict[tuple[str, str], int] = {}
        self._spent: dict[tuple[str, str, str], float] = defaultdict(float)  # (kind, who, month) -> value
        self._executed_count: dict[tuple[str, str, str, str], int] = defaultdict(int)
        self.planner_approves = planner_approves
        # None: a short DC is shared by the legacy fair share (proportional to requests); an agent
        # (e.g. AllocationAgent("lp")) shares it by its method, from the stores' forecasts
        self.allocation = allocation
        # an agent: lateral transfers between stores, proposed through the gate like any order
        self.rebalancing = rebalancing
        self.run_id = run_id
        self.world = SimulatedWorld(spec)
        self.stats = LedgerRunStats()
        self.supply = SupplyChainAgent()
        self.replenishment = ReplenishmentAgent()
        self.decisions: dict[str, dict[str, Any]] = {}
        n = spec.n_rows
        self.sku = [spec.sku_ids[i] for i in spec.row_sku]
        self._sku_names = np.array(self.sku, dtype=object)  # for a day's sales lines in one go
        self.site = [spec.site_ids[i] for i in spec.row_site]
        self.supplier = [spec.supplier_ids[s] if s >= 0 else None for s in spec.row_supplier]
        self.source = [self.site[p] if p >= 0 else None for p in spec.row_parent]
        self.lane_name = [f"{self.supplier[r] or self.source[r]}->{self.site[r]}" for r in range(n)]
        self.rows = ReplenishmentRows(sku=self.sku, site=self.site, supplier=self.supplier, source_site=self.source,
                                      unit_cost=spec.unit_cost, lead_time_days=spec.lane_lead_time_mean[spec.row_lane])
        self.book: dict[int, list[_Order]] = defaultdict(list)  # arrival day -> orders
        self.open_orders: dict[str, _Order] = {}  # purchase orders not yet received, by id
        self._turns_late: dict[int, list[_Order]] = defaultdict(list)  # day an order turns late -> orders
        self.late: dict[str, _Order] = {}  # open purchase orders past their expected day (+ grace)
        self.late_grace_days = 1
        self._expediting = bool((self.world.expedite_factor > 0).any())
        self._last_sold = np.zeros(n, dtype=np.int64)
        self._sold_today = np.zeros(n, dtype=np.int64)
        self._last_expired = np.zeros(n, dtype=np.int64)
        self._flushed_day = -1
        self._keys = 0
        self.spotlight_row = spotlight_row
        self.spotlight: dict[str, list[float]] = defaultdict(list)
        self.dates = [spec_start(spec) + dt.timedelta(days=d - spec.history_days) for d in range(spec.n_days + 1)]

    # ------------------------------------------------------------------------------ recording
    def _key(self, label: str) -> str:
        self._keys += 1
        return f"{self.run_id}:{label}:{self._keys}"

    def _iso(self, day: int) -> str:
        return f"{self.dates[day].isoformat()}T12:00:00+00:00"  # normalised as parse_instant would

    def setup(self) -> None:
        """Register SKUs and sites, and receive the opening stock."""
        spec = self.spec
        commands: list[dict[str, Any]] = []
        for s, sku in enumerate(spec.sku_ids):
            rows = np.flatnonzero(spec.row_sku == s)
            commands.append({"command": "RegisterSku", "sku": sku, "unit_cost": round(float(spec.unit_cost[rows[0]]), 4),
                             "pack_size": int(spec.pack_size[rows[0]])})
        for supplier in spec.supplier_ids:
            commands.append({"command": "RegisterSite", "site": supplier, "kind": "supplier"})
        for s, site in enumerate(spec.site_ids):
            commands.append({"command": "RegisterSite", "site": site, "kind": "store" if spec.site_is_store[s] else "dc"})
        day = self.world.day
        for row in np.flatnonzero(spec.initial_on_hand > 0):
            commands.append({"command": "ReceiveStock", "sku": self.sku[row], "site": self.site[row],
                             "qty": int(spec.initial_on_hand[row]), "occurred_at": self._iso(day)})
        self.stats.events_before = self.store.count_events()
        self._execute([parse_command({**c, "idempotency_key": self._key("setup")}) for c in commands])
        if self.policy_document is not None:
            self._publish_policy(self.policy_document, self._iso(day))

    def _publish_policy(self, doc: PolicyDocument, when: str) -> None:
        """The run's policy version is published and activated in the ledger, as an operator would."""
        from stockmesh.governance.decisions import activate_policy, publish_policy
        from stockmesh.governance.state import GovernanceView

        view = GovernanceView(self.store)
        emitted = publish_policy(view.refresh(), doc, by="twin")
        self._execute([], [Fact(stream, event, {"source": "twin"}, when) for stream, event in emitted])
        record = view.refresh().policies.get(doc.name)
        if record is None or record.active != doc.version:
            emitted = activate_policy(view.refresh(), doc.name, doc.version, by="twin", reason="policy of the twin run")
            self._execute([], [Fact(stream, event, {"source": "twin"}, when) for stream, event in emitted])

    def _execute(self, commands: list[Command], facts: list[Fact] | None = None) -> None:
        if not commands and not facts:
            return
        execute(self.store, commands, facts=facts or (), metadata={"source": "twin", "run": self.run_id})
        self.stats.commands += len(commands)

    def _record_physical_day(self, day: int) -> None:
        """Receipts, sales and expiries of ``day`` as the world reports them, before any decision."""
        totals = self.world.totals
        when = self._iso(day)
        commands: list[Command] = []
        facts: list[Fact] = []
        # The world's reports are built as commands directly: their ids are the registered ones and
        # their quantities positive integers by construction; the ledger still checks every rule.
        for order in self.book.pop(day, []):
            self.open_orders.pop(order.doc_id, None)
            self.late.pop(order.doc_id, None)
            key = f"{self.run_id}:receipt:{order.doc_id}"
            commands.append(
                ReceivePurchaseOrder(idempotency_key=key, po_id=order.doc_id, qty=order.qty, occurred_at=when)
                if order.kind == "po" else
                ReceiveTransfer(idempotency_key=key, transfer_id=order.doc_id, qty=order.qty, occurred_at=when))
            lead_time = day - order.placed_day
            self.supply.observe_receipt(order.lane, lead_time, on_time=day <= order.expected_day, in_full=True)
            facts.append(Fact(f"proposal:{order.proposal_id}", ProposalOutcomeRecorded(outcome={
                "received_qty": order.qty, "received_at": when, "lead_time_days": lead_time,
                "document": order.doc_id}), {"source": "audit"}, when))
        sold = totals.flow_sold - self._last_sold
        self._last_sold = totals.flow_sold.copy()
        self._sold_today = sold
        # a store's sales of the day arrive as one batch, as a POS end-of-day export would
        sold_rows = np.flatnonzero(sold)
        spec = self.spec
        sold_sites = spec.row_site[sold_rows]
        for site_index in np.unique(sold_sites):
            rows = sold_rows[sold_sites == site_index]
            site = spec.site_ids[site_index]
            lines = tuple(zip(self._sku_names[rows].tolist(), sold[rows].tolist(), strict=True))
            commands.append(RecordSales(idempotency_key=f"{self.run_id}:sales:{day}:{site}", site=site,
                                        lines=lines, occurred_at=when))
        expired = totals.flow_expired - self._last_expired
        self._last_expired = totals.flow_expired.copy()
        for row in np.flatnonzero(expired):
            commands.append(AdjustStock(idempotency_key=f"{self.run_id}:expiry:{day}:{row}", sku=self.sku[row],
                                        site=self.site[row], delta=-int(expired[row]),
                                        reason="expired: shelf life reached", occurred_at=when))
        self._execute(commands, facts)

    # ------------------------------------------------------------------------------ deciding
    def _feasible(self, rows: np.ndarray, quantity: np.ndarray, decision: Decision | None = None) -> np.ndarray:
        """What the world can really ship: whole packs, a short DC shared fairly, lane capacity."""
        spec, world = self.spec, self.world
        pack = spec.pack_size[rows]
        quantity = (np.ceil(np.maximum(quantity, 0) / pack) * pack).astype(np.int64)
        from_dc = spec.row_parent[rows] >= 0
        if from_dc.any() and self.allocation is not None and decision is not None:
            quantity[from_dc] = self._allocate(rows, quantity, from_dc, decision)
        elif from_dc.any():
            parents = spec.row_parent[rows[from_dc]]
            quantity[from_dc] = AllocationAgent.fair_share(quantity[from_dc], parents, world.on_hand.astype(np.float64))
        quantity = world.within_lane_capacity(rows, quantity)
        return ((quantity // pack) * pack).astype(np.int64)

    def _allocate(self, rows: np.ndarray, quantity: np.ndarray, from_dc: np.ndarray, decision: Decision) -> np.ndarray:
        """A short DC shared by the allocation agent from the stores' forecasts over lead time + a week."""
        assert self.allocation is not None
        spec, world = self.spec, self.world
        chosen = rows[from_dc]
        position = np.flatnonzero(from_dc)

        def inputs(name: str, default: float) -> np.ndarray:
            value = np.broadcast_to(np.asarray(decision.inputs.get(name, default), dtype=np.float64), rows.shape)
            return value[position]

        horizon = inputs("lead_time_mean", 1.0) + 7.0
        level = inputs("level", 0.0)
        variance = np.maximum(inputs("daily_variance", 0.0), level)
        return self.allocation.share(
            quantity[from_dc], spec.row_parent[chosen], world.on_hand.astype(np.float64),
            position=(world.on_hand + world.on_order - world.backlog)[chosen].astype(np.float64),
            demand_mean=level * horizon, demand_sd=np.sqrt(variance * horizon),
            shortage_cost=spec.lost_sale_penalty[chosen], pack_size=spec.pack_size[chosen])

    def decide(self, observation: Observation, rows: np.ndarray) -> np.ndarray:
        day = observation.day
        if day != self._flushed_day:
            self._record_physical_day(day)
            self._flushed_day = day
        decision: Decision = self.policy.decide(observation, rows)
        if self.rebalancing is not None:
            decision = self._rebalance(observation, rows, decision)
        self._flag_late(day)
        if self._expediting and self.late:
            self._expedite(observation, rows, decision)
        if self.spotlight_row is not None and day >= self.spec.first_measured_day:
            self._watch(observation, decision)
        quantity = self._feasible(rows, decision.order_quantity, decision)
        label = f"{self.run_id}-D{day:04d}"
        self.clock.set(dt.datetime.combine(self.dates[day], dt.time(12), dt.UTC))
        proposals = self.replenishment.propose(self.rows, rows, quantity, day_label=label, explain=decision.explain,
                                               policy_version=f"{decision.policy}-v1",
                                               triggers=self._triggers(observation, rows, decision, quantity))
        self.stats.reactive += sum(p.tempo == "reactive" for p in proposals)
        report = run_cycle(self.store, proposals, self.gate, occurred_at=self._iso(day),
                           metadata={"source": "agents", "run": self.run_id})
        executed = list(report.executed)
        if report.waiting and self.planner_approves:
            # the simulated planner reviews the queue the same day and approves it
            late = approve_and_execute(self.store, report.waiting, by="sim-planner", reason="reviewed in the twin",
                                       occurred_at=self._iso(day), metadata={"source": "planner", "run": self.run_id})
            executed += late.executed
            self.stats.approved_by_planner += len(late.executed)
        self._account(report)
        self._remember(executed)
        out = np.zeros(rows.shape[0], dtype=np.int64)
        position = {int(r): i for i, r in enumerate(rows)}
        lead_times = self.spec.lead_time_draw[day]
        for p in executed:
            row = int(p.proposal_id.rsplit("-R", 1)[1])
            out[position[row]] = p.qty
            kind, doc = _document(p.command)
            arrival = day + int(lead_times[row])
            expected = p.provenance.get("inputs", {}).get("lead_time_mean", self.rows.lead_time_days[row])
            order = _Order(kind, doc, p.proposal_id, row, p.qty, day, arrival, self.lane_name[row],
                           expected_day=day + math.ceil(float(expected)))
            self.book[arrival].append(order)
            if kind == "po":
                self.open_orders[doc] = order
                self._turns_late[order.expected_day + self.late_grace_days + 1].append(order)
        return out

    def _triggers(self, observation: Observation, rows: np.ndarray, decision: Decision,
                  quantity: np.ndarray) -> dict[int, str]:
        """The InventoryAgent's reactive triggers among today's orders: a projected stock-out within
        the lead time, or today's sales far above the forecast. Their proposals are reactive."""
        ordering = np.flatnonzero(quantity > 0)
        if ordering.size == 0 or "level" not in decision.inputs:
            return {}
        chosen = rows[ordering]

        def column(name: str, default: float | np.ndarray) -> np.ndarray:
            value = decision.inputs.get(name, default)
            return np.broadcast_to(np.asarray(value, dtype=np.float64), rows.shape)[ordering]

        promoted = observation.promotion_active[observation.day, chosen]  # the calendar is an input
        mean = column("level", 0.0) * np.where(promoted, np.nan_to_num(column("promotion_uplift", 1.0), nan=1.0), 1.0)
        sd = np.sqrt(np.maximum(column("daily_variance", 0.0), 0.0))
        lead_time = column("lead_time_mean", self.rows.lead_time_days[rows])
        position = observation.inventory_position[chosen].astype(np.float64)
        risk = InventoryAgent.projected_stockouts(position, mean, lead_time)
        out: dict[int, str] = {}
        for i, cover in zip(risk.rows.tolist(), risk.days_of_cover.tolist(), strict=True):
            out[int(chosen[i])] = (f"projected stock-out within the lead time: the position covers {cover:.1f} days "
                                   f"of forecast demand, the lead time is {lead_time[i]:.1f} days")
        for i in InventoryAgent.demand_spikes(self._sold_today[chosen].astype(np.float64), mean, sd).tolist():
            out.setdefault(int(chosen[i]), f"demand spike: {int(self._sold_today[chosen[i]])} sold today against a "
                                           f"forecast of {mean[i]:.1f}")
        return out

    # ------------------------------------------------------------------------------ late orders
    def _flag_late(self, day: int) -> None:
        """Open purchase orders that turn late today (the SupplyChainAgent's flag)."""
        for order in self._turns_late.pop(day, ()):
            if order.doc_id in self.open_orders:
                self.late[order.doc_id] = order
                self.stats.late_orders += 1

    def _expedite(self, observation: Observation, rows: np.ndarray, decision: Decision) -> None:
        """Late orders of these rows worth expediting, as reactive proposals through the gate."""
        spec, world, day = self.spec, self.world, observation.day
        deciding = set(rows.tolist())
        late: list[LateOrder] = []
        for order in self.late.values():
            if order.expedited or order.row not in deciding:
                continue
            row, lane = order.row, int(spec.row_lane[order.row])
            inputs = decision.explain(row)["inputs"]
            assert isinstance(inputs, dict)
            demand = float(inputs.get("level", 0.0)) * float(inputs.get("promotion_uplift") or 1.0)
            late.append(LateOrder(
                po_id=order.doc_id, sku=self.sku[row], site=self.site[row], supplier=self.supplier[row] or "",
                lane=order.lane, qty=order.qty, placed_day=order.placed_day, expected_day=order.expected_day,
                on_hand=float(observation.on_hand[row]), daily_demand=demand,
                unit_margin=float(spec.lost_sale_penalty[row]), expedite_factor=float(world.expedite_factor[lane]),
                extra_cost_per_unit=max(float(world.expedite_cost_per_unit[lane] - spec.lane_cost_per_unit[lane]), 0.0),
                cost_per_shipment=float(world.expedite_cost_per_shipment[lane])))
        proposals = self.supply.propose_expedites(late, today=day, day_label=f"{self.run_id}-D{day:04d}",
                                                  date_of=lambda d: self._iso(min(d, len(self.dates) - 1)),
                                                  policy_version=f"{decision.policy}-v1")
        if not proposals:
            return
        self.clock.set(dt.datetime.combine(self.dates[day], dt.time(12), dt.UTC))
        report = run_cycle(self.store, proposals, self.gate, occurred_at=self._iso(day),
                           metadata={"source": "agents", "run": self.run_id})
        executed = list(report.executed)
        if report.waiting and self.planner_approves:
            late_approved = approve_and_execute(self.store, report.waiting, by="sim-planner",
                                                reason="reviewed in the twin", occurred_at=self._iso(day),
                                                metadata={"source": "planner", "run": self.run_id})
            executed += late_approved.executed
            self.stats.approved_by_planner += len(late_approved.executed)
        self._account(report)
        self._remember(executed)
        for p in executed:
            order = self.open_orders[_document(p.command)[1]]
            arrival = world.expedite_in_flight(order.row, order.arrival_day, order.qty)
            if arrival != order.arrival_day:
                self.book[order.arrival_day].remove(order)
                self.book[arrival].append(order)
                order.arrival_day = arrival
            order.expedited = True
            self.late.pop(order.doc_id, None)
            self.stats.expedited += 1

    def _rebalance(self, observation: Observation, rows: np.ndarray, decision: Decision) -> Decision:
        """RebalancingAgent proposals through the gate; what the ledger dispatched moves in the world too."""
        from stockmesh.simulation.policies.transshipping import rebalancing_problem, reorder_after_transfers

        assert self.rebalancing is not None
        planned = rebalancing_problem(observation, rows, decision)
        if planned is None:
            return decision
        chosen, problem = planned
        result = self.rebalancing.plan(problem)
        local = rows[chosen]
        day = observation.day
        proposals = self.rebalancing.propose(result, sku=[self.sku[r] for r in local],
                                             site=[self.site[r] for r in local], unit_cost=self.spec.unit_cost[local],
                                             label=f"{self.run_id}-D{day:04d}-RB")
        if not proposals:
            return decision
        report = run_cycle(self.store, proposals, self.gate, occurred_at=self._iso(day),
                           metadata={"source": "agents", "run": self.run_id})
        executed = list(report.executed)
        if report.waiting and self.planner_approves:
            executed += approve_and_execute(self.store, report.waiting, by="sim-planner", reason="reviewed in the twin",
                                            occurred_at=self._iso(day),
                                            metadata={"source": "planner", "run": self.run_id}).executed
        self._account(report)
        transfer = {f"{self.run_id}-D{day:04d}-RB-T{int(chosen_from)}-{int(chosen_to)}": i
                    for i, (chosen_from, chosen_to) in enumerate(zip(result.transfers.from_row, result.transfers.to_row,
                                                                     strict=True))}
        moved = np.zeros(rows.size, dtype=np.int64)
        for p in executed:
            i = transfer[p.proposal_id]
            donor, receiver = int(chosen[result.transfers.from_row[i]]), int(chosen[result.transfers.to_row[i]])
            lane = int(result.transfers.lane[i])
            shipped = int(self.world.transship(np.array([lane]), rows[[donor]], rows[[receiver]], np.array([p.qty]))[0])
            if shipped != p.qty:  # the plan respects lane capacity and the ledger the donor's stock
                raise RuntimeError(f"the world shipped {shipped} of transfer {_document(p.command)[1]} ({p.qty})")
            arrival = day + max(int(self.spec.lateral_transit_draw[day, lane]), 1)
            self.book[arrival].append(_Order(*_document(p.command), p.proposal_id, int(rows[receiver]),
                                             p.qty, day, arrival, f"{self.site[rows[donor]]}->{self.site[rows[receiver]]}"))
            moved[receiver] += p.qty
            moved[donor] -= p.qty
        return reorder_after_transfers(observation, rows, decision, moved, decision.policy) if moved.any() else decision

    def _watch(self, observation: Observation, decision: Decision) -> None:
        row = self.spotlight_row
        if row is None or row not in decision.rows:
            return
        why = decision.explain(row)
        inputs = why["inputs"]
        assert isinstance(inputs, dict)
        mean = float(inputs.get("level", 0.0)) * float(inputs.get("promotion_uplift", 1.0) or 1.0)
        sd = float(inputs.get("daily_variance", 0.0)) ** 0.5
        watch = self.spotlight
        watch["demand"].append(float(self.spec.demand[observation.day, row]))
        watch["on_hand"].append(float(observation.on_hand[row]))
        watch["forecast"].append(mean)
        watch["forecast_p10"].append(max(mean - 1.2816 * sd, 0.0))
        watch["forecast_p90"].append(mean + 1.2816 * sd)
        watch["reorder_point"].append(float(why["reorder_point"]))  # type: ignore[arg-type]
        watch["order"].append(float(why["order_quantity"]))  # type: ignore[arg-type]

    def _context(self, p: Proposal) -> ReviewContext:
        """What the guardrails need, as a deployment would know it: the agent's own forecast (from the
        proposal's provenance), the last order, money committed this month, fresh data (the world
        reports every day), and how often this kind of order has been executed before."""
        inputs = p.provenance.get("inputs", {})
        level = inputs.get("level")
        mean = None if level is None else float(level) * float(inputs.get("promotion_uplift") or 1.0)
        variance = inputs.get("daily_variance")
        month = self.clock.now().strftime("%Y-%m")
        supplier = getattr(p.command, "supplier", None)
        return ReviewContext(
            now=self.clock.now(), forecast_mean=mean, forecast_sd=None if variance is None else float(variance) ** 0.5,
            last_order_qty=self._last_order.get((p.sku, p.site)),
            spent_by_supplier={supplier: self._spent[("supplier", supplier, month)]} if supplier else {},
            spent_by_site={p.site: self._spent[("site", p.site, month)]},
            data_age_hours={site: 0.0 for site in self.spec.site_ids},
            prior_executed=self._executed_count[(p.agent, p.action, p.sku, p.site)],
            blast_radius=len({p.site, getattr(p.command, "from_site", p.site)}))

    def _remember(self, executed: list[Proposal]) -> None:
        month = self.clock.now().strftime("%Y-%m")
        for p in executed:
            self._last_order[(p.sku, p.site)] = p.qty
            if p.action == "DispatchTransfer":
                continue  # moves stock between our sites: no money committed
            self._spent[("site", p.site, month)] += p.value
            if supplier := getattr(p.command, "supplier", None):
                self._spent[("supplier", supplier, month)] += p.value
            self._executed_count[(p.agent, p.action, p.sku, p.site)] += 1

    def _account(self, report: CycleReport) -> None:
        s = self.stats
        s.proposals += report.made
        s.approved += report.approved
        s.queued += report.queued
        s.rejected += report.rejected
        s.superseded += report.superseded
        s.failed += len(report.failed)
        s.executed += len(report.executed)
        s.failures.extend(error for _, error in report.failed[:3])

    def run(self, on_day: Callable[[int], None] | None = None) -> SimulatedWorld:
        self.setup()
        self.world.run(self.decide, on_day)
        # every day's receipts, sales and expiries were recorded before that day's decisions;
        # orders due after the horizon stay on order, as they do in the world
        self.stats.events_after = self.store.count_events()
        return self.world


def spec_start(spec: WorldSpec) -> dt.date:
    dates = spec.meta.get("dates") if isinstance(getattr(spec, "meta", None), dict) else None
    if dates:
        return dates[spec.history_days]  # type: ignore[no-any-return]
    return dt.date(2024, 1, 1)

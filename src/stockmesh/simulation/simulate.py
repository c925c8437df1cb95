"""Run a policy through the simulated world and report its KPIs."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from stockmesh.adapters.simulated.spec import WorldSpec
from stockmesh.adapters.simulated.world import Observation, SimulatedWorld
from stockmesh.simulation.policies.base import Decision, Policy
from stockmesh.simulation.policy_choice import PolicyChoice, parse_policy


def make_policy(choice: PolicyChoice | str, spec: WorldSpec) -> Policy:
    """The policy ``choice`` names (a name is parsed first); the oracle and hindsight get the
    world's truth, the others do not."""
    if isinstance(choice, str):
        choice = parse_policy(choice)
    if choice.baseline is not None:
        return _baseline(choice.baseline, spec)
    config = choice.agents
    from stockmesh.simulation.policies import consolidating

    if config.own_shipment:
        return consolidating.AgentsOwnShipment()
    if config.consolidation:
        return consolidating.JointReplenishment()
    if config.expediting:
        return consolidating.AgentsWithExpediting()
    if config.rebalancing:
        from stockmesh.simulation.policies.transshipping import AgentsWithRebalancing

        return AgentsWithRebalancing()
    if config.allocation == "horizon-lp":
        from stockmesh.simulation.policies.allocating import AgentsWithHorizonAllocation

        return AgentsWithHorizonAllocation()
    if config.allocation is not None:
        from stockmesh.simulation.policies.allocating import AgentsWithAllocation

        return AgentsWithAllocation(config.allocation)
    from stockmesh.simulation.policies.agents import AgentsPolicy

    return AgentsPolicy()


def _baseline(name: str, spec: WorldSpec) -> Policy:
    if name == "minmax":
        from stockmesh.simulation.policies.baselines import MinMax

        return MinMax()
    if name == "reorder-level":
        from stockmesh.simulation.policies.baselines import ReorderLevel

        return ReorderLevel(warmup_days=spec.warmup_days)
    if name == "oracle":
        from stockmesh.simulation.policies.oracle import Oracle

        return Oracle(spec)
    from stockmesh.simulation.policies.hindsight import search

    return search(spec)


@dataclass
class RunResult:
    """KPIs of one run, the world it ran in (for series and totals) and, if asked, its decisions."""

    scenario: str
    policy: str
    seed: int
    kpis: dict[str, Any]
    world: SimulatedWorld
    elapsed_seconds: float
    decisions: list[tuple[int, Decision]] = field(default_factory=list)

    @property
    def row_days(self) -> int:
        spec = self.world.spec
        return spec.n_rows * (spec.warmup_days + spec.measured_days)

    def explain(self, day: int, row: int) -> dict[str, object]:
        """Why ``row`` ordered on ``day`` (needs ``record_decisions=True``)."""
        for decision_day, decision in self.decisions:
            if decision_day == day and row in decision.rows:
                return decision.explain(row)
        raise KeyError(f"no recorded decision for row {row} on day {day}")

    def headline(self) -> dict[str, Any]:
        keys = ("fill_rate", "cycle_service_level", "lost_sales_units", "stockout_days", "holding_cost",
                "ordering_cost", "transport_cost", "stockout_cost", "expiry_cost", "total_cost", "avg_on_hand",
                "turns", "expired_units", "bullwhip")
        return {"scenario": self.scenario, "policy": self.policy, "seed": self.seed,
                **{key: self.kpis[key] for key in keys}}


def simulate(spec: WorldSpec, policy: PolicyChoice | str | Policy, *, on_day: Callable[[int], None] | None = None,
             record_decisions: bool = False) -> RunResult:
    """Run ``policy`` (a choice, a name, or a policy object) over ``spec`` from the first decision
    day to the end."""
    from stockmesh.simulation.kpis import compute_kpis

    started = time.perf_counter()
    chosen = make_policy(policy, spec) if isinstance(policy, PolicyChoice | str) else policy
    decisions: list[tuple[int, Decision]] = []

    def decide(observation: Observation, rows: np.ndarray) -> np.ndarray:
        decision = chosen.decide(observation, rows)
        if record_decisions and decision.order_quantity.any():
            decisions.append((observation.day, decision))
        return decision.order_quantity

    world = SimulatedWorld(spec)
    world.run(decide, on_day)
    kpis = compute_kpis(world)
    return RunResult(scenario=spec.name, policy=chosen.name, seed=spec.seed, kpis=kpis, world=world,
                     elapsed_seconds=time.perf_counter() - started, decisions=decisions)

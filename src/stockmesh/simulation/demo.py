"""The main job: a simulated network run by the agents through the ledger, against the baselines.

The baselines run in the array twin (they are what people use today); the agents run through
the whole loop: proposals, governance, ledger commands. Afterwards the ledger is verified (read
models rebuilt and compared, hash chain checked, every executed order explained) and an HTML
report is written.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from stockmesh.ledger.chain import verify_chain
from stockmesh.ledger.port import EventStore
from stockmesh.projections.runner import catch_up, verify
from stockmesh.service.loop_gates import MinimalGate
from stockmesh.simulation.build import build_world
from stockmesh.simulation.kpis import compute_kpis
from stockmesh.simulation.ledger_twin import LedgerTwin
from stockmesh.simulation.policy_choice import PolicyChoice
from stockmesh.simulation.scenario import load_scenario
from stockmesh.simulation.simulate import make_policy, simulate

BASELINES = ("minmax", "reorder-level", "oracle")
KPI_KEYS = ("fill_rate", "cycle_service_level", "lost_sales_units", "holding_cost", "ordering_cost", "transport_cost",
            "stockout_cost", "total_cost", "avg_on_hand", "turns", "expired_units")


@dataclass
class DemoResult:
    scenario: str
    seed: int
    kpis: dict[str, dict[str, Any]]
    agents_world: Any
    twin: LedgerTwin
    checks: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    report_path: Path | None = None


Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class DemoPlan:
    """The demo's inputs, read and checked: nothing is written before all of them are valid."""

    scenario: Any
    spec: Any
    gate: Any


def plan_demo(scenario_path: Path, *, seed: int | None = None,
              policy_path: Path | None = Path("policies/default.yaml"), max_auto_value: float = 5_000.0,
              report_dir: Path | None = None) -> DemoPlan:
    """Read and check every input of a demo run (``InvalidInput`` naming the option otherwise)."""
    from stockmesh.domain.errors import InvalidInput

    if not math.isfinite(max_auto_value) or max_auto_value < 0:
        raise InvalidInput(f"must be a number, zero or more, got {max_auto_value}", field="max-auto-value")
    if report_dir is not None and report_dir.exists() and not report_dir.is_dir():
        raise InvalidInput(f"{report_dir} is not a folder", field="report-dir")
    scenario = load_scenario(scenario_path)
    if seed is not None and seed < 0:
        raise InvalidInput(f"must be zero or more, got {seed}", field="seed")
    spec = build_world(scenario, seed)
    gate: Any = MinimalGate(max_auto_value=max_auto_value)
    if policy_path is not None:
        from stockmesh.governance.policy import load_policy_text

        try:
            text = policy_path.read_bytes()
        except OSError as exc:
            raise InvalidInput(f"cannot read {policy_path}: {exc.strerror} (run from the repository root, or "
                               "pass --policy FILE, or --policy none for the minimal gate)", field="policy") from exc
        try:
            gate = load_policy_text(text)
        except InvalidInput as exc:
            raise InvalidInput(f"{policy_path}: {exc}", field="policy") from exc
    return DemoPlan(scenario, spec, gate)


def run_demo(scenario_path: Path | DemoPlan, store: EventStore, *, seed: int | None = None,
             policy_path: Path | None = Path("policies/default.yaml"), max_auto_value: float = 5_000.0,
             progress: Progress | None = None) -> DemoResult:
    """``policy_path``: the governance policy the agents' proposals are reviewed under; without one,
    a minimal gate queues orders above ``max_auto_value``. Queued proposals are approved the same day
    by a simulated planner, so every verdict shows in the ledger without stalling the run. A
    ``DemoPlan`` (from ``plan_demo``) stands for the scenario, seed, policy and value. The caller
    writes the report of the result (``report.write_report``) and sets ``report_path``."""
    plan = scenario_path if isinstance(scenario_path, DemoPlan) else plan_demo(
        scenario_path, seed=seed, policy_path=policy_path, max_auto_value=max_auto_value)
    scenario, spec = plan.scenario, plan.spec
    kpis: dict[str, dict[str, Any]] = {}
    timings: dict[str, float] = {}
    for name in BASELINES:
        started = time.perf_counter()
        result = simulate(spec, PolicyChoice(baseline=name), on_day=(lambda d, n=name: progress(n, d, spec.n_days)) if progress else None)
        kpis[name] = result.kpis
        timings[name] = time.perf_counter() - started
    stores = np.flatnonzero(spec.row_echelon == 0)
    measured = spec.demand[spec.first_measured_day:, stores].sum(axis=0)
    spotlight = int(stores[int(np.argmax(measured))])
    twin = LedgerTwin(spec, make_policy(PolicyChoice(), spec), store, plan.gate, run_id=f"{spec.name}-s{spec.seed}",
                      spotlight_row=spotlight)
    started = time.perf_counter()
    world = twin.run((lambda d: progress("agents", d, spec.n_days)) if progress else None)
    timings["agents"] = time.perf_counter() - started
    kpis["agents"] = compute_kpis(world)
    started = time.perf_counter()
    if progress:
        progress("verifying", 0, 3)
    catch_up(store)
    views = verify(store)
    chain = verify_chain(store.read_all(), store.head())
    orders, unexplained = _unexplained_orders(store)
    timings["verify"] = time.perf_counter() - started
    checks = {"replay_verify": views.ok, "replay_difference": views.difference, "audit_verify": chain.ok,
              "events": chain.events, "orders": len(orders), "orders_without_explanation": len(unexplained),
              "example_order": orders[len(orders) // 2].split(":", 1)[1] if orders else None,
              "ledger_matches_world": _ledger_matches_world(store, twin)}
    return DemoResult(scenario.name, spec.seed, kpis, world, twin, checks, timings)


def _unexplained_orders(store: EventStore) -> tuple[list[str], list[str]]:
    """Every order placed, and those whose proposal (with its provenance) cannot be found.

    One pass over the ledger instead of two stream reads per order."""
    from stockmesh.ledger import codec

    orders: dict[str, str] = {}
    explained: set[str] = set()
    for e in store.read_all():
        if e.type in ("PurchaseOrderPlaced", "TransferDispatched"):
            orders[e.stream_id] = codec.loads(e.metadata).get("idempotency_key", "")
        elif e.type == "ProposalMade" and codec.loads(e.data).get("provenance"):
            explained.add(e.stream_id)
    return list(orders), [doc for doc, key in orders.items() if key not in explained]


def _ledger_matches_world(store: EventStore, twin: LedgerTwin) -> bool:
    from stockmesh.projections.stock_positions import positions

    on_hand = {(r["sku"], r["site"]): r["on_hand"] for r in positions(store)}
    world = twin.world
    return all(on_hand.get((twin.sku[r], twin.site[r]), 0) == int(world.on_hand[r]) for r in range(len(twin.sku)))

"""The network features in the twin: schema keys, lateral lanes, trucks, MOQs, expedited mode, consolidation numerics."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest

from stockmesh.adapters.simulated.world import SimulatedWorld
from stockmesh.planning.allocation.consolidate import choose_mode, fill_trucks, joint_order
from stockmesh.simulation.build import build_world
from stockmesh.simulation.errors import ScenarioError
from stockmesh.simulation.policies.allocating import AgentsWithAllocation
from stockmesh.simulation.policies.consolidating import AgentsWithExpediting, JointReplenishment
from stockmesh.simulation.policies.transshipping import AgentsWithRebalancing
from stockmesh.simulation.scenario import parse_scenario
from stockmesh.simulation.simulate import simulate

STORES = ["STORE-LYON-01", "STORE-LYON-02", "STORE-PARIS-01"]
NETWORK: dict[str, Any] = {
    "name": "network-small", "seed": 2,
    "horizon": {"history_days": 28, "warmup_days": 14, "measured_days": 40},
    "network": {
        "suppliers": [{"id": "SUP-OATLY", "lead_time": 6, "min_order_qty": 10}],
        "stores": [{"id": s} for s in STORES],
        "lanes": [{"from": "SUP-OATLY", "to": s, "cost_per_shipment": 50, "capacity_per_shipment": 100,
                   "expedited": {"lead_time_factor": 0.5, "cost_per_unit": 0.3, "cost_per_shipment": 20}}
                  for s in STORES]
        + [{"from": a, "to": b, "transit_time": 1, "cost_per_unit": 0.05, "cost_per_shipment": 4, "min_shipment": 2}
           for a in STORES for b in STORES if a != b],
    },
    "skus": {"count": 10, "unit_cost": {"uniform": [1, 50]}, "fixed_order_cost": 2,
             "lost_sale_margin_factor": {"uniform": [0.5, 2]}},
    "demand": {"level": {"loguniform": [0.5, 6]}, "dispersion": 4},
    "disruptions": [{"type": "demand-shock", "stores": ["STORE-LYON-01"], "start_day": 20, "days": 30,
                     "factor": 2}],
}


@pytest.fixture
def raw() -> dict[str, Any]:
    return copy.deepcopy(NETWORK)


def test_lateral_lanes_modes_trucks_and_moqs_reach_the_spec(raw: dict[str, Any]) -> None:
    spec = build_world(parse_scenario(raw))
    assert spec.n_laterals == 6 and set(spec.lateral_transit_draw.ravel()) == {1}
    assert (spec.lane_truck_capacity == 100).all() and (spec.lane_expedite_lead_time_factor == 0.5).all()
    assert (spec.row_min_order_qty == 10).all()
    # lateral lanes draw from their own stream: the rest of the world is the same without them
    raw["network"]["lanes"] = raw["network"]["lanes"][:3]
    plain = build_world(parse_scenario(raw))
    assert (plain.demand == spec.demand).all() and (plain.lead_time_draw == spec.lead_time_draw).all()


@pytest.mark.parametrize(("path", "value", "message"), [
    (("network", "lanes", 3, "min_shipment"), 10_000, "infeasible lane"),
    (("network", "lanes", 0, "expedited", "lead_time_factor"), 2, "must be <= 1"),
    (("network", "lanes", 0, "cost_per_shipment"), -1, "must be >= 0"),
    (("network", "suppliers", 0, "min_order_qty"), -3, "must be >= 0"),
])
def test_bad_network_keys_are_named_by_their_path(raw: dict[str, Any], path: tuple[Any, ...], value: object,
                                                  message: str) -> None:
    node = raw
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    raw["network"]["lanes"][3]["capacity_per_day"] = 50
    with pytest.raises(ScenarioError, match=message) as caught:
        parse_scenario(raw)
    assert str(caught.value).startswith("network.")


def test_transship_moves_stock_within_on_hand_and_costs_it(raw: dict[str, Any]) -> None:
    raw["horizon"]["warmup_days"] = 0
    spec = build_world(parse_scenario(raw))
    world = SimulatedWorld(spec)
    sku = 0
    rows = [int(np.flatnonzero((spec.row_sku == sku) & (spec.row_site == s))[0]) for s in range(3)]
    before = world.on_hand.copy()
    lane = int(np.flatnonzero((spec.lateral_from == 1) & (spec.lateral_to == 0))[0])
    asked = int(before[rows[1]]) + 50
    shipped = world.controls.transship(np.array([lane]), np.array([rows[1]]), np.array([rows[0]]), np.array([asked]))
    assert shipped[0] == before[rows[1]]  # never more than the donor holds
    assert world.on_hand[rows[1]] == 0 and world.on_order[rows[0]] == shipped[0]
    assert world.controls.inbound_within(1, np.array([rows[0]]))[0] == shipped[0]
    assert world.totals.transport_cost[rows[0]] == pytest.approx(0.05 * shipped[0] + 4)
    with pytest.raises(ValueError, match="lane from the donor"):
        world.controls.transship(np.array([lane]), np.array([rows[2]]), np.array([rows[0]]), np.array([1]))


def test_policies_run_and_conserve_stock(raw: dict[str, Any]) -> None:
    spec = build_world(parse_scenario(raw))
    for policy in (AgentsWithRebalancing(), JointReplenishment(), AgentsWithExpediting(), AgentsWithAllocation("lp")):
        result = simulate(spec, policy)
        t = result.world.totals
        flow = spec.initial_on_hand + t.flow_received - t.flow_sold - t.flow_expired - t.flow_shipped_out
        assert (flow == result.world.on_hand).all(), policy.name
        assert 0 < result.kpis["fill_rate"] <= 1
    # ordered lines respect the supplier's minimum and trucks are counted
    assert (result.world.totals.trucks.sum() > 0)


def test_joint_order_rides_along_at_the_can_order_level() -> None:
    lane = np.array([0, 0, 0, 1])
    position = np.array([4.0, 12.0, 19.0, 12.0])
    s, big_s = np.full(4, 5.0), np.full(4, 20.0)
    order = joint_order(lane, position, s, big_s, n_lanes=2, can_order_share=0.6, min_order_qty=0)
    assert order.quantity.tolist() == [16, 8, 0, 0]
    assert order.triggered.tolist() == [True, False, False, False] and order.ride_along.tolist()[1]


def test_fill_trucks_fills_the_room_and_trims_a_nearly_empty_last_truck() -> None:
    lane = np.zeros(3, dtype=int)
    position, s, big_s = np.array([0.0, 30.0, 30.0]), np.array([5.0, 20.0, 20.0]), np.array([60.0, 80.0, 80.0])
    daily = np.ones(3)
    plan = fill_trucks(lane, np.array([60, 30, 0]), position, s, big_s, daily, n_lanes=1,
                       truck_capacity=np.array([100.0]))
    assert plan.lane_units[0] == 100 and plan.trucks[0] == 1 and plan.added.sum() == 10
    trimmed = fill_trucks(lane, np.array([100, 10, 0]), position, s, big_s, daily, n_lanes=1,
                          truck_capacity=np.array([100.0]), ride_along=np.array([False, True, False]))
    assert trimmed.lane_units[0] == 100 and trimmed.trimmed[1] == 10 and trimmed.trucks[0] == 1


def test_choose_mode_expedites_only_when_the_avoided_stockout_pays() -> None:
    args = dict(lane=np.array([0, 1]), quantity=np.array([50.0, 50.0]), stock=np.array([5.0, 500.0]),
                daily_mean=np.array([10.0, 10.0]), daily_sd=np.array([3.0, 3.0]), shortage_cost=np.array([8.0, 8.0]),
                standard_lead_time=np.array([9.0, 9.0]), expedited_lead_time=np.array([3.0, 3.0]),
                extra_cost_per_unit=np.array([0.5, 0.5]), n_lanes=2)
    choice = choose_mode(**args, expedited_cost_per_shipment=np.array([20.0, 20.0]))  # type: ignore[arg-type]
    assert choice.expedite.tolist() == [True, False]
    dear = choose_mode(**args, expedited_cost_per_shipment=np.array([1e6, 1e6]))  # type: ignore[arg-type]
    assert not dear.expedite.any()

"""A DC in the agents policy plans on echelon stock and its stores' demand, with known answers.

The observations are written by hand: SKU "OAT-MILK-1L" at DC-LYON, which supplies STORE-LYON-01
(10 a day, 2 days away) and STORE-LYON-02 (5 a day, 1 day away), the DC 6 days from its supplier.
Sales are constant and never censored, so every store's level is exact.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from stockmesh.adapters.simulated.world import Observation
from stockmesh.simulation.policies.agents import AgentsPolicy, AgentsSettings
from stockmesh.simulation.policies.numerics import (
    economic_order_quantity,
    lost_sales_critical_ratio,
    negative_binomial_quantile,
)

DAY = 70
WINDOW = 182
VALID_DAYS = 56  # the agents' window: every day of it is valid


def observation(*, parent: list[int], echelon: list[int], lead_time: list[float], daily_sales: list[float],
                on_hand: list[int], on_order: list[int] | None = None, penalty: list[float] | None = None,
                sku: list[int] | None = None) -> Observation:
    n = len(parent)
    sales = np.zeros((WINDOW, n))
    sales[:, :] = daily_sales
    on_hand_array = np.array(on_hand, dtype=np.int64)
    on_order_array = np.array(on_order or [0] * n, dtype=np.int64)
    backlog = np.zeros(n, dtype=np.int64)
    n_days = DAY + 60
    return Observation(
        day=DAY, first_decision_day=56, weekday=np.arange(n_days) % 7,
        on_hand=on_hand_array, on_order=on_order_array, backlog=backlog,
        inventory_position=on_hand_array + on_order_array - backlog,
        promotion_active=np.zeros((n_days, n), dtype=bool),
        notice_factor=np.ones(n), notice_days_left=np.zeros(n, dtype=np.int64),
        lane_lead_time_mean=np.array(lead_time, dtype=np.float64),
        lane_receipts=np.zeros(n), lane_lead_time_sum=np.zeros(n), lane_lead_time_sumsq=np.zeros(n),
        unit_cost=np.full(n, 4.0), holding_cost_per_day=np.full(n, 0.01),
        lost_sale_penalty=np.array(penalty or [2.0] * n, dtype=np.float64), order_cost=np.full(n, 20.0),
        pack_size=np.ones(n, dtype=np.int64), shelf_life_days=np.zeros(n, dtype=np.int64),
        row_site=np.arange(n), row_sku=np.array(sku or [0] * n), row_parent=np.array(parent),
        row_echelon=np.array(echelon), backorders=False,
        _sales_history=sales, _censored_history=np.zeros((WINDOW, n), dtype=bool),
    )


def lyon(**changes: object) -> Observation:
    """Row 0: DC-LYON; rows 1-2: its stores. The DC's 'sales' are its stores' requests, inflated."""
    values: dict[str, object] = {
        "parent": [-1, 0, 0], "echelon": [1, 0, 0], "lead_time": [6.0, 2.0, 1.0],
        "daily_sales": [45.0, 10.0, 5.0], "on_hand": [40, 25, 9], "on_order": [0, 0, 0],
        "penalty": [2.0, 3.0, 1.5],
    }
    values.update(changes)
    return observation(**values)  # type: ignore[arg-type]


def decide_like_the_world(policy: AgentsPolicy, obs: Observation):
    """Stores first, then the DC, as the world asks."""
    stores = policy.decide(obs, np.array([1, 2]))
    return stores, policy.decide(obs, np.array([0]))


def test_the_dc_forecasts_its_stores_demand_over_its_lead_time_plus_their_transit() -> None:
    stores, dc = decide_like_the_world(AgentsPolicy(), lyon())
    inputs = dc.explain(0)["inputs"]
    # 10 a day over 6 + 2 days, 5 a day over 6 + 1 days; the DC's own 45 a day of requests is not read
    assert inputs["echelon_lead_time_demand_mean"] == pytest.approx(10 * 8 + 5 * 7)
    # Poisson days, plus each store's level error (variance / valid days, common to the whole period)
    level_error = 10 / VALID_DAYS * 8**2 + 5 / VALID_DAYS * 7**2
    assert inputs["echelon_lead_time_demand_variance"] == pytest.approx(10 * 8 + 5 * 7 + level_error)
    assert inputs["echelon_daily_demand"] == pytest.approx(15)
    # a DC short over this interval is a store's lost sale: the stores' penalty, demand-weighted
    assert inputs["echelon_lost_sale_penalty"] == pytest.approx((3.0 * 10 + 1.5 * 5) / 15)


def test_the_dc_orders_exactly_the_echelon_shortfall() -> None:
    stores, dc = decide_like_the_world(AgentsPolicy(), lyon())
    row = dc.explain(0)
    echelon_position = 40 + 25 + 9
    assert row["inputs"]["echelon_inventory_position"] == echelon_position
    # the target, computed here from the textbook formulas
    daily = 15.0
    quantity = max(float(economic_order_quantity(np.array(20.0), np.array(daily), np.array(0.01))), daily)
    ratio = lost_sales_critical_ratio(np.array(2.5), np.array(daily), np.array(0.01), np.array(quantity))
    variance = 115 + 10 / VALID_DAYS * 64 + 5 / VALID_DAYS * 49
    # the stores keep half a batch and their safety stock, which the DC cannot hand to the other store
    store_batches = stores.parameters["order_quantity_target"]
    store_safety = stores.reorder_point - stores.inputs["lead_time_demand_mean"]
    downstream = float(np.sum(0.5 * store_batches + store_safety))
    assert row["inputs"]["downstream_allowance"] == pytest.approx(downstream)
    reorder_point = float(negative_binomial_quantile(np.array([115.0]), np.array([variance]), ratio)[0]) + downstream
    assert row["reorder_point"] == pytest.approx(reorder_point)
    assert row["order_up_to"] == pytest.approx(reorder_point + np.ceil(quantity))
    assert echelon_position <= reorder_point
    assert row["order_quantity"] == np.ceil(row["order_up_to"] - echelon_position)


def test_units_shipped_to_a_store_do_not_change_the_dc_order() -> None:
    _, before = decide_like_the_world(AgentsPolicy(), lyon())
    # 12 units left the DC for STORE-LYON-01 and are in transit: the echelon holds the same stock
    _, after = decide_like_the_world(AgentsPolicy(), lyon(on_hand=[28, 25, 9], on_order=[0, 12, 0]))
    assert after.order_quantity[0] == before.order_quantity[0]


def test_a_request_the_dc_could_not_fill_is_counted_once_however_often_it_is_repeated() -> None:
    _, filled = decide_like_the_world(AgentsPolicy(), lyon())
    # STORE-LYON-01 asked for 18 units the DC did not have, and asks again every day: its position is
    # 18 lower, and the DC's history reads its repeated requests (three times the stores' demand)
    short = lyon(on_hand=[40, 7, 9], daily_sales=[135.0, 10.0, 5.0])
    stores, unfilled = decide_like_the_world(AgentsPolicy(), short)
    assert unfilled.order_up_to[0] == filled.order_up_to[0]
    assert unfilled.order_quantity[0] == filled.order_quantity[0] + 18


def test_a_dc_deciding_alone_plans_its_stores_itself() -> None:
    _, after_stores = decide_like_the_world(AgentsPolicy(), lyon())
    alone = AgentsPolicy().decide(lyon(), np.array([0]))
    assert alone.explain(0) == after_stores.explain(0)


def test_the_stores_decide_as_without_echelon_planning() -> None:
    obs = lyon()
    echelon, _ = decide_like_the_world(AgentsPolicy(), obs)
    installation, _ = decide_like_the_world(AgentsPolicy(AgentsSettings(echelon=False)), obs)
    np.testing.assert_array_equal(echelon.order_quantity, installation.order_quantity)
    assert echelon.explain(1) == installation.explain(1)


def test_a_dc_supplying_a_dc_sees_the_stores_below_both() -> None:
    # row 0: DC-NATIONAL (5 days from its supplier) -> row 1: DC-LYON (3 days) -> row 2: STORE-LYON-01
    # (2 days, 10 a day); row 3: STORE-PARIS-01, supplied by a supplier directly, is nobody's echelon
    obs = observation(parent=[-1, 0, 1, -1], echelon=[2, 1, 0, 0], lead_time=[5.0, 3.0, 2.0, 4.0],
                      daily_sales=[60.0, 30.0, 10.0, 7.0], on_hand=[50, 20, 15, 30], on_order=[0, 10, 0, 0])
    policy = AgentsPolicy()
    policy.decide(obs, np.array([2, 3]))
    middle = policy.decide(obs, np.array([1]))
    top = policy.decide(obs, np.array([0]))
    assert middle.explain(1)["inputs"]["echelon_lead_time_demand_mean"] == pytest.approx(10 * (3 + 2))
    assert middle.explain(1)["inputs"]["echelon_inventory_position"] == 20 + 10 + 15
    assert top.explain(0)["inputs"]["echelon_lead_time_demand_mean"] == pytest.approx(10 * (5 + 3 + 2))
    assert top.explain(0)["inputs"]["echelon_inventory_position"] == 50 + 20 + 10 + 15
    # what the middle DC keeps for itself: half its batch, and its reorder point over its echelon demand
    # (which holds the store's own allowance)
    mid = middle.explain(1)
    assert top.explain(0)["inputs"]["downstream_allowance"] == pytest.approx(
        0.5 * mid["parameters"]["order_quantity_target"] + mid["reorder_point"]
        - mid["inputs"]["echelon_lead_time_demand_mean"])


def test_installation_planning_stays_available() -> None:
    _, dc = decide_like_the_world(AgentsPolicy(AgentsSettings(echelon=False)), lyon())
    row = dc.explain(0)
    assert "echelon_inventory_position" not in row["inputs"]
    # the DC reads its stores' requests as demand: 45 a day over 6 days
    assert row["inputs"]["lead_time_demand_mean"] == pytest.approx(45 * 6)


def test_two_skus_of_one_dc_are_planned_apart() -> None:
    # rows 0-2: OAT-MILK-1L at DC-LYON and two stores; rows 3-5: the same network for a second SKU
    obs = observation(parent=[-1, 0, 0, -1, 3, 3], echelon=[1, 0, 0, 1, 0, 0],
                      lead_time=[6.0, 2.0, 1.0, 6.0, 2.0, 1.0], daily_sales=[45.0, 10.0, 5.0, 9.0, 1.0, 2.0],
                      on_hand=[40, 25, 9, 8, 3, 4], sku=[0, 0, 0, 1, 1, 1])
    obs = replace(obs, row_site=np.array([0, 1, 2, 0, 1, 2]))
    policy = AgentsPolicy()
    policy.decide(obs, np.array([1, 2, 4, 5]))
    dc = policy.decide(obs, np.array([0, 3]))
    assert dc.explain(0)["inputs"]["echelon_lead_time_demand_mean"] == pytest.approx(115)
    assert dc.explain(3)["inputs"]["echelon_lead_time_demand_mean"] == pytest.approx(1 * 8 + 2 * 7)
    assert dc.explain(3)["inputs"]["echelon_inventory_position"] == 8 + 3 + 4


def test_an_order_open_longer_than_the_lead_time_lengthens_it() -> None:
    policy = AgentsPolicy()
    _, first = decide_like_the_world(policy, lyon())
    ordered = int(first.order_quantity[0])
    assert ordered > 0 and first.explain(0)["inputs"]["lead_time_mean"] == pytest.approx(6)
    # ten days later that order (quoted 6 days) has not arrived: the lane takes at least 11 days now
    later = lyon(on_order=[ordered, 0, 0])
    later = replace(later, day=DAY + 10)
    _, second = decide_like_the_world(policy, later)
    assert second.explain(0)["inputs"]["lead_time_mean"] == pytest.approx(11)
    assert second.explain(0)["inputs"]["echelon_lead_time_demand_mean"] == pytest.approx(10 * 13 + 5 * 12)
    # a fresh policy, which did not place it, cannot trace it and keeps the learned lead time
    _, unaware = decide_like_the_world(AgentsPolicy(), later)
    assert unaware.explain(0)["inputs"]["lead_time_mean"] == pytest.approx(6)


def test_the_downstream_allowance_is_smoothed_day_to_day() -> None:
    policy = AgentsPolicy()
    _, first = decide_like_the_world(policy, lyon())
    raw_first = first.explain(0)["inputs"]["downstream_allowance"]
    # the next day STORE-LYON-01 sells twice as much: its reorder point, and the raw allowance, jump
    busier = replace(lyon(daily_sales=[45.0, 20.0, 5.0]), day=DAY + 1)
    _, unsmoothed = decide_like_the_world(AgentsPolicy(AgentsSettings(allowance_half_life_days=0)), busier)
    raw_second = unsmoothed.explain(0)["inputs"]["downstream_allowance"]
    _, second = decide_like_the_world(policy, busier)
    weight = 1 - 0.5 ** (1 / 7)
    assert raw_second > raw_first
    assert second.explain(0)["inputs"]["downstream_allowance"] == pytest.approx(
        raw_first + weight * (raw_second - raw_first))

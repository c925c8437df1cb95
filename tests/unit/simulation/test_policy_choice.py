"""A policy name is parsed once into a typed choice; the policy is built from its fields."""

from __future__ import annotations

import pytest

from stockmesh.simulation.errors import ScenarioError
from stockmesh.simulation.policy_choice import POLICY_NAMES, AgentsConfig, PolicyChoice, parse_policy
from stockmesh.simulation.scenario import parse_scenario
from stockmesh.simulation.simulate import make_policy

NAMES = ("minmax", "reorder-level", "oracle", "hindsight", "agents", "agents+rebalancing", "agents+horizon-lp",
         "agents+lp", "agents+greedy", "agents+fair-share", "agents+proportional", "agents+consolidation",
         "agents-own-shipment", "agents+expediting")


def test_every_name_is_still_accepted_and_stands_for_one_choice() -> None:
    assert POLICY_NAMES == NAMES
    choices = [parse_policy(name) for name in NAMES]
    assert [c.name for c in choices] == list(NAMES) and len(set(choices)) == len(NAMES)
    assert parse_policy("agents+fair-share") == PolicyChoice(agents=AgentsConfig(allocation="fair-share"))
    assert parse_policy("agents-own-shipment").agents.own_shipment
    assert parse_policy("minmax") == PolicyChoice(baseline="minmax")


@pytest.mark.parametrize("name", [n for n in NAMES if n.startswith("agents")])
def test_the_policy_built_from_a_choice_is_the_one_named(name: str) -> None:
    assert make_policy(parse_policy(name), spec=None).name == name  # type: ignore[arg-type]  # agents need no spec


def test_an_unknown_name_is_refused_naming_it() -> None:
    with pytest.raises(ValueError, match="unknown policy 'agents\\+lpp'; expected one of minmax, "):
        parse_policy("agents+lpp")


def test_a_choice_holds_one_agents_option_and_known_values() -> None:
    with pytest.raises(ValueError, match="one of allocation, rebalancing"):
        AgentsConfig(allocation="lp", rebalancing=True)
    with pytest.raises(ValueError, match="unknown allocation method 'simplex'"):
        AgentsConfig(allocation="simplex")
    with pytest.raises(ValueError, match="takes no agents options"):
        PolicyChoice(baseline="minmax", agents=AgentsConfig(expediting=True))


def _scenario(policy: str) -> dict[str, object]:
    return {"name": "two-stores", "policy": policy,
            "network": {"suppliers": [{"id": "SUP-OATLY", "lead_time": 5}],
                        "stores": [{"id": "STORE-LYON-02", "supplied_by": "SUP-OATLY"}]},
            "skus": {"count": 2, "unit_cost": 1.2}, "demand": {"level": 4}}


def test_a_scenario_carries_the_parsed_choice_and_names_a_bad_one() -> None:
    assert parse_scenario(_scenario("agents+rebalancing")).policy == PolicyChoice(
        agents=AgentsConfig(rebalancing=True))
    with pytest.raises(ScenarioError, match="policy.*unknown policy 'agents\\+magic'"):
        parse_scenario(_scenario("agents+magic"))

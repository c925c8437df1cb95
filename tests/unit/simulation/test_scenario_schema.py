"""Scenario files: bad keys are named by their path; impossible networks are refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from stockmesh.simulation.errors import ScenarioError
from stockmesh.simulation.scenario import load_scenario, parse_scenario

REPO = Path(__file__).resolve().parents[3]


def error_of(raw: object) -> str:
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(raw)
    return str(caught.value)


def test_the_shipped_scenarios_are_valid() -> None:
    names = sorted(p.stem for p in (REPO / "scenarios").glob("*.yaml"))
    assert {"default", "smooth", "intermittent", "promotions", "supplier-outage", "random-lead-times"} <= set(names)
    for name in names:
        load_scenario(REPO / "scenarios" / f"{name}.yaml")


def test_unknown_supplying_site_is_named_by_its_path(small_raw) -> None:
    small_raw["network"]["stores"][1]["supplied_by"] = "DC-9"
    assert error_of(small_raw) == "network.stores[1].supplied_by: unknown site 'DC-9'"


def test_unknown_key_is_named_by_its_path(small_raw) -> None:
    small_raw["network"]["suppliers"][0]["lead_tme"] = 4
    assert error_of(small_raw).startswith("network.suppliers[0].lead_tme: unknown key")


def test_wrong_type_deep_in_a_distribution(small_raw) -> None:
    small_raw["skus"]["unit_cost"] = {"uniform": [1, "fifty"]}
    assert error_of(small_raw).startswith("skus.unit_cost.uniform[1]: expected a number")


def test_missing_required_section() -> None:
    assert error_of({"network": {"suppliers": [{"id": "S", "lead_time": 2}], "stores": [{"id": "A"}]}}) == (
        "skus: is required")


def test_a_supply_cycle_between_dcs_is_rejected(small_raw) -> None:
    small_raw["network"]["dcs"] = [{"id": "DC-LYON", "supplied_by": "DC-PARIS"},
                                   {"id": "DC-PARIS", "supplied_by": "DC-LYON"}]
    message = error_of(small_raw)
    assert message.startswith("network.dcs[0].supplied_by: supply cycle")
    assert "DC-LYON -> DC-PARIS -> DC-LYON" in message


def test_a_store_cannot_supply_another_site(small_raw) -> None:
    small_raw["network"]["stores"][2]["supplied_by"] = "STORE-LYON-01"
    assert error_of(small_raw) == ("network.stores[2].supplied_by: 'STORE-LYON-01' is a store; "
                                   "stores do not supply other sites (no supply path)")


def test_a_store_needs_somewhere_to_come_from(small_raw) -> None:
    small_raw["network"]["suppliers"] = []
    assert error_of(small_raw) == "network.suppliers: at least one supplier is needed"


def test_duplicate_site_ids(small_raw) -> None:
    small_raw["network"]["stores"][2]["id"] = "DC-LYON"
    assert error_of(small_raw).startswith("network.stores[2].id: duplicate site id 'DC-LYON'")


def test_disruption_naming_an_unknown_supplier(small_raw) -> None:
    small_raw["disruptions"] = [{"type": "supplier-outage", "suppliers": ["SUP-X"], "start_day": 3, "days": 5,
                                 "lead_time_factor": 3}]
    assert error_of(small_raw) == "disruptions[0].suppliers: unknown supplier 'SUP-X'"


def test_unknown_policy(small_raw) -> None:
    small_raw["policy"] = "magic"
    assert error_of(small_raw).startswith("policy: unknown policy 'magic'")


def test_yaml_file_errors_carry_the_path(tmp_path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("network:\n  stores: [\n")
    with pytest.raises(ScenarioError, match="not valid YAML"):
        load_scenario(bad)

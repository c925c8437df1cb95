"""`stockmesh simulate SCENARIO --policy NAME` with the wrapped agents policies (allocation, rebalancing,
consolidation)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from stockmesh.entrypoints.cli import app
from stockmesh.simulation.policy_choice import POLICY_NAMES as POLICIES

SCENARIO = {
    "name": "dc-short-small", "seed": 4, "policy": "agents+horizon-lp",
    "horizon": {"history_days": 28, "warmup_days": 14, "measured_days": 40},
    "network": {
        "suppliers": [{"id": "SUP-OATLY", "lead_time": {"uniform": [5, 8]}, "reliability": 0.7,
                       "late_days": {"uniform": [2, 6]}}],
        "dcs": [{"id": "DC-LYON", "supplied_by": "SUP-OATLY"}],
        "stores": [{"id": "STORE-LYON-01", "supplied_by": "DC-LYON", "lost_sale_factor": 2.5},
                   {"id": "STORE-LYON-02", "supplied_by": "DC-LYON"}],
        "lanes": [{"from": "DC-LYON", "to": "STORE-LYON-02", "transit_time": 2},
                  {"from": "STORE-LYON-01", "to": "STORE-LYON-02", "transit_time": 1, "cost_per_shipment": 4}],
    },
    "skus": {"count": 6, "unit_cost": {"uniform": [1, 20]}, "fixed_order_cost": 10},
    "demand": {"level": {"loguniform": [1, 6]}, "dispersion": 3},
    "disruptions": [{"type": "supplier-outage", "suppliers": ["SUP-OATLY"], "start_day": 15, "days": 20,
                     "lead_time_factor": 3, "announced": False}],
}


@pytest.fixture
def scenario(tmp_path: Path) -> Path:
    path = tmp_path / "dc-short-small.yaml"
    path.write_text(yaml.safe_dump(SCENARIO))
    return path


@pytest.mark.parametrize("policy", ["agents+horizon-lp", "agents+proportional", "agents+lp", "agents+rebalancing",
                                    "agents+consolidation", "agents+expediting"])
def test_wrapped_agents_policies_are_simulate_names(scenario: Path, policy: str) -> None:
    result = CliRunner().invoke(app, ["simulate", str(scenario), "--policy", policy, "--json"])
    assert result.exit_code == 0, result.output
    kpis = json.loads(result.stdout)
    assert kpis["policy"] == policy and 0 < kpis["fill_rate"] <= 1


def test_the_scenario_names_its_policy_and_an_unknown_one_lists_them_all(scenario: Path) -> None:
    runner = CliRunner()
    default = runner.invoke(app, ["simulate", str(scenario), "--json"])
    assert default.exit_code == 0 and json.loads(default.stdout)["policy"] == "agents+horizon-lp"
    unknown = runner.invoke(app, ["simulate", str(scenario), "--policy", "agents+magic"])
    assert unknown.exit_code == 2
    assert all(name in unknown.output for name in POLICIES)


def test_the_shipped_network_scenarios_default_to_their_policies() -> None:
    root = Path(__file__).resolve().parents[2] / "scenarios"
    expected = {"dc-shortage.yaml": "agents+horizon-lp", "imbalance.yaml": "agents+rebalancing",
                "consolidation.yaml": "agents+consolidation"}
    for name, policy in expected.items():
        assert yaml.safe_load((root / name).read_text())["policy"] == policy

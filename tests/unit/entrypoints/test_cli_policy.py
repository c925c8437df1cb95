"""``stockmesh policy solve`` through the real Typer app."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from stockmesh.entrypoints.cli import app

runner = CliRunner()

NEWSVENDOR = {
    "id": "OAT-MILK-1L@STORE-LYON-02",
    "type": "newsvendor",
    "demand": {"dist": "normal", "mean": 50, "sd": 8},
    "holding_cost": 0.18,
    "stockout_cost": 0.7,
    "lead_time": 0,
}


def _write(tmp_path: Path, *records: object) -> Path:
    path = tmp_path / "instances.jsonl"
    path.write_text(
        "\n".join(r if isinstance(r, str) else json.dumps(r) for r in records) + "\n", encoding="utf-8"
    )
    return path


def _solve(path: Path, *extra: str):  # noqa: ANN202
    return runner.invoke(app, ["policy", "solve", str(path), *extra])


@pytest.mark.shared_data
def test_every_shared_instance_is_solved_within_tolerance(shared_data: Path) -> None:
    result = _solve(shared_data / "policy" / "instances.jsonl", "--json")
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(lines) == 18
    assert all(line["ok"] for line in lines)
    by_id = {line["id"]: line for line in lines}
    assert (by_id["sS-zf1991-mu70"]["s"], by_id["sS-zf1991-mu70"]["S"]) == (62, 81)
    assert by_id["gsm-fosct-ex6.5"]["committed_service_times"] == {"1": 0, "2": 0, "3": 0, "4": 1}


@pytest.mark.shared_data
def test_table_output_for_the_shared_file(shared_data: Path) -> None:
    result = _solve(shared_data / "policy" / "instances.jsonl")
    assert result.exit_code == 0
    assert "sS-zf1991-mu70" in result.stdout


def test_instance_without_expected_gets_an_answer_and_no_ok(tmp_path: Path) -> None:
    result = _solve(_write(tmp_path, NEWSVENDOR), "--json")
    assert result.exit_code == 0
    line = json.loads(result.stdout)
    assert line["id"] == NEWSVENDOR["id"] and "ok" not in line
    assert line["base_stock"] == pytest.approx(56.603956, abs=1e-5)


def test_wrong_expected_answer_exits_1(tmp_path: Path) -> None:
    record = {
        **NEWSVENDOR,
        "expected": {"base_stock": 60.0, "expected_cost": 1.997605},
        "tolerance": {"cost_rel": 0.001, "level_abs": 0.05},
    }
    result = _solve(_write(tmp_path, record), "--json")
    assert result.exit_code == 1
    line = json.loads(result.stdout)
    assert line["ok"] is False and "base_stock" in line["mismatches"][0]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"holding_cost": -0.18}, "holding_cost"),
        ({"demand": {"dist": "normal", "mean": 50, "sd": 0}}, "demand.sd"),
        ({"demand": {"dist": "normal", "mean": 50}}, "demand.sd"),
        ({"demand": {"dist": "gamma", "mean": 50}}, "demand.dist"),
        ({"type": "eoq"}, "type"),
        ({"lead_time": 1.5}, "lead_time"),
        ({"type": ["newsvendor"]}, "type"),
        ({"expected": {"base_stock": 56, "expected_cost": "1.99"}}, "expected.expected_cost"),
        ({"expected": {"base_stock": 56.6, "expected_cost": 2.0}, "tolerance": {"cost_rel": "0.1%"}}, "tolerance.cost_rel"),
        ({"expected": {"base_stock": 56.6, "expected_cost": 2.0}, "tolerance": {"exact": "base_stock"}}, "tolerance.exact"),
    ],
)
def test_bad_instances_exit_2_naming_instance_and_field(tmp_path: Path, change: dict, field: str) -> None:
    result = _solve(_write(tmp_path, {**NEWSVENDOR, **change}), "--json")
    assert result.exit_code == 2
    assert f"field '{field}'" in result.stderr
    assert NEWSVENDOR["id"] in result.stderr and "line 1" in result.stderr


def test_missing_field_is_named(tmp_path: Path) -> None:
    record = {key: value for key, value in NEWSVENDOR.items() if key != "stockout_cost"}
    result = _solve(_write(tmp_path, record))
    assert result.exit_code == 2 and "field 'stockout_cost'" in result.stderr and "missing" in result.stderr


def test_cyclic_gsm_network_is_rejected(tmp_path: Path) -> None:
    nodes = [
        {"id": "DC-NORTH", "processing_time": 1, "holding_cost": 1, "successors": ["STORE-A"]},
        {
            "id": "STORE-A",
            "processing_time": 1,
            "holding_cost": 2,
            "successors": ["STORE-B"],
            "demand": {"mean": 5, "sd": 1},
        },
        {
            "id": "STORE-B",
            "processing_time": 1,
            "holding_cost": 2,
            "successors": ["DC-NORTH"],
            "demand": {"mean": 5, "sd": 1},
        },
    ]
    record = {"id": "cyclic-net", "type": "gsm_tree", "nodes": nodes, "demand_bound_constant": 1.64}
    result = _solve(_write(tmp_path, record))
    assert result.exit_code == 2 and "cyclic-net" in result.stderr and "field 'nodes'" in result.stderr


def test_disconnected_gsm_network_is_rejected(tmp_path: Path) -> None:
    nodes = [
        {
            "id": "A",
            "processing_time": 1,
            "holding_cost": 1,
            "successors": [],
            "demand": {"mean": 1, "sd": 1},
        },
        {
            "id": "B",
            "processing_time": 1,
            "holding_cost": 1,
            "successors": [],
            "demand": {"mean": 1, "sd": 1},
        },
    ]
    result = _solve(
        _write(tmp_path, {"id": "forest", "type": "gsm_tree", "nodes": nodes, "demand_bound_constant": 1})
    )
    assert result.exit_code == 2 and "tree" in result.stderr


def test_malformed_json_line_names_the_line_and_other_lines_still_solve(tmp_path: Path) -> None:
    result = _solve(_write(tmp_path, NEWSVENDOR, "{not json"), "--json")
    assert result.exit_code == 2
    assert "line 2" in result.stderr and "malformed JSON" in result.stderr
    assert json.loads(result.stdout.splitlines()[0])["id"] == NEWSVENDOR["id"]


def test_unreadable_file_exits_2(tmp_path: Path) -> None:
    result = _solve(tmp_path / "missing.jsonl")
    assert result.exit_code == 2 and "cannot read" in result.stderr


def test_help_lists_solve() -> None:
    result = runner.invoke(app, ["policy", "--help"])
    assert result.exit_code == 0 and "solve" in result.stdout


def test_normal_rq_with_zero_lead_time_is_solved(tmp_path: Path) -> None:
    record = {
        "id": "BEANS-1KG@DC-LILLE",
        "type": "rQ",
        "demand": {"dist": "normal", "mean": 1300, "sd": 150},
        "holding_cost": 0.225,
        "stockout_cost": 7.5,
        "fixed_cost": 8,
        "lead_time": 0,
    }
    result = _solve(_write(tmp_path, record), "--json")
    assert result.exit_code == 0, result.output
    line = json.loads(result.stdout)
    quantity = (2 * 8 * 1300 * (0.225 + 7.5) / (0.225 * 7.5)) ** 0.5
    assert abs(line["Q"] - quantity) < 1e-6 and abs(line["r"] + quantity * 0.225 / 7.725) < 1e-6


def test_gsm_service_times_beyond_the_dp_table_are_rejected(tmp_path: Path) -> None:
    nodes = [
        {"id": "PLANT-RENNES", "processing_time": 10**9, "holding_cost": 1, "successors": ["STORE-A"]},
        {"id": "STORE-A", "processing_time": 1, "holding_cost": 2, "successors": [], "demand": {"mean": 5, "sd": 1}},
    ]
    record = {"id": "slow-plant", "type": "gsm_tree", "nodes": nodes, "demand_bound_constant": 1.64}
    result = _solve(_write(tmp_path, record))
    assert result.exit_code == 2 and "slow-plant" in result.stderr and "field 'nodes'" in result.stderr

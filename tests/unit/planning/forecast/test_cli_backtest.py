"""``stockmesh forecast backtest``: bad input is refused with the line and column, good input scores."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from stockmesh.entrypoints.cli import app
from stockmesh.planning.forecast.synthetic import daily_retail_demand

runner = CliRunner()


def _run(*args: str):
    return runner.invoke(app, ["forecast", "backtest", *args])


def _steady(days: int, level: int = 5) -> list[float]:
    return [float(level + (day % 7 == 5) * 3) for day in range(days)]


def test_missing_column_names_the_column_and_line(tmp_path: Path) -> None:
    path = tmp_path / "no_qty.csv"
    path.write_text("sku,site,date\nOAT-MILK-1L,STORE-LYON-02,2024-01-01\n")
    result = _run(str(path), "--horizon", "7")
    assert result.exit_code == 2
    assert "line 1, field 'qty': missing column(s) qty" in result.output


def test_unparseable_date_names_the_line(write_demand, tmp_path: Path) -> None:
    path = write_demand({("OAT-MILK-1L", "STORE-LYON-02"): _steady(40)})
    lines = path.read_text().splitlines()
    lines[3] = "OAT-MILK-1L,STORE-LYON-02,2024-13-45,5"
    path.write_text("\n".join(lines) + "\n")
    result = _run(str(path), "--horizon", "7")
    assert result.exit_code == 2
    assert "line 4, field 'date': cannot parse date '2024-13-45'" in result.output


def test_non_numeric_quantity_names_the_line(write_demand) -> None:
    path = write_demand({("OAT-MILK-1L", "STORE-LYON-02"): _steady(40)})
    text = path.read_text().replace("2024-01-02,5", "2024-01-02,five")
    path.write_text(text)
    result = _run(str(path), "--horizon", "7")
    assert result.exit_code == 2
    assert "line 3, field 'qty': cannot parse quantity 'five'" in result.output


def test_negative_quantities_are_refused_unless_returns_are_allowed(write_demand) -> None:
    history = _steady(60)
    history[10] = -2
    path = write_demand({("OAT-MILK-1L", "STORE-LYON-02"): history})
    refused = _run(str(path), "--horizon", "7")
    assert refused.exit_code == 2
    assert "line 12, field 'qty': negative quantity -2" in refused.output
    assert "--allow-returns" in refused.output
    accepted = _run(str(path), "--horizon", "7", "--allow-returns", "--json")
    assert accepted.exit_code == 0, accepted.output
    assert json.loads(accepted.stdout)["series"] == 1


def test_duplicate_rows_are_summed_and_counted(write_demand) -> None:
    path = write_demand({("OAT-MILK-1L", "STORE-LYON-02"): _steady(60)})
    with path.open("a") as handle:
        handle.write("OAT-MILK-1L,STORE-LYON-02,2024-01-05,3\nOAT-MILK-1L,STORE-LYON-02,2024-01-06,1\n")
    result = _run(str(path), "--horizon", "7", "--json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["duplicate_rows"] == 2
    assert any("2 duplicate" in note for note in payload["notes"])


def test_empty_file_and_header_only_file(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    result = _run(str(empty), "--horizon", "7")
    assert result.exit_code == 2
    assert "the file is empty" in result.output
    header_only = tmp_path / "header.csv"
    header_only.write_text("sku,site,date,qty\n")
    result = _run(str(header_only), "--horizon", "7")
    assert result.exit_code == 2
    assert "no data rows" in result.output


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    result = _run(str(tmp_path / "absent.csv"), "--horizon", "7")
    assert result.exit_code == 2
    assert "cannot read" in result.output


def test_series_too_short_for_any_fold_is_refused(write_demand) -> None:
    path = write_demand({("OAT-MILK-1L", "STORE-LYON-02"): _steady(10)})
    result = _run(str(path), "--horizon", "7", "--folds", "3")
    assert result.exit_code == 2
    assert "too short" in result.output


def test_short_series_are_skipped_and_said_so(write_demand) -> None:
    path = write_demand(
        {("OAT-MILK-1L", "STORE-LYON-02"): _steady(90), ("OAT-MILK-1L", "STORE-NICE-01"): _steady(12)}
    )
    result = _run(str(path), "--horizon", "7", "--json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["series"] == 1 and payload["skipped_short"] == 1
    assert any("too short" in note for note in payload["notes"])


def test_gaps_inside_a_series_count_as_zero_and_weekly_freq_aggregates(write_demand) -> None:
    path = write_demand({("OAT-MILK-1L", "STORE-LYON-02"): _steady(140)})
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:20] + lines[25:]) + "\n")  # five days without a row
    result = _run(str(path), "--horizon", "2", "--freq", "W", "--folds", "2", "--json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["freq"] == "W"
    assert any("summed into weekly" in note for note in payload["notes"])


def test_table_on_synthetic_daily_retail_data(write_demand) -> None:
    demand = daily_retail_demand(40, 200, seed=7)
    path = write_demand(
        {(f"SKU-{index:03d}", "STORE-LYON-02"): list(row) for index, row in enumerate(demand.sales)}
    )
    table = _run(str(path), "--horizon", "14", "--folds", "2")
    assert table.exit_code == 0, table.output
    assert "automatic selection" in table.output and "coverage_p90" in table.output
    result = _run(str(path), "--horizon", "14", "--folds", "2", "--json")
    payload = json.loads(result.stdout)
    assert payload["series"] == 40 and payload["freq"] == "D"
    assert set(payload["selected"]) >= {"rmsse", "mase", "bias", "pinball", "coverage_p90"}
    assert payload["selected"]["rmsse"] < 0.9 * payload["methods"]["SeasonalNaive"]["rmsse"]
    assert np.isfinite(payload["selected"]["coverage_p90"])


def test_optional_censored_and_promo_columns(tmp_path: Path) -> None:
    demand = daily_retail_demand(20, 150, seed=4, promotion_share=0.08, stockout_share=0.03)
    day0 = np.datetime64("2024-01-01", "D")
    lines = ["sku,site,date,qty,censored,promo"]
    for index in range(20):
        for day in range(150):
            lines.append(
                f"SKU-{index},STORE-LYON-02,{day0 + day},{demand.sales[index, day]:g},"
                f"{'true' if demand.censored[index, day] else 'false'},{int(demand.promotions[index, day])}"
            )
    path = tmp_path / "flags.csv"
    path.write_text("\n".join(lines) + "\n")
    for metric in ("rmsse", "mase", "pinball"):
        result = _run(str(path), "--horizon", "7", "--metric", metric, "--json")
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["metric"] == metric
    lines[5] = lines[5].rsplit(",", 1)[0] + ",maybe"
    path.write_text("\n".join(lines) + "\n")
    result = _run(str(path), "--horizon", "7")
    assert result.exit_code == 2
    assert "line 6, field 'promo': cannot read 'maybe' as true/false" in result.output


def _strict_json(text: str) -> dict:
    def _refuse(constant: str) -> None:
        raise AssertionError(f"{constant} in the JSON report")

    return json.loads(text, parse_constant=_refuse)


def test_an_all_zero_file_reports_no_best_method_and_gets_intermittent_models(write_demand) -> None:
    path = write_demand(
        {("OAT-MILK-1L", "STORE-LYON-02"): [0.0] * 60, ("OAT-MILK-1L", "STORE-NICE-01"): [0.0] * 60}
    )
    result = _run(str(path), "--horizon", "7", "--json")
    assert result.exit_code == 0, result.output
    payload = _strict_json(result.stdout)
    assert payload["best_single_method"] is None
    assert payload["selected"]["rmsse"] is None and payload["selected"]["unscaled_series"] == 2
    assert set(payload["selected_models"]) <= {"CrostonClassic", "CrostonOptimized", "CrostonSBA", "TSB", "ADIDA", "IMAPA"}
    table = _run(str(path), "--horizon", "7")
    assert table.exit_code == 0, table.output
    assert "(best)" not in table.output


def test_fractional_quantities_need_allow_fractional(write_demand) -> None:
    path = write_demand({("LOOSE-COFFEE-KG", "STORE-LYON-02"): [2.5 + (day % 7) / 4 for day in range(60)]})
    refused = _run(str(path), "--horizon", "7")
    assert refused.exit_code == 2
    assert "line 2, field 'qty': fractional quantity 2.5" in refused.output
    accepted = _run(str(path), "--horizon", "7", "--allow-fractional", "--json")
    assert accepted.exit_code == 0, accepted.output
    assert _strict_json(accepted.stdout)["series"] == 1


def test_quarterly_data_are_refused_without_a_traceback(tmp_path: Path) -> None:
    path = tmp_path / "quarterly.csv"
    rows = [f"OAT-MILK-1L,NET,{year}-{month:02d}-01,{year - 2000 + month}" for year in range(2018, 2024) for month in (1, 4, 7, 10)]
    path.write_text("sku,site,date,qty\n" + "\n".join(rows) + "\n")
    result = _run(str(path), "--horizon", "2")
    assert result.exit_code == 2
    assert "field 'date'" in result.output and "3 months apart" in result.output
    assert "Traceback" not in result.output
